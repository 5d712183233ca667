"""Purged k-fold with embargo (properties), walk-forward windows, and fold metrics on real bars."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.metrics import sharpe
from app.services.validation import BacktestOptions, run, walkforward
from app.services.validation.walkforward import purged_kfold, walk_forward_windows
from tests.services.validation.conftest import example_spec


@st.composite
def events(draw):
    """Sorted starts (ties allowed) with label horizons of 0 to 20 time units, a fold count and an embargo."""
    n = draw(st.integers(2, 80))
    gaps = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    starts = np.cumsum(gaps)
    ends = starts + np.asarray(draw(st.lists(st.integers(0, 20), min_size=n, max_size=n)))
    return starts, ends, draw(st.integers(2, n)), draw(st.integers(0, 15))


@given(events())
def test_test_folds_are_contiguous_disjoint_and_cover_every_sample(case):
    starts, ends, n_splits, embargo = case

    tests = [test for _, test in purged_kfold(starts, ends, n_splits, embargo)]

    assert len(tests) == n_splits
    for test in tests:
        assert test.dtype.kind == "i"
        assert (np.diff(test) == 1).all()
    assert np.array_equal(np.concatenate(tests), np.arange(len(starts)))


@given(events())
def test_no_training_sample_overlaps_a_test_sample(case):
    starts, ends, n_splits, embargo = case

    for train, test in purged_kfold(starts, ends, n_splits, embargo):
        assert not set(train) & set(test)
        for j in train:
            overlapping = (starts[test] <= ends[j]) & (starts[j] <= ends[test])
            assert not overlapping.any()


@given(events())
def test_no_training_sample_starts_within_the_embargo_after_its_test_fold(case):
    starts, ends, n_splits, embargo = case

    for train, test in purged_kfold(starts, ends, n_splits, embargo):
        fold_end = ends[test].max()
        assert not ((starts[train] > fold_end) & (starts[train] <= fold_end + embargo)).any()


@given(events())
def test_only_overlapping_or_embargoed_samples_leave_the_training_set(case):
    starts, ends, n_splits, embargo = case

    for train, test in purged_kfold(starts, ends, n_splits, embargo):
        fold_end = ends[test].max()
        for j in sorted(set(range(len(starts))) - set(train) - set(test)):
            overlaps = ((starts[test] <= ends[j]) & (starts[j] <= ends[test])).any()
            embargoed = fold_end < starts[j] <= fold_end + embargo
            assert overlaps or embargoed


def test_datetime_events_take_a_timedelta_embargo():
    starts = np.array(
        ["2024-01-01T00", "2024-01-01T01", "2024-01-01T02", "2024-01-01T03"], dtype="datetime64[ns]"
    )
    ends = starts + np.timedelta64(30, "m")

    train, test = next(purged_kfold(starts, ends, 2, timedelta(hours=1)))

    assert test.tolist() == [0, 1]
    assert train.tolist() == [3]  # sample 2 starts within the hour after the fold's last end


def test_a_negative_embargo_is_refused():
    with pytest.raises(ValueError, match="embargo"):
        next(purged_kfold([0, 1, 2], [0, 1, 2], 2, -1))


def test_rolling_windows_train_on_the_chunk_before_each_test_chunk():
    windows = walk_forward_windows(60, 5)

    assert [(t.start, t.stop, s.start, s.stop) for t, s in windows][:2] == [(0, 10, 10, 20), (10, 20, 20, 30)]
    assert windows[-1][1].stop == 60


def test_anchored_windows_train_from_the_first_bar():
    windows = walk_forward_windows(60, 5, anchored=True)

    assert all(train.start == 0 for train, _ in windows)
    assert windows[-1][0].stop == windows[-1][1].start


def test_fold_metrics_cover_every_bar_once_and_aggregate_profitable_folds(ethbtc):
    spec = example_spec("sma_cross", symbol="ETHBTC", timeframe="5m")

    result = walkforward.run(spec, ethbtc, n_splits=4, embargo_pct=0.01)

    assert [f.test_start for f in result.folds] == [0, 1440, 2880, 4320]
    assert sum(f.metrics["bars"] for f in result.folds) == len(ethbtc)
    share = np.mean([f.metrics["net_profit"] > 0 for f in result.folds])
    assert result.aggregate["profitable_fold_share"] == pytest.approx(share)
    assert all(f.train_bars < len(ethbtc) - (f.test_end - f.test_start + 1) for f in result.folds)


def test_each_fold_picks_the_candidate_with_the_best_in_sample_sharpe(ethbtc):
    spec = example_spec("ema_trend_short", symbol="ETHBTC", timeframe="5m", asset="spot")
    other = example_spec(
        "ema_trend_short",
        id="slow",
        symbol="ETHBTC",
        timeframe="5m",
        asset="spot",
        params={"fast": 24, "slow": 96},
    )
    options = BacktestOptions(engine="fast")
    full = {s.id: run(s, ethbtc, options) for s in (spec, other)}

    result = walkforward.run(spec, ethbtc, scheme="rolling", n_splits=3, candidates=[other], options=options)

    for fold, (train, _) in zip(result.folds, walk_forward_windows(len(ethbtc), 3), strict=True):
        in_sample = {
            k: sharpe(r.returns()[train.start : train.stop], r.periods_per_year) for k, r in full.items()
        }
        assert fold.spec_id == max(in_sample, key=in_sample.__getitem__)
        assert fold.in_sample_sharpe == pytest.approx(max(in_sample.values()))
