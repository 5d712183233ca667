"""walkforward: purged k-fold with embargo (Lopez de Prado), rolling and anchored windows, fold metrics.

Each test fold is backtested on its own bars (the bars before it warm the indicators up, nothing trades
there) with what is open at its end closed at its last close, so folds are independent out-of-sample runs.
In-sample figures come from the returns of one full-data run at the training positions. Given several
candidate specs, each fold picks the one with the best in-sample Sharpe and reports its out-of-sample run:
walk-forward selection, the test of a search. For the purged scheme a bar's sample spans from the bar to
the average holding period after it (its label horizon), so training bars whose trades reach into a test
fold are purged, and the embargo drops those starting just after it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any, Literal, final

import attrs
import numpy as np
import numpy.typing as npt

from app.domain import metrics as m
from app.learning.strategies import StrategySpec, warmup_bars
from app.services.validation.backtester import BacktestOptions, BacktestResult, simulate
from app.services.validation.backtester import run as backtest
from app.services.validation.bars import BarData, periods_per_year
from app.services.validation.performance import bar_returns, summarize

__all__ = ["FoldResult", "Scheme", "WalkForwardResult", "purged_kfold", "run", "walk_forward_windows"]

IntArray = npt.NDArray[np.int64]
Scheme = Literal["purged", "rolling", "anchored"]


def purged_kfold(
    event_starts: npt.ArrayLike, event_ends: npt.ArrayLike, n_splits: int, embargo: Any
) -> Iterator[tuple[IntArray, IntArray]]:
    """Yield ``(train_idx, test_idx)`` integer positions for each of ``n_splits`` contiguous test folds.

    Test folds split the samples in order and together cover each exactly once. A training sample is
    purged when its ``[start, end]`` interval overlaps any test sample's, and dropped (embargo) when it
    starts within ``embargo`` after the fold's last end. Times may be numbers or datetime64 (then
    ``embargo`` is a timedelta64 or a ``datetime.timedelta``).

    Raises:
        ValueError: lengths differ, an end precedes its start, n_splits is not in [2, samples], or the
            embargo is negative.
    """
    starts, ends = np.asarray(event_starts), np.asarray(event_ends)
    if starts.shape != ends.shape or starts.ndim != 1:
        msg = f"event_starts and event_ends must be 1-d of one length, got {starts.shape} and {ends.shape}"
        raise ValueError(msg)
    if not 2 <= n_splits <= len(starts):
        msg = f"n_splits must be between 2 and the number of samples ({len(starts)}), got {n_splits}"
        raise ValueError(msg)
    if bool((ends < starts).any()):
        msg = "every event must end at or after its start"
        raise ValueError(msg)
    if isinstance(embargo, timedelta):
        embargo = np.timedelta64(embargo)
    if embargo < embargo * 0:
        msg = f"embargo must not be negative, got {embargo}"
        raise ValueError(msg)
    for block in np.array_split(np.arange(len(starts), dtype=np.int64), n_splits):
        test_starts, test_ends = starts[block], ends[block]
        order = np.argsort(test_starts, kind="stable")
        sorted_starts = test_starts[order]
        reach = np.maximum.accumulate(test_ends[order])  # latest end among tests starting up to here
        count = np.searchsorted(sorted_starts, ends, side="right")  # tests starting by each sample's end
        overlaps = (count > 0) & (reach[np.maximum(count - 1, 0)] >= starts)
        fold_end = test_ends.max()
        embargoed = (starts > fold_end) & (starts <= fold_end + embargo)
        train = ~(overlaps | embargoed)
        train[block] = False
        yield np.flatnonzero(train).astype(np.int64), block


def walk_forward_windows(n_bars: int, n_splits: int, *, anchored: bool = False) -> list[tuple[range, range]]:
    """``(train, test)`` bar ranges: the bars cut into ``n_splits + 1`` chunks, each test a later chunk,
    its training the chunk before it (rolling) or every chunk before it (anchored)."""
    if not 1 <= n_splits < n_bars:
        msg = f"n_splits must be between 1 and {n_bars - 1}, got {n_splits}"
        raise ValueError(msg)
    bounds = np.linspace(0, n_bars, n_splits + 2).astype(int).tolist()
    return [
        (range(bounds[0] if anchored else bounds[k - 1], bounds[k]), range(bounds[k], bounds[k + 1]))
        for k in range(1, n_splits + 1)
    ]


@final
@attrs.frozen
class FoldResult:
    """One test fold: its bars and times, how many bars trained, the spec it ran, in-sample Sharpe, and
    the out-of-sample metrics."""

    index: int
    test_start: int
    test_end: int
    start_time: str
    end_time: str
    train_bars: int
    spec_id: str
    params: dict[str, float]
    in_sample_sharpe: float
    metrics: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@final
@attrs.frozen
class WalkForwardResult:
    scheme: str
    folds: tuple[FoldResult, ...]
    aggregate: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "folds": [f.as_dict() for f in self.folds],
            "aggregate": self.aggregate,
        }


def _splits(
    scheme: Scheme, n: int, n_splits: int, horizon: int, embargo: int
) -> list[tuple[IntArray, IntArray]]:
    if scheme == "purged":
        bars = np.arange(n, dtype=np.int64)
        return list(purged_kfold(bars, bars + horizon, n_splits, embargo))
    windows = walk_forward_windows(n, n_splits, anchored=scheme == "anchored")
    return [(np.arange(t.start, t.stop), np.arange(s.start, s.stop)) for t, s in windows]


def _fold(
    spec: StrategySpec, data: BarData, test: IntArray, options: BacktestOptions
) -> tuple[dict[str, float], npt.NDArray[np.float64]]:
    start, stop = int(test[0]), int(test[-1]) + 1
    offset = min(start, warmup_bars(spec) + 1)
    window = data.window(start - offset, stop)
    sim = simulate(spec, window, attrs.evolve(options, trade_start=offset))
    equity = sim.equity[offset:]
    metrics = summarize(
        [t for t in sim.trades if t.entry_bar >= offset],
        equity,
        options.cash,
        _yearly(spec),
        bars_in_market=sim.bars_in_market,
        skipped_entries=sim.skipped_entries,
    )
    return metrics, bar_returns(equity, options.cash)


def _yearly(spec: StrategySpec) -> float:
    return periods_per_year(spec.asset, spec.timeframe)


def run(
    spec: StrategySpec,
    data: BarData,
    *,
    scheme: Scheme = "purged",
    n_splits: int = 5,
    embargo_pct: float = 0.01,
    options: BacktestOptions | None = None,
    candidates: Sequence[StrategySpec] = (),
) -> WalkForwardResult:
    """Out-of-sample metrics per fold and their aggregate (profitable_fold_share, oos_sharpe, ...).

    ``candidates`` (with ``spec`` among them or not) turns on per-fold selection by in-sample Sharpe.
    """
    options = options or BacktestOptions(engine="fast")
    pool = [spec, *[c for c in candidates if c is not spec]]
    full: list[BacktestResult] = [backtest(c, data, options) for c in pool]
    horizon = max(1, round(full[0].metrics["avg_bars_held"]))
    embargo = int(np.ceil(embargo_pct * len(data)))
    folds, oos_returns = [], []
    for index, (train, test) in enumerate(_splits(scheme, len(data), n_splits, horizon, embargo)):
        in_sample = [m.sharpe(result.returns()[train], result.periods_per_year) for result in full]
        best = int(np.argmax(in_sample)) if len(train) else 0
        chosen = pool[best]
        metrics, returns = _fold(chosen, data, test, options)
        oos_returns.append(returns)
        folds.append(
            FoldResult(
                index=index,
                test_start=int(test[0]),
                test_end=int(test[-1]),
                start_time=data.time(int(test[0])).isoformat(),
                end_time=data.time(int(test[-1])).isoformat(),
                train_bars=len(train),
                spec_id=chosen.id,
                params=dict(chosen.params),
                in_sample_sharpe=in_sample[best],
                metrics=metrics,
            )
        )
    return WalkForwardResult(scheme, tuple(folds), _aggregate(folds, oos_returns, full[0].periods_per_year))


def _aggregate(folds: list[FoldResult], returns: list[Any], yearly: float) -> dict[str, float]:
    sharpes = np.array([f.metrics["sharpe"] for f in folds])
    profits = np.array([f.metrics["net_profit"] for f in folds])
    joined = np.concatenate(returns) if returns else np.zeros(0)
    return {
        "folds": float(len(folds)),
        "profitable_fold_share": float((profits > 0).mean()) if len(folds) else 0.0,
        "mean_sharpe": float(sharpes.mean()) if len(folds) else 0.0,
        "median_sharpe": float(np.median(sharpes)) if len(folds) else 0.0,
        "mean_in_sample_sharpe": float(np.mean([f.in_sample_sharpe for f in folds])) if folds else 0.0,
        "oos_sharpe": m.sharpe(joined, yearly),
        "oos_net_profit": float(profits.sum()),
        "oos_trades": float(sum(f.metrics["trades"] for f in folds)),
        "worst_fold_drawdown": float(min((f.metrics["max_drawdown"] for f in folds), default=0.0)),
    }
