"""Backtest metrics from an equity curve and a trade list (the domain's quantstats-compatible formulas).

Returns are per bar, marked to market at each close, the first one against the starting cash; flat bars
count as zero returns. Drawdowns and CVaR are negative fractions (-0.12 = 12% down), as in
``app.domain.metrics``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from app.domain import metrics as m
from app.services.validation.records import Trade

__all__ = ["METRIC_KEYS", "bar_returns", "monthly_returns", "summarize"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

METRIC_KEYS = (
    "trades",
    "net_profit",
    "profit_factor",
    "sharpe",
    "sortino",
    "max_drawdown",
    "cvar_95",
    "win_rate",
    "exposure",
    "final_equity",
)
"""The metrics every backtest report carries (more follow them)."""


def bar_returns(equity: FloatArray, cash: float) -> FloatArray:
    """Per-bar returns of ``equity`` (after each close), the first against ``cash``; NaN after a wipe-out."""
    curve = np.concatenate(([cash], equity))
    previous = curve[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(previous > 0, curve[1:] / previous - 1.0, np.nan)
    return out


def summarize(
    trades: Sequence[Trade],
    equity: FloatArray,
    cash: float,
    periods_per_year: float,
    *,
    bars_in_market: int,
    skipped_entries: int = 0,
) -> dict[str, float]:
    """The report's metrics (``METRIC_KEYS`` first, then total_return, expectancy, cagr, calmar, fees,
    funding, avg_bars_held, skipped_entries, bars, periods_per_year)."""
    returns = bar_returns(equity, cash)
    pnls = np.array([t.pnl for t in trades], dtype=np.float64)
    final = float(equity[-1]) if len(equity) else cash
    held = [t.exit_bar - t.entry_bar for t in trades]
    return {
        "trades": float(len(trades)),
        "net_profit": final - cash,
        "profit_factor": m.profit_factor(pnls),
        "sharpe": m.sharpe(returns, periods_per_year),
        "sortino": m.sortino(returns, periods_per_year),
        "max_drawdown": m.max_drawdown(np.concatenate(([cash], equity))),
        "cvar_95": m.cvar(returns, 0.95),
        "win_rate": m.win_rate(pnls),
        "exposure": bars_in_market / len(equity) if len(equity) else 0.0,
        "final_equity": final,
        "total_return": final / cash - 1.0,
        "expectancy": m.expectancy(pnls),
        "cagr": m.cagr(returns, periods_per_year),
        "calmar": m.calmar(returns, periods_per_year),
        "fees": float(sum(t.fees for t in trades)),
        "funding": float(sum(t.funding for t in trades)),
        "avg_bars_held": float(np.mean(held)) if held else 0.0,
        "skipped_entries": float(skipped_entries),
        "bars": float(len(equity)),
        "periods_per_year": periods_per_year,
    }


def monthly_returns(ts: IntArray, equity: FloatArray, cash: float) -> list[tuple[int, int, float]]:
    """(year, month, return) for each calendar month (UTC) the bars touch, compounding to the total."""
    if len(ts) == 0:
        return []
    index = pd.DatetimeIndex(pd.to_datetime(ts, utc=True))
    closes = pd.Series(equity, index=index).groupby([index.year, index.month]).last()
    previous = np.concatenate(([cash], closes.to_numpy()[:-1]))
    rows = []
    for (year, month), end, start in zip(closes.index, closes.to_numpy(), previous, strict=True):
        rows.append((int(year), int(month), float(end / start - 1.0) if start > 0 else 0.0))
    return rows
