"""data_manager and the bar cache: batched appends, a restart stores each bar once, failed writes are survived,
retried and counted, and memory stays bounded."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import trio
import trio.testing

from app.adapters.storage.parquet import ParquetBarCache
from app.domain.resample import BarBatch
from app.ports.bar_store import DEFAULT_CHUNK, BarStore, CacheEntry, RepairReport
from app.ports.errors import StorageError
from app.services.data_manager import DataManager
from tests.services.test_data_manager import candles_of, synthetic_bars


class FlakyStore:
    """The real Parquet cache behind a switch: while ``failing``, every append fails as a full disk does."""

    def __init__(self, root: Path) -> None:
        self.cache = ParquetBarCache(root)
        self.failing = False
        self.attempts = 0

    def append(self, batch: BarBatch) -> None:
        self.attempts += 1
        if self.failing:
            msg = f"cannot write the bar cache at {self.cache.root}: [Errno 28] No space left on device"
            raise StorageError(msg)
        self.cache.append(batch)

    def read(
        self, symbol: str, timeframe: str, *, start: datetime | None = None, end: datetime | None = None
    ) -> BarBatch:
        return self.cache.read(symbol, timeframe, start=start, end=end)

    def iter_batches(
        self,
        symbol: str,
        timeframe: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        chunk: int = DEFAULT_CHUNK,
    ) -> Iterator[BarBatch]:
        return self.cache.iter_batches(symbol, timeframe, start=start, end=end, chunk=chunk)

    def tail(self, symbol: str, timeframe: str, count: int) -> BarBatch:
        return self.cache.tail(symbol, timeframe, count)

    def entries(self) -> list[CacheEntry]:
        return self.cache.entries()

    def import_file(self, path: Path) -> list[RepairReport]:
        return self.cache.import_file(path)


def test_the_flaky_store_is_a_bar_store(tmp_path: Path) -> None:
    assert isinstance(FlakyStore(tmp_path), BarStore)


def test_bars_fed_again_after_a_crash_and_restart_are_cached_once(tmp_path: Path) -> None:
    bars = synthetic_bars(count=300)
    cache = ParquetBarCache(tmp_path)
    before = DataManager(store=cache, flush_every=100)
    before.subscribe(["BTCUSDT"], ["1m"])
    for candle in candles_of(bars)[:250]:
        before.ingest(candle)
    # The process dies here: bars 200..249 were never written. A restart replays the feed from its start.
    after = DataManager(store=cache, flush_every=100)
    after.subscribe(["BTCUSDT"], ["1m"])
    for candle in candles_of(bars):
        after.ingest(candle)
    after.flush()

    stored = cache.read("BTCUSDT", "1m")
    assert stored.same_bars(bars)
    assert (
        after.reports()["BTCUSDT"].duplicates_dropped + after.reports()["BTCUSDT"].out_of_order_dropped == 200
    )


def test_a_failed_write_keeps_the_bars_counts_it_and_a_later_flush_writes_them(tmp_path: Path) -> None:
    store = FlakyStore(tmp_path)
    manager = DataManager(store=store, flush_every=100)
    manager.subscribe(["BTCUSDT"], ["1m"])
    bars = synthetic_bars(count=450)
    store.failing = True

    accepted = [manager.ingest(candle) for candle in candles_of(bars)[:250]]

    assert all(accepted)
    health = manager.cache_health()
    assert health is not None
    assert (health.writes, health.failures, health.unsaved, health.lost) == (0, 2, 250, 0)
    assert health.last_error is not None
    assert "No space left on device" in health.last_error
    assert health.problem() == "cache: 2 failed writes, 250 bars unsaved"
    # Backing off: one attempt at 100 bars, the next only after another 100, not on every bar.
    assert store.attempts == 2

    store.failing = False
    for candle in candles_of(bars)[250:]:
        manager.ingest(candle)
    assert manager.flush()

    assert store.cache.read("BTCUSDT", "1m").same_bars(bars)
    health = manager.cache_health()
    assert health is not None
    assert (health.failures, health.unsaved, health.lost) == (2, 0, 0)
    assert manager.get_ohlc("BTCUSDT", "1m", 1000).same_bars(bars)


def test_while_writes_keep_failing_memory_is_bounded_and_bars_let_go_are_counted_lost(tmp_path: Path) -> None:
    store = FlakyStore(tmp_path)
    store.failing = True
    manager = DataManager(store=store, flush_every=100, unsaved_limit=300)
    manager.subscribe(["BTCUSDT"], ["1m"])
    most = 0

    for candle in candles_of(synthetic_bars(count=2000)):
        manager.ingest(candle)
        health = manager.cache_health()
        assert health is not None
        most = max(most, health.unsaved)

    health = manager.cache_health()
    assert health is not None
    assert most <= 300 + 100
    assert health.lost + health.unsaved == 2000
    assert health.lost > 0
    assert "lost" in (health.problem() or "")


def test_a_failed_write_at_the_end_of_a_run_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FlakyStore(tmp_path)
    store.failing = True
    manager = DataManager(store=store)
    manager.subscribe(["BTCUSDT"], ["1m"])

    async def scenario() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(manager.run)
            manager.ingest_batch(synthetic_bars(count=20))
            nursery.cancel_scope.cancel()

    trio.run(scenario)

    assert "20 bars could not be written when the run stopped" in caplog.text
    health = manager.cache_health()
    assert health is not None
    assert (health.writes, health.failures, health.unsaved) == (0, 1, 20)


def test_bars_are_written_once_the_oldest_has_waited_flush_after_seconds(tmp_path: Path) -> None:
    cache = ParquetBarCache(tmp_path)
    manager = DataManager(store=cache, flush_every=10_000, flush_after=60.0)
    manager.subscribe(["BTCUSDT"], ["1m"])
    candles = candles_of(synthetic_bars(count=3))
    cached: list[int] = []

    async def scenario() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(manager.run)
            manager.ingest(candles[0])
            await trio.sleep(30)
            manager.ingest(candles[1])
            cached.append(len(cache.read("BTCUSDT", "1m")))
            await trio.sleep(31)  # no new bar: the periodic flush writes what waited a minute
            cached.append(len(cache.read("BTCUSDT", "1m")))
            manager.ingest(candles[2])
            await trio.sleep(59)
            cached.append(len(cache.read("BTCUSDT", "1m")))
            nursery.cancel_scope.cancel()
        cached.append(len(cache.read("BTCUSDT", "1m")))

    trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))

    assert cached == [0, 2, 2, 3]


def test_an_unreadable_cache_does_not_stop_a_symbol_from_starting(tmp_path: Path) -> None:
    cache = ParquetBarCache(tmp_path)
    cache.append(synthetic_bars(count=10))
    [part] = (tmp_path / "BTCUSDT" / "1m").glob("*.parquet")
    part.write_bytes(b"not parquet")
    manager = DataManager(store=cache)

    manager.subscribe(["BTCUSDT"], ["1m"])

    health = manager.cache_health()
    assert health is not None
    assert health.failures == 1
    assert health.last_error is not None
    assert "reading the cached tail failed" in health.last_error
    assert len(manager.get_ohlc("BTCUSDT", "1m", 10)) == 0


def test_without_a_cache_the_live_path_holds_no_bars_for_one() -> None:
    manager = DataManager(history=500)
    manager.subscribe(["BTCUSDT"], ["1m", "5m"])
    candles = candles_of(synthetic_bars(count=12_000))
    for candle in candles[:2000]:
        manager.ingest(candle)

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for candle in candles[2000:]:
            manager.ingest(candle)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    assert manager.cache_health() is None
    assert grown < 100_000  # 10,000 bars held as rows would take well over a megabyte
