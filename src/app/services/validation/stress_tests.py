"""stress_tests: how fragile a backtest is. Seeded, so a report is reproducible.

- Monte Carlo on the trades: each trade's return on the equity it started from, replayed in shuffled order
  (same final equity, other drawdowns) and bootstrapped with replacement (other finals too); percentiles
  of final equity and max drawdown. Drawdowns here are trade to trade, so they understate intrabar ones.
- Parameter shocks: each numeric param +/- N% (whole numbers stay whole and move at least one).
- Cost shocks: extra slippage, doubled fees; latency shocks: fills one and two bars later.
- Regimes: every bar labelled from the data up to it: ``high_vol`` (realised volatility in its top fifth),
  else ``trend`` (Kaufman's efficiency ratio at or above the median of the other bars) or ``range``;
  ``warmup`` before the window fills. The backtest's returns and trades are split by regime.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, final

import attrs
import numpy as np
import numpy.typing as npt

from app.domain import metrics as m
from app.learning.features import indicators
from app.learning.strategies import StrategySpec
from app.services.validation.backtester import BacktestOptions, BacktestResult
from app.services.validation.backtester import run as backtest
from app.services.validation.bars import BarData
from app.services.validation.records import Trade
from app.services.validation.variants import param_shocks, respec

__all__ = ["StressResult", "monte_carlo", "regime_labels", "stress", "trade_returns"]

FloatArray = npt.NDArray[np.float64]

PERCENTILES = (5, 25, 50, 75, 95)
_SHOWN = ("trades", "net_profit", "sharpe", "max_drawdown", "profit_factor", "final_equity")
_CHUNK = 256
_BINS = 20


@final
@attrs.frozen
class StressResult:
    """Every stress test's figures, JSON-ready; ``p5_max_drawdown`` is the worse 5th percentile of the
    two Monte Carlo drawdown distributions (what the promotion gate reads)."""

    monte_carlo: dict[str, Any]
    bootstrap: dict[str, Any]
    param_shocks: list[dict[str, Any]]
    cost_shocks: list[dict[str, Any]]
    latency_shocks: list[dict[str, Any]]
    regimes: list[dict[str, Any]]
    p5_max_drawdown: float

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def trade_returns(trades: Sequence[Trade], cash: float) -> FloatArray:
    """Each trade's P&L over the equity before it (trades run one at a time, so that equity is the cash
    plus every earlier P&L)."""
    pnls = np.array([t.pnl for t in trades], dtype=np.float64)
    before = cash + np.concatenate(([0.0], np.cumsum(pnls)[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(before > 0, pnls / before, -1.0)
    return out


def _histogram(values: FloatArray) -> dict[str, list[float]]:
    lo, hi = float(values.min()), float(values.max())
    if hi - lo <= 1e-9 * max(abs(lo), 1.0):  # one value (a reshuffle's final equity): a bin around it
        lo, hi = lo - 1e-6 * max(abs(lo), 1.0), hi + 1e-6 * max(abs(hi), 1.0)
    counts, edges = np.histogram(values, bins=_BINS, range=(lo, hi))
    return {"counts": counts.astype(float).tolist(), "edges": edges.tolist()}


def monte_carlo(
    returns: FloatArray, cash: float, *, n_sims: int, seed: int, bootstrap: bool
) -> dict[str, Any]:
    """Percentiles (5, 25, 50, 75, 95) and histograms of final equity and max drawdown over ``n_sims``
    orderings of the trade ``returns``: permutations, or draws with replacement when ``bootstrap``."""
    rng = np.random.default_rng(seed)
    finals, drawdowns = np.empty(n_sims), np.empty(n_sims)
    for lo in range(0, n_sims, _CHUNK):
        size = min(_CHUNK, n_sims - lo)
        if len(returns) == 0:
            finals[lo : lo + size], drawdowns[lo : lo + size] = cash, 0.0
            continue
        if bootstrap:
            picks = rng.integers(0, len(returns), size=(size, len(returns)))
        else:
            picks = np.argsort(rng.random((size, len(returns))), axis=1)
        paths = cash * np.cumprod(1.0 + returns[picks], axis=1)
        peaks = np.maximum(np.maximum.accumulate(paths, axis=1), cash)
        finals[lo : lo + size] = paths[:, -1]
        drawdowns[lo : lo + size] = np.minimum((paths / peaks - 1.0).min(axis=1), 0.0)
    return {
        "method": "bootstrap" if bootstrap else "reshuffle",
        "n_sims": n_sims,
        "seed": seed,
        "final_equity": {f"p{q}": float(np.percentile(finals, q)) for q in PERCENTILES},
        "max_drawdown": {f"p{q}": float(np.percentile(drawdowns, q)) for q in PERCENTILES},
        "final_equity_histogram": _histogram(finals),
        "max_drawdown_histogram": _histogram(drawdowns),
    }


def regime_labels(data: BarData, window: int = 50) -> npt.NDArray[np.str_]:
    """``high_vol``, ``trend``, ``range`` or ``warmup`` per bar (see the module docstring)."""
    close = data.close
    vol = indicators.volatility(close, window)
    path = np.abs(np.diff(close, prepend=close[0]))
    travelled = np.full(len(close), np.nan)
    if len(close) > window:
        cumulative = np.cumsum(path)
        travelled[window:] = cumulative[window:] - cumulative[:-window]
    with np.errstate(divide="ignore", invalid="ignore"):
        efficiency = np.abs(close - indicators.shift(close, window)) / travelled
    efficiency = np.where(travelled == 0, 0.0, efficiency)
    known = ~np.isnan(vol) & ~np.isnan(efficiency)
    labels = np.full(len(close), "warmup", dtype="<U8")
    if not known.any():
        return labels
    high = known & (vol >= np.percentile(vol[known], 80))
    calm = known & ~high
    cut = np.median(efficiency[calm]) if calm.any() else 0.0
    labels[high] = "high_vol"
    labels[calm & (efficiency >= cut)] = "trend"
    labels[calm & (efficiency < cut)] = "range"
    return labels


def _regimes(result: BacktestResult, data: BarData) -> list[dict[str, Any]]:
    labels = regime_labels(data)
    returns = result.returns()
    rows = []
    for name in ("trend", "range", "high_vol", "warmup"):
        bars = labels == name
        picked = [t for t in result.trades if labels[t.entry_bar] == name]
        pnls = np.array([t.pnl for t in picked], dtype=np.float64)
        part = returns[bars]
        rows.append(
            {
                "regime": name,
                "bars": int(bars.sum()),
                "share": float(bars.mean()) if len(bars) else 0.0,
                "return": float(np.prod(1.0 + part[np.isfinite(part)]) - 1.0),
                "sharpe": m.sharpe(part, result.periods_per_year),
                "trades": len(picked),
                "pnl": float(pnls.sum()),
                "win_rate": m.win_rate(pnls),
            }
        )
    return rows


def _shock_row(
    label: str, variant: StrategySpec | str, data: BarData, options: BacktestOptions
) -> dict[str, Any]:
    if isinstance(variant, str):
        return {"shock": label, "error": variant}
    metrics = backtest(variant, data, options).metrics
    return {"shock": label, **{key: metrics[key] for key in _SHOWN}}


def stress(
    spec: StrategySpec,
    data: BarData,
    result: BacktestResult,
    *,
    n_sims: int = 1000,
    shock_pct: float = 0.1,
    seed: int = 0,
    options: BacktestOptions | None = None,
    slippage_bps: Sequence[float] = (5.0, 10.0, 25.0),
    latency_bars: Sequence[int] = (1, 2),
) -> StressResult:
    """Every stress test of ``spec`` around its backtest ``result`` on ``data``."""
    options = options or BacktestOptions(engine="fast", cash=result.cash)
    returns = trade_returns(result.trades, result.cash)
    shuffled = monte_carlo(returns, result.cash, n_sims=n_sims, seed=seed, bootstrap=False)
    sampled = monte_carlo(returns, result.cash, n_sims=n_sims, seed=seed + 1, bootstrap=True)
    params = [_shock_row(label, variant, data, options) for label, variant in param_shocks(spec, shock_pct)]
    costs = spec.costs
    cost_variants: list[tuple[str, dict[str, float]]] = [
        (f"slippage +{extra:g} bps", {"slippage_bps": costs.slippage_bps + extra}) for extra in slippage_bps
    ]
    cost_variants.append(("fees x2", {"fee_rate": min(costs.fee_rate * 2, 0.5)}))
    cost_rows = [
        _shock_row(label, respec(spec, costs=change), data, options) for label, change in cost_variants
    ]
    latency_rows = [
        _shock_row(
            f"latency +{extra} bar(s)",
            respec(spec, execution={"latency_bars": spec.execution.latency_bars + extra}),
            data,
            options,
        )
        for extra in latency_bars
    ]
    p5 = min(shuffled["max_drawdown"]["p5"], sampled["max_drawdown"]["p5"])
    return StressResult(shuffled, sampled, params, cost_rows, latency_rows, _regimes(result, data), p5)
