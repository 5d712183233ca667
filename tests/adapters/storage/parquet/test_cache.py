"""ParquetBarCache: the BarStore port on Parquet part files, appended as data arrives."""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from app.adapters.feeds.replay import load_bars
from app.adapters.storage.parquet import ParquetBarCache
from app.domain.resample import BarBatch, datetime_to_ns
from app.ports.bar_store import BarStore
from app.ports.errors import DataError

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MINUTE = 60 * 10**9


def bars(first: int, count: int, *, symbol: str = "BTCUSDT", level: float = 100.0) -> BarBatch:
    """``count`` 1m bars from minute ``first``; prices rise one a bar from ``level``."""
    k = np.arange(first, first + count, dtype=np.float64)
    ts = datetime_to_ns(T0) + np.arange(first, first + count, dtype=np.int64) * MINUTE
    return BarBatch(symbol, "1m", ts, level + k, level + k + 2, level + k - 1, level + k + 1, k + 1)


def part_files(root: Path, symbol: str = "BTCUSDT", timeframe: str = "1m") -> list[Path]:
    return sorted((root / symbol / timeframe).glob("*.parquet"))


def test_the_cache_is_a_bar_store(tmp_path: Path) -> None:
    assert isinstance(ParquetBarCache(tmp_path), BarStore)


def test_bars_read_back_exactly_as_appended(tmp_path: Path) -> None:
    cache = ParquetBarCache(tmp_path)
    written = bars(0, 1000)

    cache.append(written)

    assert cache.read("BTCUSDT", "1m").same_bars(written)


def test_nothing_cached_reads_as_no_bars(tmp_path: Path) -> None:
    assert len(ParquetBarCache(tmp_path).read("ETHUSDT", "5m")) == 0


def test_appending_later_bars_adds_a_part_and_leaves_the_stored_one_untouched(tmp_path: Path) -> None:
    cache = ParquetBarCache(tmp_path)
    cache.append(bars(0, 100))
    first_part = part_files(tmp_path)[0]
    before = first_part.stat().st_ino, first_part.stat().st_mtime_ns

    cache.append(bars(100, 50))

    assert len(part_files(tmp_path)) == 2
    assert (first_part.stat().st_ino, first_part.stat().st_mtime_ns) == before
    assert cache.read("BTCUSDT", "1m").same_bars(
        BarBatch.concat("BTCUSDT", "1m", [bars(0, 100), bars(100, 50)])
    )


def test_bars_at_stored_times_replace_the_stored_ones(tmp_path: Path) -> None:
    cache = ParquetBarCache(tmp_path)
    cache.append(bars(0, 100))
    cache.append(bars(100, 100))

    cache.append(bars(50, 100, level=500.0))

    stored = cache.read("BTCUSDT", "1m")
    assert len(stored) == 200
    assert bool((np.diff(stored.ts) > 0).all())
    assert stored.open[49] == 149.0
    assert stored.open[50] == 550.0
    assert stored.open[149] == 649.0
    assert stored.open[150] == 250.0


def test_a_read_between_two_times_returns_only_those_bars(tmp_path: Path) -> None:
    cache = ParquetBarCache(tmp_path)
    cache.append(bars(0, 100))
    cache.append(bars(100, 100))

    got = cache.read("BTCUSDT", "1m", start=T0 + timedelta(minutes=90), end=T0 + timedelta(minutes=110))

    assert ((got.ts - datetime_to_ns(T0)) // MINUTE).tolist() == list(range(90, 110))


def test_batches_never_exceed_the_chunk_and_add_up_to_the_series(tmp_path: Path) -> None:
    cache = ParquetBarCache(tmp_path, row_group_size=300)
    cache.append(bars(0, 1000))
    cache.append(bars(1000, 500))

    pieces = list(cache.iter_batches("BTCUSDT", "1m", chunk=256))

    assert max(len(p) for p in pieces) <= 256
    assert BarBatch.concat("BTCUSDT", "1m", pieces).same_bars(cache.read("BTCUSDT", "1m"))


def test_the_tail_reaches_across_parts(tmp_path: Path) -> None:
    cache = ParquetBarCache(tmp_path, row_group_size=64)
    cache.append(bars(0, 300))
    cache.append(bars(300, 20))

    tail = cache.tail("BTCUSDT", "1m", 150)

    assert tail.same_bars(cache.read("BTCUSDT", "1m").tail(150))


def test_entries_list_each_series_with_its_span(tmp_path: Path) -> None:
    cache = ParquetBarCache(tmp_path)
    cache.append(bars(0, 10, symbol="ETHUSDT"))
    cache.append(bars(5, 20))

    entries = cache.entries()

    assert [(e.symbol, e.timeframe, e.rows) for e in entries] == [
        ("BTCUSDT", "1m", 20),
        ("ETHUSDT", "1m", 10),
    ]
    assert (entries[0].first_ts, entries[0].last_ts) == (
        T0 + timedelta(minutes=5),
        T0 + timedelta(minutes=24),
    )


def test_many_small_appends_are_merged_into_few_parts(tmp_path: Path) -> None:
    cache = ParquetBarCache(tmp_path, max_parts=4, compact_rows=1000)

    for k in range(12):
        cache.append(bars(10 * k, 10))

    assert len(part_files(tmp_path)) <= 4
    assert cache.read("BTCUSDT", "1m").same_bars(bars(0, 120))


def test_parts_left_overlapping_by_an_interrupted_rewrite_are_merged_newest_first(tmp_path: Path) -> None:
    cache = ParquetBarCache(tmp_path)
    cache.append(bars(0, 100))
    old = part_files(tmp_path)[0]
    newer = ParquetBarCache(tmp_path / "elsewhere")
    newer.append(bars(50, 100, level=500.0))
    stray = part_files(tmp_path / "elsewhere")[0]
    os.replace(stray, old.parent / stray.name)

    stored = cache.read("BTCUSDT", "1m")

    assert len(stored) == 150
    assert (stored.open[49], stored.open[50]) == (149.0, 550.0)
    assert len(part_files(tmp_path)) == 1


def test_bars_out_of_time_order_are_refused(tmp_path: Path) -> None:
    batch = bars(0, 3)
    shuffled = batch.take(np.array([0, 2, 1]))

    with pytest.raises(DataError, match="strictly increasing"):
        ParquetBarCache(tmp_path).append(shuffled)


def test_a_symbol_that_is_not_a_safe_folder_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot cache symbol"):
        ParquetBarCache(tmp_path).append(bars(0, 1, symbol="../etc"))


def test_importing_a_file_applies_the_replay_readers_repairs_and_reports_them(tmp_path: Path) -> None:
    source = tmp_path / "ETHUSDT.csv"
    source.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z,10,11,9,10,1\n"
        "2024-01-01T00:02:00Z,10,11,9,10,1\n"
        "2024-01-01T00:01:00Z,10,9,11,10,1\n"  # out of order, high below low
        "2024-01-01T00:01:00Z,10,11,9,10.5,1\n"  # a correction of the bar above
        "2024-01-01T00:03:00Z,NaN,11,9,10,1\n"
        "2024-01-01T00:05:00Z,10,11,9,10,1\n"
    )
    cache = ParquetBarCache(tmp_path / "cache")

    [report] = cache.import_file(source)

    assert (report.symbol, report.timeframe, report.rows_read, report.rows_kept) == ("ETHUSDT", "1m", 6, 4)
    assert report.repairs() == {
        "duplicates dropped": 1,
        "out-of-order fixed": 1,
        "NaN dropped": 1,
        "gaps (missing bars)": 2,
    }
    assert cache.read("ETHUSDT", "1m").close.tolist() == [10, 10.5, 10, 10]


def test_importing_the_same_file_twice_stores_it_once(tmp_path: Path, shared_data: Path) -> None:
    cache = ParquetBarCache(tmp_path)
    source = shared_data / "crypto_spot_5m" / "ETHBTC.csv"

    cache.import_file(source)
    cache.import_file(source)

    [entry] = cache.entries()
    assert (entry.symbol, entry.timeframe, entry.rows) == ("ETHBTC", "5m", len(load_bars(source).series[0]))


def test_a_cache_part_is_a_file_the_replay_reader_reads_as_is(tmp_path: Path) -> None:
    cache = ParquetBarCache(tmp_path)
    cache.append(bars(0, 50))

    [series] = load_bars(part_files(tmp_path)[0]).series

    assert series.timeframe == "1m"
    np.testing.assert_array_equal(series.close, bars(0, 50).close)


def test_overlapping_appends_store_each_bar_once_in_time_order_the_latest_write_winning(
    tmp_path: Path,
) -> None:
    cache = ParquetBarCache(tmp_path, max_parts=3, compact_rows=120)
    # A crash and restart writes some bars again: from the last flush, from the start, a piece inside.
    cache.append(bars(0, 100))
    cache.append(bars(80, 70, level=300.0))
    cache.append(bars(0, 20, level=500.0))
    cache.append(bars(140, 60, level=700.0))
    cache.append(bars(100, 5, level=900.0))

    stored = cache.read("BTCUSDT", "1m")

    minutes = ((stored.ts - datetime_to_ns(T0)) // MINUTE).tolist()
    assert minutes == list(range(200))
    levels = (stored.open - np.arange(200)).tolist()
    assert levels == [500.0] * 20 + [100.0] * 60 + [300.0] * 20 + [900.0] * 5 + [300.0] * 35 + [700.0] * 60
    assert sum(e.rows for e in cache.entries()) == 200
    spans = sorted(tuple(int(n) for n in p.stem.split("-")[:2]) for p in part_files(tmp_path))
    assert all(earlier[1] < later[0] for earlier, later in itertools.pairwise(spans))
