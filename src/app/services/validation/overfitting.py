"""Two guards against a lucky backtest: the Deflated Sharpe Ratio and the Probability of Backtest Overfitting.

- Deflated Sharpe Ratio (Bailey & Lopez de Prado, 2014): the probability that the true Sharpe ratio is
  above the best one expected from ``N`` trials of worthless strategies, given the sample's length, skew and
  kurtosis. Sharpe ratios here are per period (not annualised). With one trial it is the Probabilistic Sharpe
  Ratio against zero. Without the trials' own Sharpe ratios, their variance is taken as the variance of a
  Sharpe estimate under the null, ``1 / (T - 1)``.
- PBO by combinatorially symmetric cross-validation (Bailey, Borwein, Lopez de Prado & Zhu, 2015): the bars
  are cut into S blocks; for every half of the blocks taken as in-sample, the configuration with the best
  in-sample Sharpe is ranked among all out-of-sample; PBO is the share of splits where it lands at or below
  the median (logit <= 0).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any, final

import attrs
import numpy as np
import numpy.typing as npt

__all__ = ["DeflatedSharpe", "Pbo", "deflated_sharpe", "probability_of_backtest_overfitting"]

FloatArray = npt.NDArray[np.float64]

_EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


@final
@attrs.frozen
class DeflatedSharpe:
    """``probability`` is the DSR; ``sharpe`` and ``benchmark`` (the expected best of the trials) are per
    period; ``observations`` the number of returns."""

    probability: float
    sharpe: float
    benchmark: float
    trials: int
    observations: int

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _per_period_sharpe(returns: FloatArray) -> float:
    if len(returns) < 2:
        return 0.0
    std = float(returns.std(ddof=1))
    return float(returns.mean()) / std if std > 0 else 0.0


def deflated_sharpe(
    returns: npt.ArrayLike, n_trials: int = 1, trial_sharpes: Sequence[float] | None = None
) -> DeflatedSharpe:
    """The Deflated Sharpe Ratio of per-period ``returns`` chosen as the best of ``n_trials`` candidates.

    ``trial_sharpes`` are the candidates' per-period Sharpe ratios, for their variance.
    """
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    t = len(r)
    sharpe = _per_period_sharpe(r)
    if t < 3:
        return DeflatedSharpe(0.0, sharpe, 0.0, n_trials, t)
    centred = r - r.mean()
    std = float(np.sqrt((centred**2).mean()))
    skew = float((centred**3).mean() / std**3) if std > 0 else 0.0
    kurtosis = float((centred**4).mean() / std**4) if std > 0 else 3.0
    if trial_sharpes is not None and len(trial_sharpes) >= 2:
        variance = float(np.var(np.asarray(trial_sharpes, dtype=np.float64), ddof=1))
    else:
        variance = 1.0 / (t - 1)
    benchmark = 0.0
    if n_trials > 1:
        expected_max = (1 - _EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / n_trials)
        expected_max += _EULER_GAMMA * _NORMAL.inv_cdf(1 - 1 / (n_trials * math.e))
        benchmark = math.sqrt(variance) * expected_max
    spread = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2
    z = (sharpe - benchmark) * math.sqrt(t - 1) / math.sqrt(max(spread, 1e-12))
    return DeflatedSharpe(_NORMAL.cdf(z), sharpe, benchmark, n_trials, t)


@final
@attrs.frozen
class Pbo:
    """``probability`` of overfitting; one logit per in-sample/out-of-sample split."""

    probability: float
    configurations: int
    blocks: int
    splits: int
    logits: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "logits": list(self.logits)}


def _sharpes(sums: FloatArray, squares: FloatArray, counts: FloatArray) -> FloatArray:
    """Per-period Sharpe ratios (ddof 1) from sums, sums of squares and counts (rows: splits)."""
    counts = counts[:, None]
    mean = sums / counts
    variance = (squares - counts * mean**2) / np.maximum(counts - 1, 1)
    std = np.sqrt(np.maximum(variance, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(std > 1e-15, mean / std, 0.0)
    return out


def probability_of_backtest_overfitting(returns: npt.ArrayLike, n_blocks: int = 16) -> Pbo:
    """PBO of the configurations whose per-period returns are the columns of ``returns`` (T x N).

    Raises:
        ValueError: fewer than two configurations, an odd or too small ``n_blocks``, or fewer rows than
            blocks.
    """
    matrix = np.nan_to_num(np.asarray(returns, dtype=np.float64), nan=0.0)
    if matrix.ndim != 2 or matrix.shape[1] < 2:
        msg = f"need a T x N matrix with N >= 2 configurations, got shape {matrix.shape}"
        raise ValueError(msg)
    if n_blocks < 2 or n_blocks % 2:
        msg = f"n_blocks must be even and at least 2, got {n_blocks}"
        raise ValueError(msg)
    if matrix.shape[0] < n_blocks:
        msg = f"{matrix.shape[0]} rows cannot make {n_blocks} blocks"
        raise ValueError(msg)
    blocks = np.array_split(matrix, n_blocks)
    sums = np.array([b.sum(axis=0) for b in blocks])
    squares = np.array([(b**2).sum(axis=0) for b in blocks])
    counts = np.array([len(b) for b in blocks], dtype=np.float64)
    inside = np.zeros((math.comb(n_blocks, n_blocks // 2), n_blocks))
    for row, chosen in enumerate(itertools.combinations(range(n_blocks), n_blocks // 2)):
        inside[row, list(chosen)] = 1.0
    outside = 1.0 - inside
    in_sample = _sharpes(inside @ sums, inside @ squares, inside @ counts)
    out_sample = _sharpes(outside @ sums, outside @ squares, outside @ counts)
    best = np.argmax(in_sample, axis=1)
    picked = out_sample[np.arange(len(best)), best][:, None]
    # Rank 1..N of the chosen configuration out of sample, ties shared.
    rank = (out_sample < picked).sum(axis=1) + 0.5 * ((out_sample == picked).sum(axis=1) - 1) + 1
    omega = rank / (matrix.shape[1] + 1)
    logits = np.log(omega / (1 - omega))
    probability = float(np.mean(logits <= 0))
    return Pbo(probability, matrix.shape[1], n_blocks, len(logits), tuple(float(x) for x in logits))
