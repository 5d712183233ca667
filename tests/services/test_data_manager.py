"""data_manager: history and quotes, resampled streams, the tick bus, bad data, staleness and the cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import trio
import trio.testing

from app.adapters.feeds.synthetic import SyntheticFeed
from app.adapters.storage.parquet import ParquetBarCache
from app.domain.resample import BarBatch, datetime_to_ns, ns_to_datetime, resample
from app.domain.values import Candle, Quote
from app.learning.features import build_features
from app.ports.errors import DataError
from app.services.cache_history import download_history
from app.services.data_manager import DATA_STALE, DataManager, DataResumed, DataStale
from app.services.tick_bus import BarUpdate

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MINUTE = 60 * 10**9


def synthetic_bars(symbol: str = "BTCUSDT", count: int = 3000, seed: int = 3) -> BarBatch:
    """A seeded random walk of 1m bars from T0 (open = previous close, wicks outside the body)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, count)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.001, count)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.001, count)))
    ts = datetime_to_ns(T0) + np.arange(count, dtype=np.int64) * MINUTE
    return BarBatch(symbol, "1m", ts, open_, high, low, close, rng.lognormal(3, 1, count))


def candles_of(batch: BarBatch) -> list[Candle]:
    return [
        Candle(batch.symbol, batch.timeframe, ns_to_datetime(ts), o, h, lo, c, v)
        for ts, o, h, lo, c, v in (batch.row(i) for i in range(len(batch)))
    ]


def frame(batch: BarBatch) -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.to_datetime(batch.ts, utc=True))
    return pd.DataFrame(
        {name: getattr(batch, name) for name in ("open", "high", "low", "close", "volume")}, index=index
    )


def test_the_same_bars_give_the_same_features_from_the_cache_and_from_the_live_path(tmp_path: Path) -> None:
    bars = synthetic_bars(count=3000)
    cache = ParquetBarCache(tmp_path)
    cache.append(bars)
    backtest = build_features(frame(resample(cache.read("BTCUSDT", "1m"), "5m")))
    live = DataManager(history=10_000)
    live.subscribe(["BTCUSDT"], ["1m", "5m"])

    for candle in candles_of(bars):
        live.ingest(candle)
    served = build_features(frame(live.get_ohlc("BTCUSDT", "5m", 10_000)))

    assert len(served) == 600
    pd.testing.assert_frame_equal(served, backtest, check_exact=True)


def test_the_batch_path_keeps_the_same_bars_as_the_live_path() -> None:
    bars = synthetic_bars(count=1000)
    one_by_one, batched = DataManager(), DataManager()
    for manager in (one_by_one, batched):
        manager.subscribe(["BTCUSDT"], ["1m", "15m", "1h"])

    for candle in candles_of(bars):
        one_by_one.ingest(candle)
    for start in range(0, 1000, 333):
        batched.ingest_batch(bars.slice(start, start + 333))

    for timeframe in ("1m", "15m", "1h"):
        assert batched.get_ohlc("BTCUSDT", timeframe, 1000).same_bars(
            one_by_one.get_ohlc("BTCUSDT", timeframe, 1000)
        )


def test_ohlc_history_is_the_last_bars_requested_oldest_first() -> None:
    manager = DataManager(history=100)
    manager.subscribe(["BTCUSDT"], ["1m"])
    bars = synthetic_bars(count=250)

    manager.ingest_batch(bars)

    assert manager.get_ohlc("BTCUSDT", "1m", 30).same_bars(bars.tail(30))
    assert manager.get_ohlc("BTCUSDT", "1m", 1000).same_bars(bars.tail(100))


def test_a_longer_bar_appears_only_once_it_has_closed() -> None:
    manager = DataManager()
    manager.subscribe(["BTCUSDT"], ["1m", "5m"])
    bars = synthetic_bars(count=9)

    for candle in candles_of(bars):
        manager.ingest(candle)

    [five] = manager.get_ohlc("BTCUSDT", "5m", 10).ts.tolist()
    assert ns_to_datetime(five) == T0


def test_a_timeframe_not_subscribed_is_resampled_from_the_base_bars_held() -> None:
    manager = DataManager()
    manager.subscribe(["BTCUSDT"], ["1m"])
    bars = synthetic_bars(count=300)
    manager.ingest_batch(bars)

    assert manager.get_ohlc("BTCUSDT", "1h", 10).same_bars(resample(bars, "1h"))


def test_a_stream_that_is_not_a_multiple_of_the_base_timeframe_is_refused() -> None:
    manager = DataManager()

    with pytest.raises(DataError, match="whole multiple"):
        manager.subscribe(["BTCUSDT"], ["5m", "7m"])


def test_asking_for_a_symbol_not_subscribed_names_the_ones_that_are() -> None:
    manager = DataManager()
    manager.subscribe(["BTCUSDT"], ["1m"])

    with pytest.raises(DataError, match=r"ETHUSDT is not subscribed \(subscribed: BTCUSDT\)"):
        manager.get_ohlc("ETHUSDT", "1m", 10)


def test_the_last_quote_is_the_last_close_at_its_close_time_until_a_newer_ticker_arrives() -> None:
    manager = DataManager()
    manager.subscribe(["BTCUSDT"], ["1m"])
    bars = synthetic_bars(count=3)
    manager.ingest_batch(bars)
    close_time = T0 + timedelta(minutes=3)

    from_bar = manager.get_last_quote("BTCUSDT")
    manager.ingest_quote(Quote("BTCUSDT", close_time + timedelta(seconds=5), 99.0, 101.0, 100.0))

    assert from_bar == Quote("BTCUSDT", close_time, bars.close[-1], bars.close[-1], bars.close[-1])
    assert manager.get_last_quote("BTCUSDT") == Quote(
        "BTCUSDT", close_time + timedelta(seconds=5), 99.0, 101.0, 100.0
    )


def test_bad_live_bars_are_repaired_or_dropped_and_reported_per_symbol() -> None:
    manager = DataManager()
    manager.subscribe(["BTCUSDT"], ["1m"])
    good = candles_of(synthetic_bars(count=4))
    nan_bar = Candle("BTCUSDT", "1m", T0 + timedelta(minutes=4), float("nan"), 1, 1, 1, 1)
    inverted = Candle("BTCUSDT", "1m", T0 + timedelta(minutes=6), 10, 9, 11, 10, 1)

    accepted = [manager.ingest(c) for c in [*good, good[1], nan_bar, inverted]]

    report = manager.reports()["BTCUSDT"]
    assert accepted == [True, True, True, True, False, False, True]
    assert report.repairs() == {
        "out-of-order dropped": 1,
        "NaN dropped": 1,
        "high/low fixed": 1,
        "gaps (missing bars)": 2,
    }
    assert manager.get_ohlc("BTCUSDT", "1m", 1).high.tolist() == [11.0]


def test_a_slow_subscriber_gets_the_latest_bar_and_a_count_of_what_it_missed() -> None:
    manager = DataManager()
    manager.subscribe(["BTCUSDT"], ["1m"])
    subscription = manager.open_ticks()
    bars = synthetic_bars(count=50)

    async def scenario() -> list[BarUpdate]:
        for candle in candles_of(bars):
            manager.ingest(candle)  # never waits, however far behind the subscriber is
        subscription.close()
        return [update async for update in subscription]

    updates = trio.run(scenario)

    assert [(u.ts, u.close, u.bars) for u in updates] == [(T0 + timedelta(minutes=49), bars.close[-1], 50)]
    assert subscription.dropped == 49


def test_subscribers_only_get_the_symbols_they_asked_for() -> None:
    manager = DataManager()
    manager.subscribe(["BTCUSDT", "ETHUSDT"], ["1m"])
    subscription = manager.open_ticks(["ETHUSDT"])

    async def scenario() -> list[str]:
        manager.ingest_batch(synthetic_bars("BTCUSDT", count=5))
        manager.ingest_batch(synthetic_bars("ETHUSDT", count=5))
        subscription.close()
        return [update.symbol async for update in subscription]

    assert trio.run(scenario) == ["ETHUSDT"]


def test_a_run_feeds_every_bar_to_a_callback_that_keeps_up() -> None:
    feed = SyntheticFeed(["BTCUSDT", "ETHUSDT"], timeframe="1m", seed=5, start=T0, bars=40, speed=60.0)
    manager = DataManager(feed=feed)
    manager.subscribe(feed.symbols(), ["5m"])
    seen: list[BarUpdate] = []
    manager.on_tick(seen.append, ["ETHUSDT"])

    trio.run(manager.run, clock=trio.testing.MockClock(autojump_threshold=0))

    base = [u for u in seen if u.timeframe == "1m"]
    assert [u.ts for u in base] == [T0 + timedelta(minutes=k) for k in range(40)]
    assert [u.ts for u in seen if u.timeframe == "5m"] == [T0 + timedelta(minutes=5 * k) for k in range(8)]


def test_a_symbol_without_a_new_bar_for_three_intervals_is_flagged_stale_then_resumed() -> None:
    manager = DataManager(stale_after=3)
    manager.subscribe(["BTCUSDT", "ETHUSDT"], ["1m"])
    events: list[DataStale | DataResumed] = []
    manager.on_stale(events.append)
    bars = synthetic_bars("ETHUSDT", count=1)

    async def scenario() -> tuple[frozenset[str], float]:
        async with trio.open_nursery() as nursery:
            await nursery.start(manager.run)
            began = trio.current_time()
            await trio.sleep(179)
            manager.ingest_batch(bars)  # ETHUSDT speaks just in time
            await trio.sleep(2)
            stale = manager.stale_symbols()
            waited = trio.current_time() - began
            await trio.sleep(200)
            manager.ingest_batch(synthetic_bars("BTCUSDT", count=1))
            nursery.cancel_scope.cancel()
        return stale, waited

    stale, waited = trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))

    assert stale == {"BTCUSDT"}
    assert waited == pytest.approx(181)
    first = events[0]
    assert isinstance(first, DataStale)
    assert (first.symbol, first.flag, first.limit) == ("BTCUSDT", DATA_STALE, 180.0)
    assert {(type(e).__name__, e.symbol) for e in events[1:]} == {
        ("DataStale", "ETHUSDT"),
        ("DataResumed", "BTCUSDT"),
    }


def test_new_bars_reach_the_cache_every_flush_and_when_the_run_stops(tmp_path: Path) -> None:
    cache = ParquetBarCache(tmp_path)
    feed = SyntheticFeed(["BTCUSDT"], timeframe="1m", seed=5, start=T0, bars=250)
    manager = DataManager(feed=feed, store=cache, flush_every=100)
    manager.subscribe(["BTCUSDT"])

    trio.run(manager.run)

    [entry] = cache.entries()
    assert (entry.rows, entry.first_ts, entry.last_ts) == (250, T0, T0 + timedelta(minutes=249))
    assert len(list((tmp_path / "BTCUSDT" / "1m").glob("*.parquet"))) == 3


def test_a_new_symbol_warms_up_from_the_cache_and_later_bars_continue_it(tmp_path: Path) -> None:
    cache = ParquetBarCache(tmp_path)
    bars = synthetic_bars(count=300)
    cache.append(bars.slice(0, 200))
    manager = DataManager(store=cache, history=1000)

    manager.subscribe(["BTCUSDT"], ["1m", "1h"])
    for candle in candles_of(bars)[200:]:
        manager.ingest(candle)

    assert manager.get_ohlc("BTCUSDT", "1m", 1000).same_bars(bars)
    assert manager.get_ohlc("BTCUSDT", "1h", 10).same_bars(resample(bars, "1h"))


def test_bars_a_feed_sends_again_after_the_cached_end_are_dropped_and_counted(tmp_path: Path) -> None:
    cache = ParquetBarCache(tmp_path)
    bars = synthetic_bars(count=300)
    cache.append(bars.slice(0, 200))
    manager = DataManager(store=cache, history=1000)
    manager.subscribe(["BTCUSDT"], ["1m"])

    for candle in candles_of(bars)[190:]:
        manager.ingest(candle)

    report = manager.reports()["BTCUSDT"]
    assert manager.get_ohlc("BTCUSDT", "1m", 1000).same_bars(bars)
    assert (report.rows_kept, report.out_of_order_dropped, report.duplicates_dropped) == (100, 9, 1)


def test_a_replay_from_the_cache_delivers_every_bar_with_symbols_advancing_together(tmp_path: Path) -> None:
    cache = ParquetBarCache(tmp_path, row_group_size=128)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        cache.append(synthetic_bars(symbol, count=1000))
    manager = DataManager()
    manager.subscribe(["BTCUSDT", "ETHUSDT"], ["1m", "1h"])
    spreads: list[int] = []

    async def scenario() -> int:
        async def watch() -> None:
            async for _ in subscription:
                btc, eth = (manager.get_ohlc(s, "1m", 1).ts for s in ("BTCUSDT", "ETHUSDT"))
                if len(btc) and len(eth):
                    spreads.append(abs(int(btc[0]) - int(eth[0])) // MINUTE)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            delivered = await manager.replay(cache, ["BTCUSDT", "ETHUSDT"], "1m", chunk=100)
            subscription.close()
        return delivered

    subscription = manager.open_ticks()
    delivered = trio.run(scenario)

    assert delivered == 2000
    assert len(manager.get_ohlc("ETHUSDT", "1h", 100)) == 16
    assert spreads
    assert max(spreads) <= 100  # one chunk


class FakeHistory:
    """Closed bars from a prepared batch, as the Bybit feed's ``history`` gives them, with a repeat."""

    def __init__(self, bars: BarBatch) -> None:
        self.calls: list[tuple[datetime, datetime]] = []
        self._candles = candles_of(bars)

    async def history(self, symbol: str, start: datetime, end: datetime) -> list[Candle]:
        self.calls.append((start, end))
        window = [c for c in self._candles if start <= c.ts and c.close_time <= end]
        return window + window[-1:]  # the last bar twice: a duplicate to drop


def test_a_download_stores_each_window_and_reports_what_it_dropped(tmp_path: Path) -> None:
    bars = synthetic_bars(count=250)
    source, cache = FakeHistory(bars), ParquetBarCache(tmp_path)
    progress: list[int] = []

    report = trio.run(
        lambda: download_history(
            source,
            cache,
            "BTCUSDT",
            "1m",
            since=T0,
            until=T0 + timedelta(minutes=250),
            window_bars=100,
            on_progress=lambda _symbol, kept: progress.append(kept),
        )
    )

    assert cache.read("BTCUSDT", "1m").same_bars(bars)
    assert [end - start for start, end in source.calls] == [timedelta(minutes=100)] * 2 + [
        timedelta(minutes=50)
    ]
    assert progress == [100, 200, 250]
    assert (report.rows_kept, report.duplicates_dropped) == (250, 3)
