"""promotion_gate: the backtest criteria a strategy must meet before online (paper) validation starts.

Thresholds come from the configuration's ``validation`` section. Every criterion is checked (none stops the
others), and each failing one becomes a reason naming the measured value and the threshold. A criterion
whose metric was not measured fails: promotion never rests on a figure nobody computed. Drawdowns and CVaR
arrive as negative fractions (as the metrics compute them) and are compared by size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, final

import attrs

from app.services.config_schema import ValidationConfig

__all__ = ["CRITERIA", "Check", "GateDecision", "decide"]

# (metric key, label, config field, kind, where it comes from). "min": measured >= threshold; "max": the
# size of the measured value <= threshold.
CRITERIA: tuple[tuple[str, str, str, str, str], ...] = (
    ("profit_factor", "profit factor", "min_profit_factor", "min", "the backtest"),
    ("sharpe", "Sharpe ratio", "min_sharpe", "min", "the backtest"),
    ("max_drawdown", "max drawdown", "max_drawdown", "max", "the backtest"),
    ("cvar_95", "CVaR 95% loss", "max_cvar_95", "max", "the backtest"),
    ("trades", "trades", "min_backtest_trades", "min", "the backtest"),
    (
        "profitable_fold_share",
        "profitable walk-forward folds",
        "min_profitable_fold_share",
        "min",
        "--walkforward",
    ),
    ("stress_p5_max_drawdown", "5th-percentile stress drawdown", "stress_p5_max_drawdown", "max", "--stress"),
    ("pbo", "probability of backtest overfitting", "max_pbo", "max", "two or more configurations"),
    ("deflated_sharpe", "deflated Sharpe ratio", "min_deflated_sharpe", "min", "the backtest"),
)


@final
@attrs.frozen
class Check:
    """One criterion: the measured value (None when not measured), its threshold and the outcome."""

    metric: str
    measured: float | None
    threshold: float
    kind: str
    passed: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@final
@attrs.frozen
class GateDecision:
    """``passed`` only when every check passed; ``reasons`` name each failure with value and threshold."""

    passed: bool
    reasons: tuple[str, ...]
    checks: tuple[Check, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reasons": list(self.reasons),
            "checks": [c.as_dict() for c in self.checks],
        }


def _format(value: float, metric: str) -> str:
    if metric == "trades":
        return f"{value:.0f}"
    if metric in ("max_drawdown", "cvar_95", "stress_p5_max_drawdown", "profitable_fold_share"):
        return f"{value:.2%}"
    return f"{value:.3f}"


def _check(
    metric: str, label: str, field: str, kind: str, origin: str, value: object, threshold: float
) -> Check:
    if value is None:
        reason = f"{label} was not measured (needs {origin}); {field} is {_format(threshold, metric)}"
        return Check(metric, None, threshold, kind, False, reason)
    measured = float(value)  # type: ignore[arg-type]  # metrics are numbers; a bad type fails loudly here
    if math.isnan(measured):
        reason = f"{label} is undefined (NaN); {field} is {_format(threshold, metric)}"
        return Check(metric, measured, threshold, kind, False, reason)
    size = abs(measured) if kind == "max" else measured
    passed = size >= threshold if kind == "min" else size <= threshold
    relation = "below the minimum" if kind == "min" else "above the maximum"
    reason = (
        ""
        if passed
        else (f"{label} {_format(size, metric)} is {relation} {_format(threshold, metric)} ({field})")
    )
    return Check(metric, measured, threshold, kind, passed, reason)


def decide(metrics: Mapping[str, float | None], config: ValidationConfig | None = None) -> GateDecision:
    """Check ``metrics`` (keys as in ``CRITERIA``) against the thresholds of ``config`` (defaults if None)."""
    config = config or ValidationConfig()
    checks = tuple(
        _check(metric, label, field, kind, origin, metrics.get(metric), float(getattr(config, field)))
        for metric, label, field, kind, origin in CRITERIA
    )
    reasons = tuple(c.reason for c in checks if not c.passed)
    return GateDecision(not reasons, reasons, checks)
