"""The Bybit feed of a paper run: reached before the run starts, warmed up from REST, resumable, kept alive.

``open_paper_feed`` reaches Bybit synchronously (REST clock, instruments, one stream connection) so a run
that cannot work is refused before anything is written. ``LivePaperFeed`` then streams:

- history first: the ``warm_up_bars`` closed bars before the run's starting point, fetched through REST, so
  the strategies have their lookback before the first live bar. The starting point is the last bar closed
  when the run started (``warm_up_through``: the runtime only warms up on bars up to it), or, for a resumed
  run, the last bar it processed (``resume``): the runtime warms up on bars up to that one and trades the
  bars that closed while it was stopped, as an uninterrupted run would have;
- then the kline stream, gaps filled through REST (``BybitFeed``);
- after an outage the feed reconnects without end (backing off up to ``max_retry_backoff`` seconds) and
  resumes after the last bar it delivered for each symbol, so no bar is missing or doubled.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from datetime import datetime
from typing import Final, final

import attrs
import trio

from app.adapters.feeds.bybit.client import AsyncBybitPublicClient, BybitPublicClient
from app.adapters.feeds.bybit.config import BybitClientConfig, BybitFeedConfig
from app.adapters.feeds.bybit.feed import BybitFeed, public_stream_url, pybit_socket_factory
from app.adapters.feeds.bybit.parsing import bybit_interval
from app.domain.timeframes import parse_timeframe
from app.domain.values import Candle, Instrument, Quote
from app.ports.errors import BrokerUnavailable, DataError

__all__ = ["BybitEndpoints", "LivePaperFeed", "PaperFeedSettings", "open_paper_feed"]

logger = logging.getLogger(__name__)

MAINNET_REST: Final = "https://api.bybit.com"
TESTNET_REST: Final = "https://api-testnet.bybit.com"
MAINNET_STREAM: Final = "wss://stream.bybit.com"
TESTNET_STREAM: Final = "wss://stream-testnet.bybit.com"
# Connection attempts of the check before the run: enough for a blip, few enough to refuse quickly.
_PROBE_RETRIES: Final = 3


@final
@attrs.frozen
class BybitEndpoints:
    """Where Bybit is reached. A URL left None is pybit's own: mainnet, or testnet with ``testnet``."""

    rest_url: str | None = None
    ws_url: str | None = None
    testnet: bool = False

    @property
    def rest(self) -> str:
        """The REST base URL in use."""
        return (self.rest_url or (TESTNET_REST if self.testnet else MAINNET_REST)).rstrip("/")

    def stream(self, channel: str) -> str:
        """The public stream URL of ``channel`` in use."""
        return public_stream_url(self.ws_url or (TESTNET_STREAM if self.testnet else MAINNET_STREAM), channel)


@final
@attrs.frozen
class PaperFeedSettings:
    """How a paper run uses Bybit.

    Args:
        category: spot, linear, inverse or option.
        warm_up_bars: closed bars fetched through REST before the run's starting point.
        max_catch_up_bars: bars closed while a resumed run was stopped that it may trade through; a longer
            stop is refused (the run would trade hours of stale bars at once).
        retry_backoff: first wait in seconds before the stream is reopened after an outage; doubles.
        max_retry_backoff: longest wait between two attempts.
    """

    category: str = "spot"
    warm_up_bars: int = attrs.field(default=200, validator=attrs.validators.ge(0))
    max_catch_up_bars: int = attrs.field(default=1440, validator=attrs.validators.ge(0))
    endpoints: BybitEndpoints = BybitEndpoints()
    retry_backoff: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))
    max_retry_backoff: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))


def open_paper_feed(
    symbols: Sequence[str],
    timeframe: str,
    settings: PaperFeedSettings,
    *,
    feed_config: BybitFeedConfig | None = None,
) -> LivePaperFeed:
    """Reach Bybit now (its clock, the symbols' instruments, one stream connection) and build the feed.

    Blocking: call it before the run starts, not from the event loop.

    Raises:
        BrokerUnavailable: REST or the stream cannot be reached; the message names the URL and the error.
        DataError: Bybit refused, a symbol is not one of its ``category`` instruments, or Bybit has no bars
            of ``timeframe``.
    """
    bybit_interval(timeframe)  # a bar length Bybit lacks is refused before the network is touched
    endpoints = settings.endpoints
    client = BybitPublicClient(BybitClientConfig(testnet=endpoints.testnet, endpoint=endpoints.rest_url))
    try:
        now = client.server_time()
        found = {i.symbol: i for i in client.instruments(settings.category)}
        unknown = [symbol for symbol in symbols if symbol not in found]
        if unknown:
            msg = (
                f"bybit ({endpoints.rest}) has no {settings.category} instrument "
                f"{', '.join(unknown)}: check the symbol and feeds.bybit.category"
            )
            raise DataError(msg)
        probe = pybit_socket_factory(testnet=endpoints.testnet, url=endpoints.ws_url, retries=_PROBE_RETRIES)
        probe(settings.category).close()
        feed = BybitFeed(
            symbols,
            timeframe,
            client=AsyncBybitPublicClient(client),
            category=settings.category,
            ws_factory=pybit_socket_factory(testnet=endpoints.testnet, url=endpoints.ws_url),
            config=feed_config,
        )
    except Exception:
        client.close()
        raise
    return LivePaperFeed(feed, {s: found[s] for s in feed.symbols()}, now=now, settings=settings)


class LivePaperFeed:
    """MarketData for a paper run on Bybit: REST history up to the starting point, then the live stream.

    ``now`` is Bybit's clock when the run was set up. ``instruments`` holds each symbol's trading rules.
    """

    def __init__(
        self,
        feed: BybitFeed,
        instruments: Mapping[str, Instrument],
        *,
        now: datetime,
        settings: PaperFeedSettings,
    ) -> None:
        self.feed = feed
        self.instruments = dict(instruments)
        self.settings = settings
        self._now = now
        self._interval = parse_timeframe(feed.timeframe(feed.symbols()[0]))
        self.warm_up_through = now - self._interval
        self._history_after = self.warm_up_through - settings.warm_up_bars * self._interval

    @property
    def history_after(self) -> datetime:
        """The stream's first bar is the first one later than this."""
        return self._history_after

    def symbols(self) -> Sequence[str]:
        return self.feed.symbols()

    def timeframe(self, symbol: str) -> str:
        return self.feed.timeframe(symbol)

    def resume(self, last_processed: datetime | None) -> None:
        """Start from the last bar a previous run processed (None: a new run, start from now).

        Raises:
            DataError: that bar is not before Bybit's clock (the state comes from another feed), or more than
                ``max_catch_up_bars`` bars closed since.
        """
        if last_processed is None:
            return
        settings = self.settings
        if last_processed >= self._now:
            msg = (
                f"the paper state's last bar ({last_processed.isoformat()}) is not before Bybit's clock "
                f"({self._now.isoformat()}): it was made on another feed; give this run another --home"
            )
            raise DataError(msg)
        missed = max(0, (self.warm_up_through - last_processed) // self._interval)
        if missed > settings.max_catch_up_bars:
            msg = (
                f"the paper state's last bar is {last_processed.isoformat()}: {missed} "
                f"{self.feed.timeframe(self.symbols()[0])} bars have closed since, more than "
                f"feeds.bybit.max_catch_up_bars ({settings.max_catch_up_bars}) to trade through; "
                "raise it, or give this run another --home"
            )
            raise DataError(msg)
        self._history_after = last_processed - settings.warm_up_bars * self._interval

    async def stream(
        self, *, after: datetime | None = None, catch_up_through: datetime | None = None
    ) -> AsyncGenerator[Candle, None]:
        """Closed candles from the history start (or ``after``, if later) on, without end (history as fast as
        REST answers: ``catch_up_through`` has nothing to speed up).

        An outage (the stream cannot be reopened, a backfill fails) is logged and retried with backoff; the
        stream resumes after the last bar delivered for each symbol.
        """
        start = self._history_after if after is None else max(after, self._history_after)
        delivered: dict[str, datetime] = {}
        failures = 0
        try:
            while True:
                resume_after = min((delivered.get(s, start) for s in self.symbols()), default=start)
                try:
                    async with aclosing(self.feed.stream(after=resume_after)) as candles:
                        async for candle in candles:
                            failures = 0
                            if candle.ts <= delivered.get(candle.symbol, start):
                                continue  # already delivered before the stream was reopened
                            delivered[candle.symbol] = candle.ts
                            yield candle
                    problem = "the stream ended"
                except (BrokerUnavailable, DataError) as e:
                    problem = str(e)
                failures += 1
                await self._back_off("kline", problem, failures)
        finally:
            self.feed.client.sync.close()  # the pooled HTTP connections; closing sockets does not block

    async def quotes(self) -> AsyncGenerator[Quote, None]:
        """Quotes of the feed's symbols from the ticker stream, reopened after an outage, without end."""
        failures = 0
        while True:
            try:
                async with aclosing(self.feed.quotes()) as quotes:
                    async for quote in quotes:
                        failures = 0
                        yield quote
                problem = "the stream ended"
            except (BrokerUnavailable, DataError) as e:
                problem = str(e)
            failures += 1
            await self._back_off("ticker", problem, failures)

    async def _back_off(self, stream: str, problem: str, failures: int) -> None:
        settings = self.settings
        delay = min(settings.retry_backoff * 2.0 ** (failures - 1), settings.max_retry_backoff)
        logger.warning(
            "bybit %s stream interrupted (%s): reopening in %.0fs (attempt %d)",
            stream,
            problem,
            delay,
            failures,
        )
        await trio.sleep(delay)
