"""Performance metrics on return series and trade P&L lists, for reports and the promotion gate.

Sharpe, Sortino, max drawdown, historical CVaR and Calmar follow quantstats' definitions (checked against it
in the tests): Sharpe is ``mean / std(ddof=1) x sqrt(periods_per_year)``; Sortino divides the mean by the
downside deviation ``sqrt(sum(r[r < 0]^2) / n)``; max drawdown is the lowest ``equity / running peak - 1``.
NaNs are skipped, as quantstats does.

Undefined values: a ratio with nothing to measure (fewer than two returns, a zero deviation, no downside,
an empty list) is 0.0, never nan or inf, so reports stay valid JSON and a gate reading it fails safe. The
exceptions are deliberate: ``profit_factor`` with wins and no losses, and ``calmar`` with growth and no
drawdown, are ``inf`` (the textbook value; a gate on a minimum passes them, as it should).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "cagr",
    "calmar",
    "cvar",
    "expectancy",
    "max_drawdown",
    "profit_factor",
    "sharpe",
    "sortino",
    "win_rate",
]

Series = Sequence[float] | npt.NDArray[np.float64]
"""Returns (fractions per period), an equity curve, or per-trade P&L, as floats."""

# A deviation this small next to the mean is rounding noise on a constant series, not risk.
_REL_EPS = 1e-12


def _clean(values: Series) -> npt.NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[np.isfinite(array)]


def _ratio(mean: float, deviation: float, periods_per_year: float) -> float:
    if not deviation > _REL_EPS * max(abs(mean), 1e-300):
        return 0.0
    return mean / deviation * math.sqrt(periods_per_year)


def sharpe(returns: Series, periods_per_year: float) -> float:
    """Annualised Sharpe ratio (risk-free rate 0): ``mean / std(ddof=1) x sqrt(periods_per_year)``."""
    r = _clean(returns)
    if len(r) < 2:
        return 0.0
    return _ratio(float(r.mean()), float(r.std(ddof=1)), periods_per_year)


def sortino(returns: Series, periods_per_year: float) -> float:
    """Annualised Sortino ratio: the mean over ``sqrt(sum of squared negative returns / n)``."""
    r = _clean(returns)
    if len(r) < 2:
        return 0.0
    downside = float(np.sqrt((r[r < 0] ** 2).sum() / len(r)))
    return _ratio(float(r.mean()), downside, periods_per_year)


def max_drawdown(equity: Series) -> float:
    """The deepest fall from a running peak of an equity curve, as a negative fraction (-0.25 = 25%).

    The curve's first point is its starting peak. Points while the peak is not positive are skipped.
    """
    e = _clean(equity)
    if len(e) == 0:
        return 0.0
    peaks = np.maximum.accumulate(e)
    valid = peaks > 0
    if not valid.any():
        return 0.0
    return float(min((e[valid] / peaks[valid]).min() - 1.0, 0.0))


def _equity_from_returns(r: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Compounded equity starting at 1 before the first return (quantstats' baseline)."""
    return np.concatenate(([1.0], np.cumprod(1.0 + r)))


def cagr(returns: Series, periods_per_year: float) -> float:
    """Compound annual growth rate over ``len(returns) / periods_per_year`` years (-1.0 when wiped out)."""
    r = _clean(returns)
    if len(r) == 0:
        return 0.0
    wealth = float(np.prod(1.0 + r))
    if wealth <= 0:
        return -1.0
    return float(wealth ** (periods_per_year / len(r)) - 1.0)


def calmar(returns: Series, periods_per_year: float) -> float:
    """CAGR over the absolute max drawdown of the compounded returns (inf with growth and no drawdown)."""
    r = _clean(returns)
    if len(r) == 0:
        return 0.0
    growth = cagr(r, periods_per_year)
    dd = max_drawdown(_equity_from_returns(r))
    if dd == 0.0:
        return math.inf if growth > 0 else 0.0
    return growth / abs(dd)


def cvar(returns: Series, level: float = 0.95) -> float:
    """Historical CVaR: the mean of the returns at or below the ``1 - level`` quantile (losses negative)."""
    if not 0.0 < level < 1.0:
        msg = f"level must be in (0, 1), got {level}"
        raise ValueError(msg)
    r = _clean(returns)
    if len(r) == 0:
        return 0.0
    return float(r[r <= np.quantile(r, 1.0 - level)].mean())


def profit_factor(pnls: Series) -> float:
    """Gross profit over gross loss; inf with profits and no loss, 0.0 with neither."""
    p = _clean(pnls)
    gains, losses = float(p[p > 0].sum()), float(-p[p < 0].sum())
    if losses == 0.0:
        return math.inf if gains > 0 else 0.0
    return gains / losses


def win_rate(pnls: Series) -> float:
    """The share of trades with a positive P&L (break-even trades count as not won); 0.0 without trades."""
    p = _clean(pnls)
    return float((p > 0).mean()) if len(p) else 0.0


def expectancy(pnls: Series) -> float:
    """The average P&L per trade (win rate x average win - loss rate x average loss); 0.0 without trades."""
    p = _clean(pnls)
    return float(p.mean()) if len(p) else 0.0
