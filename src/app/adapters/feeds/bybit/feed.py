"""The Bybit feed behind the MarketData port: REST history, then pybit's kline stream, gaps filled by REST.

pybit calls back from its own threads; each message crosses into trio through the trio token and a
bounded memory channel. Only confirmed (closed) bars are emitted. Whenever a message shows that bars
closed which the stream did not deliver (a reconnect, a dropped message, a gap), they are fetched
through REST first, so each (symbol, ts) leaves exactly once, oldest first.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import attrs
import trio
from pybit.unified_trading import WebSocket

from app.adapters.feeds.bybit.client import AsyncBybitPublicClient
from app.adapters.feeds.bybit.config import BybitFeedConfig
from app.adapters.feeds.bybit.constants import CATEGORY_ASSETS
from app.adapters.feeds.bybit.parsing import (
    Ticker24h,
    bybit_interval,
    canonical_timeframe,
    parse_kline_message,
)
from app.adapters.feeds.bybit.quotes import QuoteStats, stream_quotes
from app.domain.timeframes import parse_timeframe
from app.domain.values import Candle, Instrument, Quote
from app.ports.errors import BrokerUnavailable, DataError

__all__ = [
    "BybitFeed",
    "FeedStats",
    "KlineSocket",
    "KlineSocketFactory",
    "public_stream_url",
    "pybit_socket_factory",
]

logger = logging.getLogger(__name__)

Message = Mapping[str, Any]


class KlineSocket(Protocol):
    """A connected public stream (blocking calls: run them in a worker thread)."""

    def subscribe_klines(
        self, interval: str, symbols: Sequence[str], callback: Callable[[Message], None]
    ) -> None:
        """Subscribe to ``kline.{interval}.{symbol}``; ``callback`` runs in the socket's thread."""
        ...

    def subscribe_tickers(self, symbols: Sequence[str], callback: Callable[[Message], None]) -> None:
        """Subscribe to ``tickers.{symbol}``; ``callback`` runs in the socket's thread."""
        ...

    def close(self) -> None: ...


KlineSocketFactory = Callable[[str], KlineSocket]
"""Opens a socket for a Bybit channel type (spot, linear, inverse, option). Raises BrokerUnavailable."""


class _PybitKlineSocket:
    def __init__(self, socket: WebSocket, channel: str) -> None:
        self._socket = socket
        self._channel = channel

    def subscribe_klines(
        self, interval: str, symbols: Sequence[str], callback: Callable[[Message], None]
    ) -> None:
        try:
            self._socket.kline_stream(interval=interval, symbol=list(symbols), callback=callback)
        except Exception as e:  # pybit raises bare Exception for a repeated topic
            msg = f"bybit {self._channel} stream: subscribing to kline.{interval} failed: {e}"
            raise BrokerUnavailable(msg) from e

    def subscribe_tickers(self, symbols: Sequence[str], callback: Callable[[Message], None]) -> None:
        try:
            self._socket.ticker_stream(symbol=list(symbols), callback=callback)
        except Exception as e:  # pybit raises bare Exception for a repeated topic
            msg = f"bybit {self._channel} stream: subscribing to tickers failed: {e}"
            raise BrokerUnavailable(msg) from e

    def close(self) -> None:
        self._socket.exit()


class _PinnedWebSocket(WebSocket):  # type: ignore[misc]  # pybit ships no type hints
    """pybit's public WebSocket on a URL of our choosing.

    pybit builds the URL from the module constant ``PUBLIC_WSS`` and has no argument for it; patching the
    constant would move every socket in the process. Its connection step (also taken on each reconnect)
    is pinned instead.
    """

    def __init__(self, url: str, **kwargs: Any) -> None:
        self._pinned_url = url
        super().__init__(**kwargs)

    def _connect(self, url: str) -> None:
        super()._connect(self._pinned_url)


def public_stream_url(base: str, channel: str) -> str:
    """``wss://stream.bybit.com`` + ``spot`` -> ``wss://stream.bybit.com/v5/public/spot``."""
    return f"{base.rstrip('/')}/v5/public/{channel}"


def pybit_socket_factory(
    *, testnet: bool = False, url: str | None = None, retries: int = 10
) -> KlineSocketFactory:
    """Sockets from ``pybit.unified_trading.WebSocket``.

    ``url`` is the public stream's base URL (``wss://stream.bybit.com``; ``/v5/public/<channel>`` is
    appended); None keeps pybit's (``PUBLIC_WSS``, mainnet or testnet). ``retries`` is how many connection
    attempts pybit makes before giving up.
    """

    def connect(channel: str) -> KlineSocket:
        where = public_stream_url(url, channel) if url is not None else None
        try:
            if where is None:
                socket = WebSocket(testnet=testnet, channel_type=channel, retries=retries)
            else:
                socket = _PinnedWebSocket(where, testnet=testnet, channel_type=channel, retries=retries)
        except Exception as e:  # websocket-client's timeout after pybit's connection attempts
            msg = f"cannot open the bybit {channel} stream{f' at {where}' if where else ''}: {e}"
            raise BrokerUnavailable(msg) from e
        return _PybitKlineSocket(socket, channel)

    return connect


@attrs.define
class FeedStats:
    """What the last stream repaired or lost: bars fetched through REST, messages dropped or unreadable."""

    backfilled: int = 0
    dropped_messages: int = 0
    malformed_messages: int = 0
    reconnects: int = 0


class _Aligner:
    """Holds closed bars until every symbol has closed that time too (or ``grace`` seconds passed)."""

    def __init__(self, symbols: Sequence[str], grace: float) -> None:
        self._rank = {symbol: i for i, symbol in enumerate(symbols)}
        self._frontier: dict[str, datetime | None] = dict.fromkeys(symbols)
        self._pending: list[tuple[datetime, int, int, Candle, float]] = []
        self._grace = grace
        self._seq = itertools.count()

    def add(self, candle: Candle, now: float) -> None:
        entry = (candle.ts, self._rank[candle.symbol], next(self._seq), candle, now + self._grace)
        heapq.heappush(self._pending, entry)
        self.closed_through(candle.symbol, candle.ts)

    def closed_through(self, symbol: str, ts: datetime) -> None:
        """No bar of ``symbol`` at or before ``ts`` will be added any more."""
        current = self._frontier[symbol]
        if current is None or ts > current:
            self._frontier[symbol] = ts

    def release(self, now: float) -> list[Candle]:
        frontiers = list(self._frontier.values())
        limit = None if None in frontiers else min(f for f in frontiers if f is not None)
        overdue = [entry[0] for entry in self._pending if entry[4] <= now]
        if overdue:
            limit = max(overdue) if limit is None else max(limit, *overdue)
        released = []
        while self._pending and limit is not None and self._pending[0][0] <= limit:
            released.append(heapq.heappop(self._pending)[3])
        return released

    def next_due(self) -> float | None:
        return min((entry[4] for entry in self._pending), default=None)


class BybitFeed:
    """Closed candles of ``symbols`` at ``timeframe`` from Bybit's public data (no keys needed)."""

    def __init__(
        self,
        symbols: Sequence[str],
        timeframe: str,
        *,
        client: AsyncBybitPublicClient,
        category: str = "spot",
        ws_factory: KlineSocketFactory | None = None,
        config: BybitFeedConfig | None = None,
    ) -> None:
        if not symbols:
            raise DataError("a bybit feed needs at least one symbol")
        if category not in CATEGORY_ASSETS:
            msg = f"unknown bybit category {category!r}; expected one of {', '.join(CATEGORY_ASSETS)}"
            raise DataError(msg)
        self._symbols = tuple(dict.fromkeys(symbols))
        self._timeframe = canonical_timeframe(timeframe)
        self._interval_code = bybit_interval(timeframe)
        self._interval = parse_timeframe(timeframe)
        self.category = category
        self.client = client
        self._ws_factory = ws_factory or pybit_socket_factory(testnet=client.sync.config.testnet)
        self.config = config or BybitFeedConfig()
        self.stats = FeedStats()
        self.quote_stats = QuoteStats()

    def symbols(self) -> Sequence[str]:
        return self._symbols

    def timeframe(self, symbol: str) -> str:
        if symbol not in self._symbols:
            msg = f"the bybit feed does not carry {symbol!r}"
            raise DataError(msg)
        return self._timeframe

    async def instruments(self) -> list[Instrument]:
        """The feed's symbols' trading rules (tick size, lot step, minimum qty and notional)."""
        wanted = set(self._symbols)
        return [i for i in await self.client.instruments(self.category) if i.symbol in wanted]

    async def tickers(self) -> list[Ticker24h]:
        """24-hour tickers of every symbol in the feed's category."""
        return await self.client.tickers(self.category)

    async def history(self, symbol: str, start: datetime, end: datetime) -> list[Candle]:
        """Closed bars of ``symbol`` with ``start <= ts`` that closed by ``end``, oldest first."""
        horizon = min(end, await self.client.server_time())  # the bar open now is not history yet
        candles = await self.client.klines(self.category, symbol, self._timeframe, start, horizon)
        return [c for c in candles if c.ts >= start and c.ts + self._interval <= horizon]

    async def stream(
        self, *, after: datetime | None = None, catch_up_through: datetime | None = None
    ) -> AsyncGenerator[Candle, None]:
        """Closed candles, oldest first across symbols; with ``after``, history later than it first (fetched
        as fast as REST answers: ``catch_up_through`` has nothing to speed up).

        Raises BrokerUnavailable when the stream cannot be reopened, DataError when a backfill fails
        after its retries: resume with ``after`` set to the last candle received.
        """
        self.stats = FeedStats()
        session = _KlineSession(self, after)
        try:
            await session.open()
            while True:
                for candle in await session.next_batch():
                    yield candle
        finally:
            await session.close()

    def quotes(self) -> AsyncGenerator[Quote, None]:
        """Quotes of the feed's symbols from the ticker stream (its own socket), as Bybit pushes them.

        Spot tickers carry no book: their bid and ask are the last price (see ``bybit.quotes``). Messages
        dropped on a full buffer (``config.buffer``) are counted in ``quote_stats``.
        Raises BrokerUnavailable when the stream cannot be opened.
        """
        self.quote_stats = QuoteStats()
        return stream_quotes(
            self._ws_factory, self.category, self._symbols, buffer=self.config.buffer, stats=self.quote_stats
        )


class _KlineSession:
    def __init__(self, feed: BybitFeed, after: datetime | None) -> None:
        self._feed = feed
        self._config = feed.config
        self._stats = feed.stats
        self._send, self._receive = trio.open_memory_channel[Message](self._config.buffer)
        self._socket: KlineSocket | None = None
        self._watermark: dict[str, datetime | None] = dict.fromkeys(feed.symbols(), after)
        self._fetched: dict[str, datetime] = {}
        self._aligner = _Aligner(feed.symbols(), self._config.align_grace)
        self._token = trio.lowlevel.current_trio_token()
        self._last_message = trio.current_time()

    async def open(self) -> None:
        await self._connect()
        if any(mark is not None for mark in self._watermark.values()):
            await self._catch_up()

    async def close(self) -> None:
        self._send.close()
        self._receive.close()
        with trio.CancelScope(shield=True):
            await self._disconnect()

    async def next_batch(self) -> list[Candle]:
        while True:
            ready = self._aligner.release(trio.current_time())
            if ready:
                return ready
            silent_at = self._last_message + self._config.silence_timeout
            due = self._aligner.next_due()
            message: Message | None = None
            with trio.move_on_at(silent_at if due is None else min(silent_at, due)):
                message = await self._receive.receive()
            if message is not None:
                self._last_message = trio.current_time()
                await self._handle(message)
            elif trio.current_time() >= silent_at:
                logger.warning("bybit stream silent for %ss: reconnecting", self._config.silence_timeout)
                self._stats.reconnects += 1
                await self._disconnect()
                await self._connect()
                await self._catch_up()

    def _on_message(self, message: Message) -> None:
        # Runs in pybit's thread; it must never raise there (pybit would close the socket).
        with contextlib.suppress(trio.RunFinishedError):
            trio.from_thread.run_sync(self._deliver, message, trio_token=self._token)

    def _deliver(self, message: Message) -> None:
        try:
            self._send.send_nowait(message)
        except trio.WouldBlock:
            self._stats.dropped_messages += 1
        except trio.ClosedResourceError:
            pass

    async def _connect(self) -> None:
        feed = self._feed
        attempts = max(self._config.reconnect_attempts, 1)
        for attempt in range(1, attempts + 1):
            try:
                socket = await trio.to_thread.run_sync(feed._ws_factory, feed.category)
                self._socket = socket
                await trio.to_thread.run_sync(
                    socket.subscribe_klines, feed._interval_code, feed.symbols(), self._on_message
                )
            except BrokerUnavailable as e:
                await self._disconnect()
                if attempt == attempts:
                    msg = f"bybit {feed.category} kline stream: {attempts} attempts failed, last: {e}"
                    raise BrokerUnavailable(msg) from e
                await trio.sleep(min(self._config.reconnect_backoff * 2.0 ** (attempt - 1), 60.0))
            else:
                self._last_message = trio.current_time()
                return

    async def _disconnect(self) -> None:
        socket, self._socket = self._socket, None
        if socket is not None:
            await trio.to_thread.run_sync(socket.close)

    async def _handle(self, message: Message) -> None:
        try:
            updates = parse_kline_message(message)
        except DataError as e:
            self._stats.malformed_messages += 1
            logger.warning("skipping an unreadable bybit stream message: %s", e)
            return
        for update in updates:
            candle = update.candle
            if candle.symbol not in self._watermark or candle.timeframe != self._feed._timeframe:
                continue
            # Every bar that started before this one has closed: fetch the ones the stream missed.
            await self._backfill(candle.symbol, closed_by=candle.ts)
            if update.confirmed:
                self._accept(candle)
            else:
                self._aligner.closed_through(candle.symbol, candle.ts - self._feed._interval)

    async def _catch_up(self) -> None:
        now = await self._feed.client.server_time()
        for symbol in self._feed.symbols():
            await self._backfill(symbol, closed_by=now)
            if self._watermark[symbol] is not None:
                self._aligner.closed_through(symbol, now - self._feed._interval)

    async def _backfill(self, symbol: str, *, closed_by: datetime) -> None:
        """Fetch the bars later than the watermark that closed by ``closed_by`` (once per range)."""
        mark = self._watermark[symbol]
        interval = self._feed._interval
        # A bar later than ``mark`` can only have closed by ``closed_by`` if more than one interval passed.
        if mark is None or closed_by <= max(mark + interval, self._fetched.get(symbol, mark)):
            return
        self._fetched[symbol] = closed_by
        feed = self._feed
        start = mark + timedelta(milliseconds=1)
        candles = await feed.client.klines(feed.category, symbol, feed._timeframe, start, closed_by)
        for candle in candles:
            if candle.ts + interval <= closed_by and self._accept(candle):
                self._stats.backfilled += 1

    def _accept(self, candle: Candle) -> bool:
        mark = self._watermark[candle.symbol]
        if mark is not None and candle.ts <= mark:
            return False
        self._watermark[candle.symbol] = candle.ts
        self._aligner.add(candle, trio.current_time())
        return True
