"""The BarStore port: the on-disk bar cache, per symbol and timeframe, that backtests and live share.

Bars go in and come out as ``BarBatch`` columns (never one object a bar). What reading a market-data file
needed (the replay reader's repair rules) and what the data manager repaired in a live stream are reported
in the same ``RepairReport``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Protocol, final, runtime_checkable

import attrs

from app.domain.resample import BarBatch

__all__ = ["DEFAULT_CHUNK", "BarStore", "CacheEntry", "RepairReport"]

DEFAULT_CHUNK = 65_536
"""Bars per batch when a store is read a piece at a time."""


@final
@attrs.frozen
class RepairReport:
    """What one symbol's bars needed before they could be used; every count is of bars (rows).

    ``out_of_order_fixed`` counts rows sorted back into place (files); ``out_of_order_dropped`` rows that
    arrived after later bars had already been delivered (a live stream cannot take them back).
    """

    symbol: str
    timeframe: str
    rows_read: int
    rows_kept: int
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    duplicates_dropped: int = 0
    out_of_order_fixed: int = 0
    out_of_order_dropped: int = 0
    nan_dropped: int = 0
    nonpositive_dropped: int = 0
    high_low_fixed: int = 0
    volume_filled: int = 0
    gaps: int = 0

    def repairs(self) -> dict[str, int]:
        """The non-zero repair counts, by a readable label."""
        counts = {
            "duplicates dropped": self.duplicates_dropped,
            "out-of-order fixed": self.out_of_order_fixed,
            "out-of-order dropped": self.out_of_order_dropped,
            "NaN dropped": self.nan_dropped,
            "non-positive dropped": self.nonpositive_dropped,
            "high/low fixed": self.high_low_fixed,
            "volumes missing (read as 0)": self.volume_filled,
            "gaps (missing bars)": self.gaps,
        }
        return {label: n for label, n in counts.items() if n}

    def summary(self) -> str:
        """One line: symbol, timeframe, rows, span and every repair (or "clean")."""
        repairs = ", ".join(f"{n} {label}" for label, n in self.repairs().items()) or "clean"
        span = (
            f"{self.first_ts.isoformat()} .. {self.last_ts.isoformat()}"
            if self.first_ts and self.last_ts
            else "no bars"
        )
        rows = f"{self.rows_read} read, {self.rows_kept} kept"
        return f"{self.symbol} {self.timeframe}: {rows}, {span}: {repairs}"


@final
@attrs.frozen
class CacheEntry:
    """One cached series: how many bars and which span (bar open times, UTC)."""

    symbol: str
    timeframe: str
    rows: int
    first_ts: datetime
    last_ts: datetime


@runtime_checkable
class BarStore(Protocol):
    """Bars per symbol and timeframe on disk. Stored bars are clean: strictly increasing times."""

    def append(self, batch: BarBatch) -> None:
        """Add bars. Bars at times already stored replace them (the later write wins).

        Raises:
            DataError: the batch's times are not strictly increasing; StorageError: the write failed.
        """
        ...

    def read(
        self, symbol: str, timeframe: str, *, start: datetime | None = None, end: datetime | None = None
    ) -> BarBatch:
        """Bars with ``start <= ts < end`` (either bound optional); empty when nothing is cached."""
        ...

    def iter_batches(
        self,
        symbol: str,
        timeframe: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        chunk: int = DEFAULT_CHUNK,
    ) -> Iterator[BarBatch]:
        """As ``read``, in batches of at most ``chunk`` bars, oldest first, holding one batch at a time."""
        ...

    def tail(self, symbol: str, timeframe: str, count: int) -> BarBatch:
        """The last ``count`` bars (fewer when fewer are cached; empty when none)."""
        ...

    def entries(self) -> list[CacheEntry]:
        """Every cached series, sorted by symbol then timeframe."""
        ...

    def import_file(self, path: Path) -> list[RepairReport]:
        """Read a market-data file (the replay formats), repair it by the reader's rules, and store it.

        Raises:
            DataError: the file cannot be read or is structurally bad (the message names the place).
        """
        ...
