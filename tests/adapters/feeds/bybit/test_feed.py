"""The kline feed with real pybit (HTTP and WebSocket) against the loopback fake."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from datetime import datetime, timedelta
from typing import TypeVar

import pybit.unified_trading
import pytest
import trio

from app.adapters.feeds.bybit import BybitFeed, BybitFeedConfig
from app.domain.values import Candle
from app.ports.errors import BrokerUnavailable, DataError
from app.ports.market_data import MarketData
from tests.adapters.feeds.bybit.conftest import T0, make_async_client
from tests.support.fake_bybit import FakeBybit, KlineSeries

T = TypeVar("T")
MINUTE = timedelta(minutes=1)
TOPIC = "kline.1.BTCUSDT"


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    """Run a stream scenario on the real clock (pybit's threads run in wall time), bounded to 10 s."""

    async def bounded() -> T:
        with trio.fail_after(10):
            return await scenario()

    return trio.run(bounded)


def make_feed(fake: FakeBybit, symbols: tuple[str, ...] = ("BTCUSDT",), **settings: float) -> BybitFeed:
    return BybitFeed(symbols, "1m", client=make_async_client(fake), config=BybitFeedConfig(**settings))


def expected(series: KlineSeries, first: datetime, count: int) -> list[Candle]:
    """The fake's closed bars from ``first`` on, as candles."""
    index = int((first - series_start(series)) / MINUTE)
    bars = [series.bar(i) for i in range(index, index + count)]
    return [
        Candle(series.symbol, "1m", first + i * MINUTE, *(float(v) for v in bar[1:6]))
        for i, bar in enumerate(bars)
    ]


def series_start(series: KlineSeries) -> datetime:
    return datetime.fromtimestamp(series.start_ms / 1000, tz=T0.tzinfo)


async def take(candles: AsyncIterator[Candle], count: int) -> list[Candle]:
    return [await anext(candles) for _ in range(count)]


async def subscribed(fake: FakeBybit, count: int = 1, topic: str = TOPIC) -> None:
    await trio.to_thread.run_sync(fake.wait_for_subscription, topic, count)


async def take_while(
    candles: AsyncIterator[Candle], count: int, drive: Callable[[], Awaitable[None]]
) -> list[Candle]:
    """Pull ``count`` candles while ``drive`` acts on the fake: the stream only works while pulled."""
    taken: list[Candle] = []

    async def pull() -> None:
        taken.extend(await take(candles, count))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(pull)
        await drive()
    return taken


def test_the_feed_is_a_market_data_port(streams: FakeBybit) -> None:
    feed = make_feed(streams)

    assert isinstance(feed, MarketData)
    assert (list(feed.symbols()), feed.timeframe("BTCUSDT")) == (["BTCUSDT"], "1m")


def test_asking_for_a_symbol_the_feed_lacks_is_a_data_error(streams: FakeBybit) -> None:
    with pytest.raises(DataError, match="ETHUSDT"):
        make_feed(streams).timeframe("ETHUSDT")


def test_the_stream_starts_with_history_after_the_given_time_then_live_closed_bars(
    streams: FakeBybit,
) -> None:
    series = streams.add_klines("spot", "BTCUSDT", "1", start=T0 - 30 * MINUTE)
    feed = make_feed(streams)

    async def scenario() -> list[Candle]:
        async with aclosing(feed.stream(after=T0 - 4 * MINUTE)) as candles:
            history = await take(candles, 3)
            await subscribed(streams)
            streams.advance(2 * MINUTE)
            return history + await take(candles, 2)

    assert run(scenario) == expected(series, T0 - 3 * MINUTE, 5)


def test_without_a_start_time_the_stream_begins_with_the_next_closed_bar(streams: FakeBybit) -> None:
    series = streams.add_klines("spot", "BTCUSDT", "1", start=T0 - 30 * MINUTE)
    feed = make_feed(streams)

    async def scenario() -> list[Candle]:
        async def drive() -> None:
            await subscribed(streams)
            streams.advance(MINUTE)

        async with aclosing(feed.stream()) as candles:
            return await take_while(candles, 1, drive)

    assert run(scenario) == expected(series, T0, 1)
    assert feed.stats.backfilled == 0


def test_bars_still_open_are_never_emitted(streams: FakeBybit) -> None:
    series = streams.add_klines("spot", "BTCUSDT", "1", start=T0 - 30 * MINUTE)
    feed = make_feed(streams)

    async def scenario() -> list[Candle]:
        async def drive() -> None:
            await subscribed(streams)
            for _ in range(3):
                streams.push("spot", series.stream_message(30, confirm=False, now_ms=streams.now_ms))
            streams.advance(MINUTE)

        async with aclosing(feed.stream()) as candles:
            return await take_while(candles, 1, drive)

    [candle] = run(scenario)
    assert candle == expected(series, T0, 1)[0]
    assert candle.close != float(series.partial(30)[4])


def test_a_silent_stretch_of_the_stream_is_backfilled_through_rest(streams: FakeBybit) -> None:
    series = streams.add_klines("spot", "BTCUSDT", "1", start=T0 - 30 * MINUTE)
    feed = make_feed(streams)

    async def scenario() -> list[Candle]:
        async with aclosing(feed.stream(after=T0 - 2 * MINUTE)) as candles:
            history = await take(candles, 1)
            await subscribed(streams)
            streams.advance(3 * MINUTE, push=False)
            streams.advance(MINUTE)
            return history + await take(candles, 4)

    assert run(scenario) == expected(series, T0 - MINUTE, 5)
    assert feed.stats.backfilled == 1 + 3


def test_a_dropped_socket_reconnects_and_backfills_without_missing_or_doubling_bars(
    streams: FakeBybit,
) -> None:
    series = streams.add_klines("spot", "BTCUSDT", "1", start=T0 - 30 * MINUTE)
    feed = make_feed(streams)

    async def scenario() -> list[Candle]:
        async with aclosing(feed.stream(after=T0 - 3 * MINUTE)) as candles:
            got = await take(candles, 2)
            await subscribed(streams)
            streams.advance(MINUTE)
            got += await take(candles, 1)
            assert streams.drop_websockets() == 1
            streams.advance(2 * MINUTE, push=False)
            await subscribed(streams, count=2)
            streams.advance(MINUTE)
            return got + await take(candles, 3)

    assert run(scenario) == expected(series, T0 - 2 * MINUTE, 6)
    assert feed.stats.backfilled == 2 + 2  # the history, then the bars closed while disconnected


def test_a_stream_silent_past_its_timeout_is_rebuilt_and_caught_up(streams: FakeBybit) -> None:
    series = streams.add_klines("spot", "BTCUSDT", "1", start=T0 - 30 * MINUTE)
    feed = make_feed(streams, silence_timeout=0.3)

    async def scenario() -> list[Candle]:
        async def drive() -> None:
            await subscribed(streams)
            streams.advance(2 * MINUTE, push=False)
            await subscribed(streams, count=2)

        async with aclosing(feed.stream(after=T0 - 2 * MINUTE)) as candles:
            history = await take(candles, 1)
            return history + await take_while(candles, 2, drive)

    assert run(scenario) == expected(series, T0 - MINUTE, 3)
    assert feed.stats.reconnects >= 1


def test_candles_of_several_symbols_leave_in_time_order_then_symbol_order(streams: FakeBybit) -> None:
    # ETH is registered first, so the fake pushes its bars before BTC's.
    eth = streams.add_klines("spot", "ETHUSDT", "1", start=T0 - 30 * MINUTE, seed=2, base_price=50.0)
    btc = streams.add_klines("spot", "BTCUSDT", "1", start=T0 - 30 * MINUTE, seed=1)
    feed = make_feed(streams, ("BTCUSDT", "ETHUSDT"))

    async def scenario() -> list[Candle]:
        async with aclosing(feed.stream(after=T0 - 3 * MINUTE)) as candles:
            history = await take(candles, 4)
            await subscribed(streams, topic="kline.1.ETHUSDT")
            streams.advance(MINUTE)
            return history + await take(candles, 2)

    got = run(scenario)
    pairs = zip(expected(btc, T0 - 2 * MINUTE, 3), expected(eth, T0 - 2 * MINUTE, 3), strict=True)
    assert got == [candle for pair in pairs for candle in pair]


def test_a_symbol_that_stays_quiet_holds_the_others_only_for_the_grace_period(streams: FakeBybit) -> None:
    btc = streams.add_klines("spot", "BTCUSDT", "1", start=T0 - 30 * MINUTE, seed=1)
    streams.add_klines("spot", "ETHUSDT", "1", start=T0 - 30 * MINUTE, seed=2)
    feed = make_feed(streams, ("BTCUSDT", "ETHUSDT"), align_grace=0.2)

    async def scenario() -> list[Candle]:
        async def drive() -> None:
            await subscribed(streams, topic="kline.1.ETHUSDT")
            streams.push("spot", btc.stream_message(30, confirm=True, now_ms=streams.now_ms))

        async with aclosing(feed.stream()) as candles:
            return await take_while(candles, 1, drive)

    assert run(scenario) == expected(btc, T0, 1)


def test_an_unreadable_stream_message_is_skipped_and_counted(streams: FakeBybit) -> None:
    series = streams.add_klines("spot", "BTCUSDT", "1", start=T0 - 30 * MINUTE)
    feed = make_feed(streams)
    garbled = {"topic": TOPIC, "data": [{"start": "soon", "confirm": True}], "ts": 0, "type": "snapshot"}

    async def scenario() -> list[Candle]:
        async def drive() -> None:
            await subscribed(streams)
            streams.push("spot", garbled)
            streams.advance(MINUTE)

        async with aclosing(feed.stream()) as candles:
            return await take_while(candles, 1, drive)

    assert run(scenario) == expected(series, T0, 1)
    assert feed.stats.malformed_messages == 1


def test_a_stream_that_cannot_connect_is_unavailable_after_its_attempts(
    fake: FakeBybit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pybit.unified_trading, "PUBLIC_WSS", "ws://127.0.0.1:9/v5/public/{CHANNEL_TYPE}")
    feed = make_feed(fake, reconnect_attempts=2, reconnect_backoff=0.01)

    async def scenario() -> list[Candle]:
        async with aclosing(feed.stream()) as candles:
            return await take(candles, 1)

    with pytest.raises(BrokerUnavailable, match=r"spot kline stream: 2 attempts failed"):
        run(scenario)


def test_instruments_are_limited_to_the_feed_symbols(streams: FakeBybit) -> None:
    feed = BybitFeed(["BIOUSDT"], "5m", client=make_async_client(streams), category="linear")

    instruments = trio.run(feed.instruments)

    assert [i.symbol for i in instruments] == ["BIOUSDT"]


def test_history_keeps_only_bars_closed_by_the_end(streams: FakeBybit) -> None:
    series = streams.add_klines("spot", "BTCUSDT", "1", start=T0 - 30 * MINUTE)
    feed = make_feed(streams)

    candles = trio.run(feed.history, "BTCUSDT", T0 - 5 * MINUTE, T0 + 30 * MINUTE)

    assert candles == expected(series, T0 - 5 * MINUTE, 5)
