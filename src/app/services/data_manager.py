"""data_manager: the one source of market data for the runtime, the backtester and the learners.

``subscribe(symbols, streams)`` names the symbols to follow and the timeframes (streams) to keep for each;
the base timeframe of a symbol is its feed's, or the shortest stream given. Bars enter one at a time from a
feed (``ingest``, the live path) or as arrays (``ingest_batch``, and ``replay`` from the bar cache: the
batch path, a million bars a second and more). Longer timeframes are built as each base bar arrives with
``app.domain.resample`` (UTC-aligned, emitted at their close), so a backtest that resamples the cache and a
live run that aggregates bar by bar see the same bars, and the same features.

Subscribers (``on_tick``, ``open_ticks``) each get a mailbox holding the latest update per symbol and
timeframe: a slow consumer never blocks the feed; when it falls behind, an unread update is replaced by the
newer one (``bars`` adds up what it covers) and its ``dropped`` counter goes up.

Bad data, bar by bar (``BarCleaner``): the replay reader's rules (``app.adapters.feeds.replay.reader``), in
the same order, as they apply to bars that cannot wait for the rest of the file:

1. A NaN or infinite open, high, low or close, or an infinite volume, drops the bar (``nan_dropped``); a
   missing (NaN) volume is read as 0 (``volume_filled``).
2. A price <= 0 or a negative volume drops the bar (``nonpositive_dropped``).
3. A bar at a time already accepted is dropped (``duplicates_dropped``): the first one was delivered and
   aggregated already (in a file, where nothing was delivered yet, the later row wins instead).
4. A bar older than the last accepted one is dropped (``out_of_order_dropped``): later bars were
   delivered already (a file sorts it into place instead).
5. high < low, or open/close outside [low, high]: high becomes the largest and low the smallest of the
   four prices (``high_low_fixed``).
6. Missing bar intervals are counted (``gaps``), never filled.

Stale data: a symbol with no new bar for ``stale_after`` of its bar intervals (trio's clock) is stale:
``stale_symbols()`` names it and ``on_stale`` callbacks get a ``DataStale`` event carrying the registry
flag name ``data_stale`` (the registry's owner sets the flag); its next bar clears it with ``DataResumed``.
"""

from __future__ import annotations

import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Final, Protocol, final

import attrs
import trio

from app.domain.registry import StrategyFlag
from app.domain.resample import BarBatch, BarRow, datetime_to_ns, ns_to_datetime, resample, timeframe_ns
from app.domain.values import Candle, Quote
from app.ports.bar_store import DEFAULT_CHUNK, BarStore, RepairReport
from app.ports.errors import DataError
from app.ports.market_data import MarketData
from app.services.bar_rules import BarCleaner, Ring

__all__ = [
    "BarCleaner",
    "BarUpdate",
    "CandleHistory",
    "DataManager",
    "DataResumed",
    "DataStale",
    "TickSubscription",
    "download_history",
]

log = logging.getLogger("app.data")

DATA_STALE: Final = StrategyFlag.DATA_STALE.value


@final
@attrs.frozen
class BarUpdate:
    """A symbol's newest closed bar at one timeframe; ``bars`` counts the new bars it stands for (more than
    one when a batch arrived, or when updates the subscriber had not read yet were folded into it)."""

    symbol: str
    timeframe: str
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    bars: int = 1


@final
@attrs.frozen
class DataStale:
    """No new bar of ``symbol`` for ``silent_for`` seconds (``limit`` allowed): set ``flag`` for it."""

    symbol: str
    last_bar: datetime | None
    silent_for: float
    limit: float
    flag: str = DATA_STALE


@final
@attrs.frozen
class DataResumed:
    """``symbol`` has a new bar again: clear ``flag``."""

    symbol: str
    bar: datetime
    flag: str = DATA_STALE


StaleEvent = DataStale | DataResumed
TickCallback = Callable[[BarUpdate], Awaitable[None] | None]


class TickSubscription:
    """One subscriber's mailbox: ``async for update in subscription`` until the manager stops."""

    def __init__(self, symbols: Iterable[str] | None, on_close: Callable[[TickSubscription], None]) -> None:
        self.symbols = frozenset(symbols) if symbols is not None else None
        self.dropped = 0
        self._on_close = on_close
        self._pending: dict[tuple[str, str], BarUpdate] = {}
        self._ready: deque[BarUpdate] = deque()
        self._wake_send, self._wake_receive = trio.open_memory_channel[None](1)

    def offer(self, update: BarUpdate) -> None:
        """Leave ``update`` in the mailbox without waiting; an unread one of the same series is replaced."""
        key = (update.symbol, update.timeframe)
        unread = self._pending.pop(key, None)
        if unread is not None:
            self.dropped += 1
            update = attrs.evolve(update, bars=unread.bars + update.bars)
        self._pending[key] = update
        try:
            self._wake_send.send_nowait(None)
        except (trio.WouldBlock, trio.ClosedResourceError):
            pass  # a wake-up is already waiting, or the subscription ended

    def close(self) -> None:
        """End the subscription: what is in the mailbox is still read, then iteration stops."""
        self._wake_send.close()
        self._on_close(self)

    def __aiter__(self) -> TickSubscription:
        return self

    async def __anext__(self) -> BarUpdate:
        await trio.lowlevel.checkpoint()
        while not self._ready:
            if self._pending:
                self._ready.extend(self._pending.values())
                self._pending.clear()
                break
            try:
                await self._wake_receive.receive()
            except (trio.EndOfChannel, trio.ClosedResourceError):
                raise StopAsyncIteration from None
        return self._ready.popleft()


@attrs.define
class _Series:
    symbol: str
    base: str
    cleaner: BarCleaner
    rings: dict[str, Ring]
    aggregators: dict[str, object]
    updated_at: float
    quote: Quote | None = None
    stale: bool = False
    pending: list[BarBatch] = attrs.Factory(list)
    pending_rows: list[BarRow] = attrs.Factory(list)

    @property
    def interval(self) -> float:
        return timeframe_ns(self.base) / 1e9
