"""symbol_series: what data_manager holds of a followed symbol in memory.

``SymbolSeries``: its base timeframe, its cleaner (``app.domain.resample.BarCleaner``), a ``BarRing`` of
bars per timeframe and the aggregators that build the longer ones, its last quote and bar, and whether it is
stale. ``repair_report``: what a cleaner's rules did to the bars it saw, as a ``RepairReport``.
"""

from __future__ import annotations

import attrs
import numpy as np

from app.domain.resample import BarAggregator, BarBatch, BarCleaner, BarRow, ns_to_datetime, timeframe_ns
from app.domain.values import Quote
from app.ports.bar_store import RepairReport

__all__ = ["BarRing", "SymbolSeries", "repair_report"]


class BarRing:
    """The last ``capacity`` bars of one series, in arrays twice that size (appends are amortised O(1))."""

    def __init__(self, symbol: str, timeframe: str, capacity: int) -> None:
        self.symbol, self.timeframe, self.capacity = symbol, timeframe, capacity
        self._ts = np.empty(2 * capacity, np.int64)
        self._values = np.empty((5, 2 * capacity))
        self._size = 0

    def extend(self, batch: BarBatch) -> None:
        batch = batch.tail(self.capacity)
        n = len(batch)
        self._make_room(n)
        self._ts[self._size : self._size + n] = batch.ts
        self._values[:, self._size : self._size + n] = batch.columns()
        self._size += n

    def append(self, row: BarRow) -> None:
        self._make_room(1)
        self._ts[self._size] = row[0]
        self._values[:, self._size] = row[1:]
        self._size += 1

    def _make_room(self, n: int) -> None:
        if self._size + n > len(self._ts):
            keep = self.capacity - n
            start = self._size - keep
            self._ts[:keep] = self._ts[start : self._size]
            self._values[:, :keep] = self._values[:, start : self._size]
            self._size = keep

    def tail(self, count: int) -> BarBatch:
        begin = max(self._size - max(count, 0), 0, self._size - self.capacity)
        values = self._values[:, begin : self._size].copy()
        return BarBatch(self.symbol, self.timeframe, self._ts[begin : self._size].copy(), *values)


@attrs.define
class SymbolSeries:
    symbol: str
    base: str
    cleaner: BarCleaner
    rings: dict[str, BarRing]
    aggregators: dict[str, BarAggregator]
    updated_at: float
    quote: Quote | None = None
    last_row: BarRow | None = None
    stale: bool = False

    @property
    def limit_unit(self) -> float:
        return timeframe_ns(self.base) / 1e9


def repair_report(cleaner: BarCleaner) -> RepairReport:
    counts = cleaner.counts
    first, last = cleaner.first_ts, cleaner.last_ts
    return RepairReport(
        symbol=cleaner.symbol,
        timeframe=cleaner.timeframe,
        rows_read=counts["rows_read"],
        rows_kept=counts["rows_kept"],
        first_ts=ns_to_datetime(first) if first is not None else None,
        last_ts=ns_to_datetime(last) if last is not None and first is not None else None,
        duplicates_dropped=counts["duplicates_dropped"],
        out_of_order_dropped=counts["out_of_order_dropped"],
        nan_dropped=counts["nan_dropped"],
        nonpositive_dropped=counts["nonpositive_dropped"],
        high_low_fixed=counts["high_low_fixed"],
        volume_filled=counts["volume_filled"],
        gaps=counts["gaps"],
    )
