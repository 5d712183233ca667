"""cache_history: whole histories through the bar cache, a chunk at a time (the batch path).

``download_history`` fetches a symbol's closed bars from a source into the cache (``app data download``): each
window is cleaned by the rules data_manager applies to live bars (``BarCleaner``) before it is appended, and
the ``RepairReport`` says what they needed. ``merged`` interleaves several symbols' cached chunks for
``DataManager.replay`` so that none gets ahead of another by more than one chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np

from app.domain.resample import BarBatch, BarCleaner, datetime_to_ns, timeframe_ns
from app.domain.values import Candle
from app.ports.bar_store import BarStore, RepairReport
from app.services.symbol_series import repair_report

__all__ = ["CandleHistory", "download_history", "merged"]


def merged(sources: dict[str, Iterator[BarBatch]]) -> Iterator[BarBatch]:
    """Pieces of every source so that no symbol gets ahead of another by more than one chunk."""
    held: dict[str, BarBatch] = {}
    while True:
        for symbol, source in list(sources.items()):
            if symbol not in held:
                batch = next(source, None)
                if batch is None:
                    del sources[symbol]
                else:
                    held[symbol] = batch
        if not held:
            return
        horizon = min(int(batch.ts[-1]) for batch in held.values())
        for symbol, batch in list(held.items()):
            cut = int(np.searchsorted(batch.ts, horizon, side="right"))
            if cut:
                yield batch.slice(0, cut)
            if cut == len(batch):
                del held[symbol]
            else:
                held[symbol] = batch.slice(cut)


class CandleHistory(Protocol):
    """Closed bars of a symbol over a span (the Bybit feed's ``history``)."""

    async def history(self, symbol: str, start: datetime, end: datetime) -> list[Candle]: ...


async def download_history(
    source: CandleHistory,
    store: BarStore,
    symbol: str,
    timeframe: str,
    *,
    since: datetime,
    until: datetime,
    window_bars: int = 10_000,
    on_progress: Callable[[str, int], None] | None = None,
) -> RepairReport:
    """Fetch ``symbol``'s closed bars in [since, until) a window at a time, clean them by the live rules and
    append each window to ``store``; returns what they needed. ``on_progress(symbol, bars_kept)`` follows.

    Raises what ``source`` raises (DataError, BrokerUnavailable); windows stored before that stay stored.
    """
    cleaner = BarCleaner(symbol, timeframe)
    window = timedelta(microseconds=timeframe_ns(timeframe) // 1000) * window_bars
    start = since
    while start < until:
        end = min(start + window, until)
        rows = [
            cleaner.row(datetime_to_ns(c.ts), c.open, c.high, c.low, c.close, c.volume)
            for c in await source.history(symbol, start, end)
            if c.timeframe == timeframe
        ]
        store.append(BarBatch.from_rows(symbol, timeframe, [r for r in rows if r is not None]))
        if on_progress is not None:
            on_progress(symbol, cleaner.counts["rows_kept"])
        start = end
    return repair_report(cleaner)
