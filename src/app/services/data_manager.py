"""data_manager: the one source of market data for the runtime, the backtester and the learners.

``subscribe(symbols, streams)`` names the symbols to follow and the timeframes (streams) to keep of each;
a symbol's base timeframe is its feed's, else the shortest stream named. Bars enter one at a time from a
feed (``ingest``: the live path) or as arrays (``ingest_batch``, and ``replay`` from the bar cache: the
batch path, well over a million bars a second). Longer timeframes are built as base bars arrive, by
``app.domain.resample`` (UTC-aligned, emitted at their close), so a backtest resampling the cache and a live
run aggregating bar by bar see the same bars, and so the same features.

Subscribers (``on_tick``, ``open_ticks``) each get a mailbox holding the newest update per symbol and
timeframe. A slow consumer never blocks the feed: an update it has not read yet is replaced by the newer
one (whose ``bars`` adds up what both stood for) and its ``dropped`` counter goes up (the mailboxes:
``app.services.tick_bus``; a symbol's bars in memory: ``app.services.symbol_series``).

Bad data: every bar passes ``app.domain.resample.BarCleaner``, the replay reader's rules as they apply to
bars that arrive one by one (listed there); ``reports()`` gives the counts per symbol.

The bar cache (when one is given): a symbol warms up from its cached tail, and its new base bars go to the
cache through ``app.services.cache_writer.CacheWriter``: in batches (``flush_every`` bars, ``flush_after``
seconds), and all of them when the run stops (end of feed, cancellation, Ctrl-C). A failed write never stops
the run; ``cache_health()`` counts it. Without a cache no bar is held for one: memory is the history only.

Stale data: a symbol with no new bar for ``stale_after`` of its bar intervals (on trio's clock) is stale:
``stale_symbols()`` names it and ``on_stale`` callbacks get a ``DataStale`` event carrying the registry flag
name ``data_stale`` (the registry's owner sets the flag). Its next bar clears it with ``DataResumed``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Final, final

import attrs
import trio

from app.domain.registry import StrategyFlag
from app.domain.resample import (
    BarAggregator,
    BarBatch,
    BarCleaner,
    BarRow,
    datetime_to_ns,
    ns_to_datetime,
    resample,
    timeframe_ns,
)
from app.domain.values import Candle, Quote
from app.ports.bar_store import DEFAULT_CHUNK, BarStore, RepairReport
from app.ports.errors import DataError
from app.ports.market_data import MarketData
from app.services.cache_history import merged
from app.services.cache_writer import CacheHealth, CacheWriter
from app.services.symbol_series import BarRing, SymbolSeries, repair_report
from app.services.tick_bus import BarUpdate, TickCallback, TickSubscription, deliver

__all__ = [
    "DATA_STALE",
    "CacheHealth",
    "DataManager",
    "DataResumed",
    "DataStale",
]

log = logging.getLogger("app.data")

DATA_STALE: Final = StrategyFlag.DATA_STALE.value


@final
@attrs.frozen
class DataStale:
    """No new bar of ``symbol`` for ``silent_for`` seconds (``limit`` allowed): raise ``flag`` for it."""

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


StaleCallback = Callable[[DataStale | DataResumed], None]


class DataManager:
    """Market data for the services: subscriptions, last quotes, OHLC history, tick bus, cache, staleness.

    Args:
        feed: the live (or replayed) feed ``run`` consumes; None when bars arrive by ``ingest*``/``replay``.
        store: the bar cache: new symbols warm up from it and new base bars are appended to it.
        history: bars kept in memory per symbol and timeframe (default 5000).
        stale_after: bar intervals without a new bar before a symbol is stale (default 3).
        flush_every: base bars held per symbol before they are appended to the cache (default 500).
        flush_after: seconds the oldest unsaved bar may wait before it is appended (default None: no limit).
        unsaved_limit: unsaved bars kept per symbol while cache writes fail (default 100000); older ones
            are let go and counted as lost.
        now: the clock staleness is measured on (default trio's; outside a trio run, 0 until ``run``).
    """

    def __init__(
        self,
        *,
        feed: MarketData | None = None,
        store: BarStore | None = None,
        history: int = 5000,
        stale_after: float = 3.0,
        flush_every: int = 500,
        flush_after: float | None = None,
        unsaved_limit: int = 100_000,
        now: Callable[[], float] | None = None,
    ) -> None:
        self._feed = feed
        self._history = history
        self._stale_after = stale_after
        self._now = now or _trio_time
        self._cache = (
            CacheWriter(
                store,
                flush_every=flush_every,
                flush_after=flush_after,
                unsaved_limit=unsaved_limit,
                now=self._now,
            )
            if store is not None
            else None
        )
        self._series: dict[str, SymbolSeries] = {}
        self._subscriptions: list[TickSubscription] = []
        self._callbacks: list[tuple[TickSubscription, TickCallback]] = []
        self._stale_callbacks: list[StaleCallback] = []
        self._nursery: trio.Nursery | None = None
        self._subscribed = trio.Event()

    # -- subscriptions and queries ---------------------------------------------------------------------------
    def subscribe(self, symbols: Sequence[str], streams: Sequence[str] = ()) -> None:
        """Follow ``symbols``, keeping their base bars and each timeframe in ``streams`` (``"5m"``, ``"1h"``).

        Raises:
            DataError: no base timeframe is known (no feed, no stream), or a stream is not a multiple of it.
        """
        for symbol in symbols:
            base = self._feed.timeframe(symbol) if self._feed is not None else None
            if base is None and not streams:
                msg = f"{symbol}: name at least one timeframe in streams (there is no feed to take it from)"
                raise DataError(msg)
            base = base or min(streams, key=timeframe_ns)
            series = self._series.get(symbol) or self._add_series(symbol, base)
            for timeframe in streams:
                self._add_stream(series, timeframe)
        self._subscribed.set()

    def symbols(self) -> tuple[str, ...]:
        """The symbols followed, in subscription order."""
        return tuple(self._series)

    def get_last_quote(self, symbol: str) -> Quote | None:
        """The newest price: from a ticker (``ingest_quote``) or else the last bar's close at its close time
        (a bar carries no book, so bid and ask then equal the last price). None before any data."""
        series = self._get(symbol)
        if series.last_row is None:
            return series.quote
        ts, *_, close, _ = series.last_row
        from_bar = Quote(symbol, ns_to_datetime(ts + timeframe_ns(series.base)), close, close, close)
        return series.quote if series.quote and series.quote.ts >= from_bar.ts else from_bar

    def get_ohlc(self, symbol: str, timeframe: str, lookback: int) -> BarBatch:
        """The last ``lookback`` closed bars of ``symbol`` at ``timeframe``, oldest first.

        A timeframe that is not a stream is resampled from the base bars held (so it reaches back less far).

        Raises:
            DataError: unknown symbol, or a timeframe that cannot be built from the base timeframe.
        """
        series = self._get(symbol)
        ring = series.rings.get(timeframe)
        if ring is not None:
            return ring.tail(lookback)
        try:
            return resample(series.rings[series.base].tail(self._history), timeframe).tail(lookback)
        except ValueError as e:
            raise DataError(f"{symbol}: {e}") from e

    def reports(self) -> dict[str, RepairReport]:
        """What each symbol's bars needed so far (rules of ``BarCleaner``)."""
        return {symbol: repair_report(series.cleaner) for symbol, series in self._series.items()}

    def stale_symbols(self) -> frozenset[str]:
        """Symbols that are stale now."""
        return frozenset(s.symbol for s in self._series.values() if s.stale)

    def cache_health(self) -> CacheHealth | None:
        """Writes, failures, unsaved and lost bars of the bar cache; None when there is no cache."""
        return self._cache.health() if self._cache is not None else None

    # -- the tick bus ----------------------------------------------------------------------------------------
    def open_ticks(self, symbols: Iterable[str] | None = None) -> TickSubscription:
        """A mailbox of bar updates of ``symbols`` (all when None); ``close()`` it when done."""
        subscription = TickSubscription(symbols, self._subscriptions.remove)
        self._subscriptions.append(subscription)
        return subscription

    def on_tick(self, callback: TickCallback, symbols: Iterable[str] | None = None) -> TickSubscription:
        """Call ``callback`` (plain or async) with each update, in its own task while ``run`` runs."""
        subscription = self.open_ticks(symbols)
        self._callbacks.append((subscription, callback))
        if self._nursery is not None:
            self._nursery.start_soon(deliver, subscription, callback)
        return subscription

    def on_stale(self, callback: StaleCallback) -> None:
        """Call ``callback`` with every DataStale and DataResumed event."""
        self._stale_callbacks.append(callback)

    # -- bars in ---------------------------------------------------------------------------------------------
    def ingest(self, candle: Candle) -> bool:
        """One bar from a feed (the live path); False when it is not followed or a rule dropped it."""
        series = self._series.get(candle.symbol)
        if series is None:
            return False
        self._check_timeframe(series, candle.timeframe)
        c = candle
        row = series.cleaner.row(datetime_to_ns(c.ts), c.open, c.high, c.low, c.close, c.volume)
        if row is None:
            return False
        series.rings[series.base].append(row)
        for timeframe, aggregator in series.aggregators.items():
            for done in aggregator.add(*row):
                series.rings[timeframe].append(done)
                self._publish(series.symbol, timeframe, done, 1)
        self._accepted(series, row, 1)
        if self._cache is not None:
            self._cache.add_row(series.symbol, series.base, row)
        return True

    def ingest_batch(self, batch: BarBatch) -> int:
        """Bars of one symbol as arrays (the batch path); returns how many were accepted."""
        return self._ingest_batch(batch, persist=True)

    def ingest_quote(self, quote: Quote) -> None:
        """A ticker's quote (bid/ask/last) for a followed symbol; others are ignored."""
        series = self._series.get(quote.symbol)
        if series is not None:
            series.quote = quote

    async def replay(
        self,
        store: BarStore,
        symbols: Sequence[str],
        timeframe: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        chunk: int = DEFAULT_CHUNK,
    ) -> int:
        """Deliver cached bars of ``symbols`` into the manager as fast as it takes them; returns the count.

        Symbols advance together: each step delivers, per symbol, the bars up to the earliest end of the
        chunks in hand, so no symbol runs more than a chunk ahead of another.
        """
        self.subscribe(symbols, [timeframe])
        sources = {s: store.iter_batches(s, timeframe, start=start, end=end, chunk=chunk) for s in symbols}
        delivered = 0
        for piece in merged(sources):
            delivered += self._ingest_batch(piece, persist=False)
            await trio.lowlevel.checkpoint()
        return delivered

    # -- running ---------------------------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Consume the feed (if any) until it ends or the run is cancelled, delivering ticks to callbacks and
        watching for stale data; the cache gets every pending bar before this returns."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for series in self._series.values():
                series.updated_at = self._now()  # silence before the run is not staleness
            for subscription, callback in self._callbacks:
                nursery.start_soon(deliver, subscription, callback)
            watcher, flusher = trio.CancelScope(), trio.CancelScope()
            nursery.start_soon(self._watch_stale, watcher)
            if self._cache is not None and self._cache.flush_after is not None:
                nursery.start_soon(_flush_periodically, self._cache, flusher)
            task_status.started()
            try:
                if self._feed is not None:
                    await self._consume(self._feed)
                else:
                    await trio.sleep_forever()
            finally:
                self._nursery = None
                watcher.cancel()
                flusher.cancel()
                if not self.flush():
                    health = self.cache_health()
                    unsaved = health.unsaved if health is not None else 0
                    log.error("bar cache: %d bars could not be written when the run stopped", unsaved)
                for subscription in list(self._subscriptions):
                    subscription.close()

    def check_stale(self) -> list[DataStale]:
        """Mark the symbols silent for too long as stale now; returns the new events."""
        now = self._now()
        events = []
        for series in self._series.values():
            silent = now - series.updated_at
            limit = self._stale_after * series.limit_unit
            if not series.stale and silent >= limit:
                series.stale = True
                last = ns_to_datetime(series.last_row[0]) if series.last_row else None
                events.append(DataStale(series.symbol, last, silent, limit))
        for event in events:
            log.warning("%s: no new bar for %.0fs: %s", event.symbol, event.silent_for, DATA_STALE)
            self._emit(event)
        return events

    def flush(self) -> bool:
        """Append the base bars not yet cached to the store; True when every one was written.

        Never raises for a failed write: see the module docstring (``cache_health`` tells).
        """
        return self._cache.flush() if self._cache is not None else True

    # -- internals -------------------------------------------------------------------------------------------
    def _get(self, symbol: str) -> SymbolSeries:
        series = self._series.get(symbol)
        if series is None:
            known = ", ".join(self._series) or "none"
            msg = f"{symbol} is not subscribed (subscribed: {known})"
            raise DataError(msg)
        return series

    def _add_series(self, symbol: str, base: str) -> SymbolSeries:
        warm = self._cache.warm_start(symbol, base, self._history) if self._cache is not None else None
        after = int(warm.ts[-1]) if warm is not None and len(warm) else None
        ring = BarRing(symbol, base, self._history)
        series = SymbolSeries(
            symbol, base, BarCleaner(symbol, base, after=after), {base: ring}, {}, self._now()
        )
        if warm is not None and len(warm):
            ring.extend(warm)
            series.last_row = warm.row(len(warm) - 1)
        self._series[symbol] = series
        return series

    def _add_stream(self, series: SymbolSeries, timeframe: str) -> None:
        if timeframe in series.rings:
            return
        try:
            aggregator = BarAggregator(series.symbol, series.base, timeframe)
        except ValueError as e:
            raise DataError(f"{series.symbol}: {e}") from e
        ring = BarRing(series.symbol, timeframe, self._history)
        ring.extend(aggregator.add_batch(series.rings[series.base].tail(self._history)))
        series.aggregators[timeframe] = aggregator
        series.rings[timeframe] = ring

    def _check_timeframe(self, series: SymbolSeries, timeframe: str) -> None:
        if timeframe != series.base:
            msg = f"{series.symbol}: a {timeframe} bar arrived, but its base timeframe is {series.base}"
            raise DataError(msg)

    def _ingest_batch(self, batch: BarBatch, *, persist: bool) -> int:
        series = self._get(batch.symbol)
        self._check_timeframe(series, batch.timeframe)
        clean = series.cleaner.batch(batch)
        if len(clean) == 0:
            return 0
        series.rings[series.base].extend(clean)
        for timeframe, aggregator in series.aggregators.items():
            done = aggregator.add_batch(clean)
            if len(done):
                series.rings[timeframe].extend(done)
                self._publish(series.symbol, timeframe, done.row(len(done) - 1), len(done))
        self._accepted(series, clean.row(len(clean) - 1), len(clean))
        if persist and self._cache is not None:
            self._cache.add_batch(clean)
        return len(clean)

    def _accepted(self, series: SymbolSeries, row: BarRow, count: int) -> None:
        series.last_row = row
        series.updated_at = self._now()
        if series.stale:
            series.stale = False
            self._emit(DataResumed(series.symbol, ns_to_datetime(row[0])))
        self._publish(series.symbol, series.base, row, count)

    def _publish(self, symbol: str, timeframe: str, row: BarRow, count: int) -> None:
        if not self._subscriptions:
            return
        ts, o, h, lo, c, v = row
        update = BarUpdate(symbol, timeframe, ns_to_datetime(ts), o, h, lo, c, v, count)
        for subscription in self._subscriptions:
            if subscription.symbols is None or symbol in subscription.symbols:
                subscription.offer(update)

    def _emit(self, event: DataStale | DataResumed) -> None:
        for callback in self._stale_callbacks:
            callback(event)

    async def _consume(self, feed: MarketData) -> None:
        # Resume after the cached bars when every followed symbol has some (earlier ones are duplicates).
        marks = [s.cleaner.last_ts for s in self._series.values()]
        known = [m for m in marks if m is not None]
        after = ns_to_datetime(min(known)) if known and len(known) == len(marks) else None
        stream = feed.stream(after=after)
        try:
            async for candle in stream:
                self.ingest(candle)
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                with trio.CancelScope(shield=True):
                    await close()

    async def _watch_stale(self, scope: trio.CancelScope) -> None:
        with scope:
            while True:
                self.check_stale()
                limits = [(s.updated_at, s.limit_unit) for s in self._series.values() if not s.stale]
                deadlines = [at + self._stale_after * unit for at, unit in limits]
                self._subscribed = trio.Event()
                with trio.move_on_at(min(deadlines, default=float("inf"))):
                    await self._subscribed.wait()


def _trio_time() -> float:
    try:
        return trio.current_time()
    except RuntimeError:  # not in a trio run: nothing can be stale yet
        return 0.0


async def _flush_periodically(cache: CacheWriter, scope: trio.CancelScope) -> None:
    every = cache.flush_after or 0.0
    with scope:
        while True:
            await trio.sleep(every / 4)  # so no bar waits much beyond ``flush_after`` in a silence
            cache.flush_waiting()
