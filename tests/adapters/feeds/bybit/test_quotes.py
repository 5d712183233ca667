"""The ticker stream as quotes: real pybit against the loopback fake, and the documented payloads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import aclosing
from typing import Any

import pytest
import trio

from app.adapters.feeds.bybit import BybitFeed, BybitFeedConfig, parse_ticker_message
from app.domain.values import Quote
from app.ports.errors import DataError
from tests.adapters.feeds.bybit.conftest import T0, make_async_client
from tests.support.fake_bybit import FakeBybit, documented

TOPIC = "tickers.BTCUSDT"
SPOT_LAST = 21109.77  # the documented spot ticker's lastPrice


def make_feed(fake: FakeBybit, **settings: Any) -> BybitFeed:
    return BybitFeed(("BTCUSDT",), "1m", client=make_async_client(fake), config=BybitFeedConfig(**settings))


def first_quote_after(feed: BybitFeed, fake: FakeBybit, *pushes: dict[str, str]) -> Quote:
    """Open the feed's quotes, push one ticker per ``pushes`` (fields over the spot example), take one."""

    async def scenario() -> Quote:
        with trio.fail_after(10):
            async with aclosing(feed.quotes()) as quotes:
                taken: list[Quote] = []

                async def pull() -> None:
                    taken.append(await anext(quotes))

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(pull)
                    await trio.to_thread.run_sync(fake.wait_for_subscription, TOPIC)
                    for fields in pushes:
                        fake.push_ticker("spot", "BTCUSDT", **fields)
                return taken[0]

    return trio.run(scenario)


def test_a_spot_ticker_without_a_book_is_quoted_at_its_last_price_on_both_sides(streams: FakeBybit) -> None:
    quote = first_quote_after(make_feed(streams), streams, {})

    assert quote == Quote("BTCUSDT", T0, SPOT_LAST, SPOT_LAST, SPOT_LAST)


def test_a_ticker_with_a_book_is_quoted_at_its_best_bid_and_ask(streams: FakeBybit) -> None:
    quote = first_quote_after(make_feed(streams), streams, {"bid1Price": "21109.5", "ask1Price": "21110"})

    assert (quote.bid, quote.ask, quote.last) == (21109.5, 21110.0, SPOT_LAST)


def test_an_unreadable_ticker_is_counted_and_skipped(streams: FakeBybit) -> None:
    feed = make_feed(streams)

    quote = first_quote_after(feed, streams, {"lastPrice": ""}, {"lastPrice": "21000"})

    assert quote.last == 21000.0
    assert feed.quote_stats.malformed_messages == 1


class BurstSocket:
    """A socket that pushes ``burst`` tickers the moment it is subscribed, faster than anyone reads."""

    def __init__(self, burst: int) -> None:
        self._burst = burst

    def subscribe_klines(self, interval: str, symbols: Sequence[str], callback: Callable[..., None]) -> None:
        raise AssertionError("the quote stream must not subscribe to klines")

    def subscribe_tickers(self, symbols: Sequence[str], callback: Callable[..., None]) -> None:
        spot = documented("websocket_public__ticker")[3]
        for i in range(self._burst):
            callback({**spot, "data": {**spot["data"], "lastPrice": str(100 + i)}})

    def close(self) -> None:
        pass


def test_tickers_arriving_faster_than_read_past_the_buffer_are_dropped_and_counted(fake: FakeBybit) -> None:
    feed = BybitFeed(
        ("BTCUSDT",),
        "1m",
        client=make_async_client(fake),
        ws_factory=lambda channel: BurstSocket(5),
        config=BybitFeedConfig(buffer=2),
    )

    async def scenario() -> list[float]:
        async with aclosing(feed.quotes()) as quotes:
            return [(await anext(quotes)).last for _ in range(2)]

    assert trio.run(scenario) == [100.0, 101.0]
    assert feed.quote_stats.dropped_messages == 3


def test_an_option_side_quoted_at_zero_is_taken_at_the_last_price() -> None:
    option = next(e for e in documented("websocket_public__ticker") if "bidPrice" in e["data"])

    quote = parse_ticker_message(option)

    assert (quote.bid, quote.ask, quote.last) == (10.0, 10.0, 10.0)


def test_a_linear_ticker_gives_its_documented_best_bid_and_ask() -> None:
    linear = documented("websocket_public__ticker")[0]

    quote = parse_ticker_message(linear)

    assert (quote.symbol, quote.bid, quote.ask, quote.last) == ("BTCUSDT", 66666.6, 66666.7, 66666.6)


def test_a_ticker_without_a_last_price_is_refused() -> None:
    spot = documented("websocket_public__ticker")[3]

    with pytest.raises(DataError, match="lastPrice"):
        parse_ticker_message({**spot, "data": {**spot["data"], "lastPrice": ""}})
