"""One validation run, as ``app backtest`` performs it: backtest, then on request walk-forward, stress tests,
the overfitting guards and the promotion gate, gathered into one JSON-ready report.

The overfitting guards compare the spec with its neighbours: the param shocks the stress tests use (each
numeric param +/- the configured shock). They are the configurations of the PBO matrix and, unless told
how many candidates the search behind the spec tried, the trials the Deflated Sharpe Ratio counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, final

import attrs
import numpy as np

from app.learning.strategies import StrategySpec
from app.services.config_schema import ValidationConfig
from app.services.validation import stress_tests, walkforward
from app.services.validation.backtester import BacktestOptions, BacktestResult
from app.services.validation.backtester import run as backtest
from app.services.validation.bars import BarData
from app.services.validation.overfitting import deflated_sharpe, probability_of_backtest_overfitting
from app.services.validation.performance import monthly_returns
from app.services.validation.promotion_gate import GateDecision, decide
from app.services.validation.variants import param_shocks

__all__ = ["ValidationRun", "validate"]

Progress = Callable[[int, int], None]
Stage = Callable[[str], None]

_CURVE_POINTS = 4000
_PBO_BLOCKS = 16


@final
@attrs.frozen(eq=False)
class ValidationRun:
    spec: StrategySpec
    data: BarData
    backtest: BacktestResult
    walkforward: walkforward.WalkForwardResult | None = None
    stress: stress_tests.StressResult | None = None
    overfitting: dict[str, Any] | None = None
    gate: GateDecision | None = None
    warnings: tuple[str, ...] = ()

    def gate_metrics(self) -> dict[str, float | None]:
        """The figures the promotion gate reads; None where not measured."""
        values: dict[str, float | None] = dict(self.backtest.metrics)
        values["profitable_fold_share"] = (
            self.walkforward.aggregate["profitable_fold_share"] if self.walkforward else None
        )
        values["stress_p5_max_drawdown"] = self.stress.p5_max_drawdown if self.stress else None
        over = self.overfitting or {}
        values["pbo"] = over["pbo"]["probability"] if over.get("pbo") else None
        values["deflated_sharpe"] = (
            over["deflated_sharpe"]["probability"] if over.get("deflated_sharpe") else None
        )
        return values

    def report(self) -> dict[str, Any]:
        """Everything, JSON-ready (non-finite numbers become null)."""
        result = self.backtest
        step = max(1, math.ceil(len(result.equity) / _CURVE_POINTS))
        picks = np.unique(np.r_[np.arange(0, len(result.equity), step), len(result.equity) - 1])
        spec = self.spec
        body = {
            "strategy_id": spec.id,
            "spec": {
                "asset": spec.asset.value,
                "symbol": spec.symbol,
                "timeframe": spec.timeframe,
                "params": dict(spec.params),
                "description": spec.description,
            },
            "data": {
                "symbol": self.data.symbol,
                "timeframe": self.data.timeframe,
                "bars": len(self.data),
                "first": self.data.time(0).isoformat(),
                "last": self.data.time(len(self.data) - 1).isoformat(),
            },
            "cash": result.cash,
            "metrics": result.metrics,
            "trades": result.trade_rows(),
            "equity_curve": {
                "ts": [self.data.time(int(i)).isoformat() for i in picks],
                "equity": result.equity[picks].tolist(),
            },
            "monthly_returns": [
                {"year": y, "month": mo, "return": r}
                for y, mo, r in monthly_returns(result.ts, result.equity, result.cash)
            ],
            "walkforward": self.walkforward.as_dict() if self.walkforward else None,
            "stress": self.stress.as_dict() if self.stress else None,
            "overfitting": self.overfitting,
            "gate": self.gate.as_dict() if self.gate else None,
            "warnings": list(self.warnings),
        }
        cleaned: dict[str, Any] = _finite(body)
        return cleaned


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def overfitting_checks(
    spec: StrategySpec,
    data: BarData,
    result: BacktestResult,
    config: ValidationConfig,
    options: BacktestOptions,
    trials: int | None,
) -> dict[str, Any]:
    """DSR of the spec's returns and PBO across the spec and its param shocks (None when not measurable)."""
    variants = [v for _, v in param_shocks(spec, config.stress.param_shock_pct) if not isinstance(v, str)]
    runs = [result, *(backtest(v, data, options) for v in variants)]
    matrix = np.column_stack([r.returns() for r in runs])
    finite = np.nan_to_num(matrix, nan=0.0)
    sharpes = [float(col.mean() / col.std(ddof=1)) if col.std(ddof=1) > 0 else 0.0 for col in finite.T]
    count = trials if trials is not None else len(runs)
    dsr = deflated_sharpe(result.returns(), count, sharpes if len(runs) > 1 else None)
    pbo = None
    if len(runs) >= 2 and len(matrix) >= _PBO_BLOCKS:
        pbo = probability_of_backtest_overfitting(matrix, _PBO_BLOCKS).as_dict()
    return {"configurations": len(runs), "deflated_sharpe": dsr.as_dict(), "pbo": pbo}


def validate(
    spec: StrategySpec,
    data: BarData,
    *,
    config: ValidationConfig | None = None,
    options: BacktestOptions | None = None,
    run_walkforward: bool = False,
    run_stress: bool = False,
    run_gate: bool = False,
    trials: int | None = None,
    seed: int = 0,
    warnings: tuple[str, ...] = (),
    progress: Progress | None = None,
    stage: Stage | None = None,
) -> ValidationRun:
    """Backtest ``spec`` on ``data`` and run what was asked; the gate runs walk-forward, stress tests and
    the overfitting guards it needs. ``stage(name)`` announces each step after the backtest."""
    config = config or ValidationConfig()
    options = options or BacktestOptions()
    research = attrs.evolve(options, engine="fast")
    announce = stage or (lambda _: None)
    result = backtest(spec, data, options, progress)
    run = ValidationRun(spec, data, result, warnings=warnings)
    if run_walkforward or run_gate:
        announce(f"walk-forward: {config.walkforward.n_splits} purged folds")
        folds = walkforward.run(
            spec,
            data,
            n_splits=config.walkforward.n_splits,
            embargo_pct=config.walkforward.embargo_pct,
            options=research,
        )
        run = attrs.evolve(run, walkforward=folds)
    if run_stress or run_gate:
        announce(f"stress tests: {config.stress.n_sims} Monte Carlo runs, shocks")
        stressed = stress_tests.stress(
            spec,
            data,
            result,
            n_sims=config.stress.n_sims,
            shock_pct=config.stress.param_shock_pct,
            seed=seed,
            options=research,
        )
        run = attrs.evolve(run, stress=stressed)
    if run_gate:
        announce("overfitting guards and promotion gate")
        run = attrs.evolve(run, overfitting=overfitting_checks(spec, data, result, config, research, trials))
        run = attrs.evolve(run, gate=decide(run.gate_metrics(), config))
    return run
