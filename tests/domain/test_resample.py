"""Bar math: UTC-aligned aggregation, incremental = whole-series, and the live bad-data rules."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.resample import (
    BarAggregator,
    BarBatch,
    BarCleaner,
    datetime_to_ns,
    ns_to_datetime,
    resample,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday, 00:00 UTC
MINUTE = 60 * 10**9


def minutes(offsets: list[int], *, start: datetime = T0, symbol: str = "BTCUSDT") -> BarBatch:
    """1m bars at ``start + offset`` minutes; bar k has open k+1, high k+3, low k, close k+2, volume k+1."""
    k = np.arange(len(offsets), dtype=np.float64)
    ts = datetime_to_ns(start) + np.asarray(offsets, dtype=np.int64) * MINUTE
    return BarBatch(symbol, "1m", ts, k + 1, k + 3, k, k + 2, k + 1)


def test_five_one_minute_bars_make_one_five_minute_bar() -> None:
    bars = minutes([0, 1, 2, 3, 4])

    out = resample(bars, "5m")

    assert out.timeframe == "5m"
    assert out.ts.tolist() == [datetime_to_ns(T0)]
    assert (out.open[0], out.high[0], out.low[0], out.close[0], out.volume[0]) == (1, 7, 0, 6, 15)


def test_a_bucket_still_open_is_left_out_until_its_last_base_bar_closes() -> None:
    assert len(resample(minutes([0, 1, 2, 3]), "5m")) == 0
    assert len(resample(minutes([0, 1, 2, 3]), "5m", complete_only=False)) == 1


def test_a_bucket_with_missing_bars_is_built_from_the_bars_it_has() -> None:
    out = resample(minutes([0, 2, 5, 6, 7, 8, 9]), "5m")

    assert [ns_to_datetime(t) - T0 for t in out.ts] == [timedelta(0), timedelta(minutes=5)]
    assert (out.open[0], out.close[0], out.volume[0]) == (1, 3, 3)


@pytest.mark.parametrize(
    ("timeframe", "first_open"),
    [
        ("1h", datetime(2024, 1, 3, 13, 0, tzinfo=UTC)),
        ("4h", datetime(2024, 1, 3, 12, 0, tzinfo=UTC)),
        ("1d", datetime(2024, 1, 3, 0, 0, tzinfo=UTC)),
        ("1w", datetime(2024, 1, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_longer_bars_open_on_utc_boundaries(timeframe: str, first_open: datetime) -> None:
    start = datetime(2024, 1, 3, 13, 37, tzinfo=UTC)  # a Wednesday afternoon
    bars = minutes(list(range(60 * 24 * 8)), start=start)

    out = resample(bars, timeframe)

    assert ns_to_datetime(int(out.ts[0])) == first_open


def test_a_timeframe_that_is_not_a_multiple_of_the_base_is_refused() -> None:
    with pytest.raises(ValueError, match="whole multiple"):
        resample(minutes([0, 1]).slice(0, 2), "90s")


def test_times_that_do_not_increase_are_refused() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        resample(minutes([0, 2, 1]), "5m")


def test_the_aggregator_emits_a_bar_the_moment_its_last_base_bar_arrives() -> None:
    aggregator = BarAggregator("BTCUSDT", "1m", "5m")
    bars = minutes([0, 1, 2, 3, 4])

    emitted = [aggregator.add(*bars.row(i)) for i in range(5)]

    assert emitted[:4] == [[], [], [], []]
    assert emitted[4] == [(datetime_to_ns(T0), 1.0, 7.0, 0.0, 6.0, 15.0)]


def test_after_a_gap_the_open_bucket_is_emitted_when_a_later_bucket_starts() -> None:
    aggregator = BarAggregator("BTCUSDT", "1m", "5m")
    bars = minutes([0, 1, 9])

    for i in range(2):
        aggregator.add(*bars.row(i))
    emitted = aggregator.add(*bars.row(2))

    assert [row[0] for row in emitted] == [datetime_to_ns(T0), datetime_to_ns(T0) + 5 * MINUTE]


@st.composite
def gappy_bars(draw: st.DrawFn) -> BarBatch:
    steps = draw(st.lists(st.integers(1, 40), min_size=1, max_size=400))
    offsets = np.cumsum([draw(st.integers(0, 2000)), *steps[1:]]).tolist()
    values = draw(
        st.lists(st.floats(0.001, 1e6, allow_nan=False), min_size=len(offsets), max_size=len(offsets))
    )
    bars = minutes(offsets)
    return BarBatch(bars.symbol, "1m", bars.ts, bars.open, bars.high, bars.low, bars.close, values)


@settings(max_examples=60, deadline=None)
@given(bars=gappy_bars(), timeframe=st.sampled_from(["5m", "15m", "1h", "4h", "1d"]), data=st.data())
def test_bar_by_bar_batch_by_batch_and_whole_series_give_identical_bars(
    bars: BarBatch, timeframe: str, data: st.DataObject
) -> None:
    whole = resample(bars, timeframe)
    one_by_one = BarAggregator(bars.symbol, "1m", timeframe)
    rows = [row for i in range(len(bars)) for row in one_by_one.add(*bars.row(i))]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(bars)), max_size=5)))
    in_batches = BarAggregator(bars.symbol, "1m", timeframe)
    edges = [0, *cuts, len(bars)]
    pieces = [in_batches.add_batch(bars.slice(a, b)) for a, b in itertools.pairwise(edges)]

    assert BarBatch.from_rows(bars.symbol, timeframe, rows).same_bars(whole)
    assert BarBatch.concat(bars.symbol, timeframe, pieces).same_bars(whole)


def dirty() -> BarBatch:
    nan = float("nan")
    ts = [0, 1, 1, 3, 2, 4, 5, 6, 7, 9]
    opens = [10, 10, 11, 10, 10, nan, 10, -1, 10, 10]
    highs = [11, 11, 12, 9, 11, 11, 11, 11, 11, 11]  # bar at 3: high below the open
    volumes = [1, 1, 1, 1, 1, 1, nan, 1, float("inf"), 1]
    n = len(ts)
    return BarBatch("X", "1m", np.array(ts) * MINUTE, opens, highs, [9] * n, [10] * n, volumes)


def clean_one_by_one(cleaner: BarCleaner, batch: BarBatch) -> BarBatch:
    rows = [cleaner.row(*batch.row(i)) for i in range(len(batch))]
    return BarBatch.from_rows(batch.symbol, batch.timeframe, [r for r in rows if r is not None])


def test_each_bad_data_rule_is_applied_and_counted() -> None:
    cleaner = BarCleaner("X", "1m")

    kept = clean_one_by_one(cleaner, dirty())

    assert (kept.ts // MINUTE).tolist() == [0, 1, 3, 5, 9]
    assert cleaner.counts == {
        "rows_read": 10,
        "rows_kept": 5,
        "duplicates_dropped": 1,
        "out_of_order_dropped": 1,
        "nan_dropped": 2,
        "nonpositive_dropped": 1,
        "high_low_fixed": 1,
        "volume_filled": 1,
        "gaps": 5,
    }
    assert (kept.high[2], kept.low[2]) == (10, 9)
    assert kept.volume[3] == 0


def test_a_bar_at_or_before_the_cached_end_is_not_taken_again() -> None:
    cleaner = BarCleaner("X", "1m", after=3 * MINUTE)

    kept = clean_one_by_one(cleaner, minutes([2, 3, 4], start=datetime(1970, 1, 1, tzinfo=UTC)))

    assert (kept.ts // MINUTE).tolist() == [4]


@st.composite
def dirty_batches(draw: st.DrawFn) -> BarBatch:
    n = draw(st.integers(1, 60))
    ts = draw(st.lists(st.integers(0, 80), min_size=n, max_size=n))
    price = st.sampled_from([float("nan"), float("inf"), -1.0, 0.0, 1.0, 2.0, 3.0])
    columns = [draw(st.lists(price, min_size=n, max_size=n)) for _ in range(5)]
    return BarBatch("X", "1m", np.array(ts) * MINUTE, *columns)


@settings(max_examples=80, deadline=None)
@given(first=dirty_batches(), second=dirty_batches())
def test_cleaning_a_batch_at_once_matches_cleaning_it_bar_by_bar(first: BarBatch, second: BarBatch) -> None:
    by_row, by_batch = BarCleaner("X", "1m"), BarCleaner("X", "1m")

    rows = [clean_one_by_one(by_row, first), clean_one_by_one(by_row, second)]
    batches = [by_batch.batch(first), by_batch.batch(second)]

    for row_wise, batch_wise in zip(rows, batches, strict=True):
        assert row_wise.same_bars(batch_wise)
    assert by_row.counts == by_batch.counts
