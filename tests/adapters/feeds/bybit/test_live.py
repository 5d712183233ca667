"""The paper run's Bybit feed: reached before the run (real pybit against the loopback fake), its starting point
(new run, resumed run, refused resumes), and its life through outages (a scripted feed on trio's mock clock)."""

from __future__ import annotations

import socket
from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import datetime, timedelta
from typing import Any

import pybit.unified_trading
import pytest
import trio
import trio.testing

from app.adapters.feeds.bybit import (
    AsyncBybitPublicClient,
    BybitClientConfig,
    BybitEndpoints,
    BybitFeed,
    BybitPublicClient,
    LivePaperFeed,
    PaperFeedSettings,
    open_paper_feed,
)
from app.domain.values import Candle, Quote
from app.ports.errors import BrokerUnavailable, DataError
from tests.adapters.feeds.bybit.conftest import T0
from tests.support.fake_bybit import FakeBybit

MINUTE = timedelta(minutes=1)


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def settings(fake: FakeBybit | None = None, **changes: Any) -> PaperFeedSettings:
    endpoints = BybitEndpoints(fake.rest_url, fake.ws_url) if fake is not None else BybitEndpoints()
    return PaperFeedSettings(**{"warm_up_bars": 30, "endpoints": endpoints, **changes})


# -- reaching Bybit before the run ------------------------------------------------------------------------------


def test_opening_checks_bybit_and_takes_the_symbols_instrument_rules(fake: FakeBybit) -> None:
    fake.add_instrument("spot", "ETHUSDT", priceFilter={"tickSize": "0.01"})

    feed = open_paper_feed(["BTCUSDT", "ETHUSDT"], "1m", settings(fake))

    assert list(feed.symbols()) == ["BTCUSDT", "ETHUSDT"]
    btc, eth = feed.instruments["BTCUSDT"], feed.instruments["ETHUSDT"]
    assert (str(btc.tick_size), str(btc.lot_step), str(btc.min_qty), str(btc.min_notional)) == (
        "0.1",
        "0.000001",
        "0.000011",
        "5",
    )
    assert (eth.base, str(eth.tick_size)) == ("ETH", "0.01")
    assert feed.warm_up_through == T0 - MINUTE  # the fake's clock: the last bar closed at T0


def test_opening_connects_to_the_configured_stream_url_leaving_pybits_constant_alone(fake: FakeBybit) -> None:
    template = pybit.unified_trading.PUBLIC_WSS

    open_paper_feed(["BTCUSDT"], "1m", settings(fake))

    assert fake.connections["spot"] == 1  # the check before the run reached the fake's stream
    assert template == pybit.unified_trading.PUBLIC_WSS  # still Bybit's, for every other socket


def test_an_unknown_symbol_is_refused_by_name(fake: FakeBybit) -> None:
    with pytest.raises(DataError, match=r"no spot instrument NOPEUSDT: check the symbol"):
        open_paper_feed(["BTCUSDT", "NOPEUSDT"], "1m", settings(fake))


def test_a_timeframe_bybit_lacks_is_refused_before_any_request(fake: FakeBybit) -> None:
    with pytest.raises(DataError, match="bybit has no 2m klines"):
        open_paper_feed(["BTCUSDT"], "2m", settings(fake))
    assert fake.requests == []


def test_rest_out_of_reach_is_unavailable_naming_the_endpoint() -> None:
    url = f"http://127.0.0.1:{closed_port()}"

    with pytest.raises(BrokerUnavailable, match=f"cannot reach bybit at {url}: .*[Cc]onnection refused"):
        open_paper_feed(["BTCUSDT"], "1m", settings(endpoints=BybitEndpoints(url, "ws://127.0.0.1:9")))


def test_a_stream_out_of_reach_is_unavailable_naming_its_url(fake: FakeBybit) -> None:
    ws = f"ws://127.0.0.1:{closed_port()}"

    with pytest.raises(BrokerUnavailable, match=f"cannot open the bybit spot stream at {ws}/v5/public/spot"):
        open_paper_feed(["BTCUSDT"], "1m", settings(endpoints=BybitEndpoints(fake.rest_url, ws)))


def test_the_endpoints_in_use_default_to_mainnet_or_testnet() -> None:
    assert (BybitEndpoints().rest, BybitEndpoints().stream("spot")) == (
        "https://api.bybit.com",
        "wss://stream.bybit.com/v5/public/spot",
    )
    testnet = BybitEndpoints(testnet=True)
    assert (testnet.rest, testnet.stream("linear")) == (
        "https://api-testnet.bybit.com",
        "wss://stream-testnet.bybit.com/v5/public/linear",
    )
    assert BybitEndpoints("http://127.0.0.1:5/", "ws://127.0.0.1:6/").stream("spot") == (
        "ws://127.0.0.1:6/v5/public/spot"
    )


# -- the starting point ------------------------------------------------------------------------------------------


def offline_feed(**changes: Any) -> LivePaperFeed:
    """A 5m feed as set up at 12:00:20 (nothing is reached: the tests below only plan its history)."""
    client = AsyncBybitPublicClient(BybitPublicClient(BybitClientConfig(endpoint="http://127.0.0.1:9")))
    feed = BybitFeed(["BTCUSDT"], "5m", client=client)
    return LivePaperFeed(feed, {}, now=T0 + timedelta(seconds=20), settings=settings(**changes))


def test_a_new_run_warms_up_on_the_bars_closed_before_it_started() -> None:
    feed = offline_feed(warm_up_bars=30)

    feed.resume(None)

    # Bybit's clock says 12:00:20: the 11:55 bar is the last closed one, and 30 bars end with it.
    bars = [T0 - i * 5 * MINUTE for i in range(1, 100)]
    assert next(ts for ts in bars if ts <= feed.warm_up_through) == T0 - 5 * MINUTE
    assert len([ts for ts in bars if feed.history_after < ts <= feed.warm_up_through]) == 30


def test_a_resumed_run_warms_up_on_the_bars_before_its_last_one_and_catches_up_after_it() -> None:
    feed = offline_feed(warm_up_bars=30, max_catch_up_bars=12)
    last = T0 - 60 * MINUTE  # 11 bars of 5m closed since (11:05 .. 11:55)

    feed.resume(last)

    assert feed.history_after == last - 30 * 5 * MINUTE


def test_a_resume_past_the_catch_up_limit_is_refused_with_the_key_to_raise() -> None:
    feed = offline_feed(max_catch_up_bars=10)

    with pytest.raises(DataError, match=r"11 5m bars have closed since.*max_catch_up_bars \(10\)"):
        feed.resume(T0 - 60 * MINUTE)


def test_state_from_another_feed_later_than_bybits_clock_is_refused() -> None:
    with pytest.raises(DataError, match="made on another feed; give this run another --home"):
        offline_feed().resume(T0 + timedelta(days=30))


# -- outages -----------------------------------------------------------------------------------------------------


def bar(minute: int, symbol: str = "BTCUSDT") -> Candle:
    return Candle(symbol, "1m", T0 + minute * MINUTE, 100.0, 101.0, 99.0, 100.5, 1.0)


class ScriptedFeed:
    """A BybitFeed stand-in: each ``stream(after)`` call plays the next script (bars, then an optional error)."""

    def __init__(
        self, scripts: list[tuple[list[Candle], Exception | None]], symbols: tuple[str, ...]
    ) -> None:
        self._scripts = iter(scripts)
        self._symbols = symbols
        self.afters: list[datetime | None] = []
        self.quote_opens = 0
        self.client = self
        self.sync = self
        self.closed = 0

    def symbols(self) -> tuple[str, ...]:
        return self._symbols

    def timeframe(self, symbol: str) -> str:
        return "1m"

    def close(self) -> None:
        self.closed += 1

    async def stream(
        self, *, after: datetime | None = None, catch_up_through: datetime | None = None
    ) -> AsyncGenerator[Candle, None]:
        self.afters.append(after)
        candles, error = next(self._scripts)
        for candle in candles:
            if after is None or candle.ts > after:
                yield candle
        if error is not None:
            raise error
        await trio.sleep_forever()

    async def quotes(self) -> AsyncGenerator[Quote, None]:
        self.quote_opens += 1
        if self.quote_opens == 1:
            raise BrokerUnavailable("cannot open the bybit spot stream: refused")
        yield Quote("BTCUSDT", T0, 99.0, 101.0, 100.0)
        await trio.sleep_forever()


def scripted(scripts: list[tuple[list[Candle], Exception | None]], *symbols: str) -> LivePaperFeed:
    stand_in = ScriptedFeed(scripts, symbols or ("BTCUSDT",))
    live = LivePaperFeed(
        stand_in,  # type: ignore[arg-type]
        {},
        now=T0 + 2 * MINUTE,  # warm-up: the two bars up to 12:01; history after 11:59
        settings=PaperFeedSettings(warm_up_bars=2, retry_backoff=5.0, max_retry_backoff=20.0),
    )
    return live


def take(live: LivePaperFeed, count: int) -> tuple[list[Candle], float]:
    """``count`` candles from the stream on trio's mock clock, and the seconds it waited in all."""

    async def scenario() -> tuple[list[Candle], float]:
        async with aclosing(live.stream()) as candles:
            taken = [await anext(candles) for _ in range(count)]
        return taken, trio.current_time()

    return trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))


def test_an_outage_is_retried_and_the_stream_resumes_without_a_missing_or_doubled_bar() -> None:
    live = scripted(
        [
            ([bar(0), bar(1)], BrokerUnavailable("bybit spot kline stream: 10 attempts failed")),
            ([], DataError("bybit /v5/market/kline: server error HTTP 503 (gave up after 3 attempts)")),
            ([bar(1), bar(2), bar(3)], None),
        ]
    )

    candles, waited = take(live, 4)

    assert [c.ts for c in candles] == [T0 + i * MINUTE for i in range(4)]
    assert live.feed.afters == [T0 - MINUTE, T0 + MINUTE, T0 + MINUTE]  # type: ignore[attr-defined]
    assert waited == pytest.approx(5.0 + 10.0)  # backoff doubles while the outage lasts


def test_after_an_outage_every_symbol_resumes_from_the_one_furthest_behind() -> None:
    live = scripted(
        [
            ([bar(0, "BTCUSDT"), bar(0, "ETHUSDT"), bar(1, "BTCUSDT")], BrokerUnavailable("dropped")),
            ([bar(1, "BTCUSDT"), bar(1, "ETHUSDT"), bar(2, "BTCUSDT"), bar(2, "ETHUSDT")], None),
        ],
        "BTCUSDT",
        "ETHUSDT",
    )

    candles, _ = take(live, 6)

    assert [(c.symbol, c.ts) for c in candles] == [
        (symbol, T0 + i * MINUTE) for i in range(3) for symbol in ("BTCUSDT", "ETHUSDT")
    ]
    assert live.feed.afters[1] == T0  # type: ignore[attr-defined]  # ETHUSDT had reached 12:00 only


def test_the_http_connections_are_released_when_the_stream_stops() -> None:
    live = scripted([([bar(0)], None)])

    take(live, 1)

    assert live.feed.closed == 1  # type: ignore[attr-defined]


def test_quotes_reopen_after_the_ticker_stream_could_not_open() -> None:
    live = scripted([])

    async def scenario() -> Quote:
        async with aclosing(live.quotes()) as quotes:
            return await anext(quotes)

    quote = trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))

    assert (quote.bid, quote.ask) == (99.0, 101.0)
    assert live.feed.quote_opens == 2  # type: ignore[attr-defined]
