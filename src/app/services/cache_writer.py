"""CacheWriter: the data manager's new base bars on their way to the bar cache.

Bars are held per symbol and appended in one write once ``flush_every`` are held, once the oldest has waited
``flush_after`` seconds, or when asked (``flush``: the run stops). The store replaces bars at times it already
holds, so bars written again after a crash and restart are stored once.

A failed write (disk full, permission, a broken cache file, anything the store raises) never reaches the
caller: trading goes on without the cache. It is logged and counted (``health``), the bars stay in memory,
and the next try waits for another ``flush_every`` bars or ``flush_after`` seconds, so a broken disk is not
hit on every bar. Memory stays bounded: beyond ``unsaved_limit`` unsaved bars of a symbol the oldest are let
go, counted as lost (the cache will miss them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import final

import attrs
import numpy as np

from app.domain.resample import BarBatch, BarRow
from app.ports.bar_store import BarStore

__all__ = ["CacheHealth", "CacheWriter"]

log = logging.getLogger("app.data")


@final
@attrs.frozen
class CacheHealth:
    """How appending to the bar cache is going: ``unsaved`` bars are held in memory waiting for a write,
    ``lost`` were let go after failed writes (the cache misses them), ``last_error`` is the newest failure."""

    writes: int
    failures: int
    unsaved: int
    lost: int
    last_error: str | None = None

    def problem(self) -> str | None:
        """A short line for a status display when writes have failed, else None."""
        if not self.failures:
            return None
        lost = f", {self.lost} lost" if self.lost else ""
        return f"cache: {self.failures} failed writes, {self.unsaved} bars unsaved{lost}"


@attrs.define
class _Unsaved:
    symbol: str
    timeframe: str
    batches: list[BarBatch] = attrs.Factory(list)
    rows: list[BarRow] = attrs.Factory(list)
    since: float | None = None  # when the oldest unsaved bar arrived
    flush_at: int = 0  # the count that triggers the next write (raised after a failed one)

    def held(self) -> int:
        return sum(len(b) for b in self.batches) + len(self.rows)

    def batch(self) -> BarBatch | None:
        if self.rows:
            self.batches.append(BarBatch.from_rows(self.symbol, self.timeframe, self.rows))
            self.rows = []
        if not self.batches:
            return None
        if len(self.batches) > 1:
            self.batches[:] = [BarBatch.concat(self.symbol, self.timeframe, self.batches)]
        return self.batches[0]


class CacheWriter:
    """Appends new bars to ``store`` in batches (see the module docstring for when, and what a failure does).

    Args:
        store: the bar cache.
        flush_every: bars held per symbol before they are written.
        flush_after: seconds the oldest unsaved bar may wait (None: no limit).
        unsaved_limit: unsaved bars kept per symbol while writes fail.
        now: the clock ``flush_after`` is measured on.
    """

    def __init__(
        self,
        store: BarStore,
        *,
        flush_every: int,
        flush_after: float | None,
        unsaved_limit: int,
        now: Callable[[], float],
    ) -> None:
        self.store = store
        self.flush_after = flush_after
        self._flush_every = max(flush_every, 1)
        self._unsaved_limit = max(unsaved_limit, self._flush_every)
        self._now = now
        self._unsaved: dict[str, _Unsaved] = {}
        self._writes = 0
        self._failures = 0
        self._lost = 0
        self._error: str | None = None

    def warm_start(self, symbol: str, timeframe: str, count: int) -> BarBatch | None:
        """The last ``count`` cached bars; None (logged, counted) when the cache cannot be read."""
        try:
            return self.store.tail(symbol, timeframe, count)
        except Exception as e:  # an unreadable cache must not keep the run from starting
            self._failures += 1
            self._error = f"{symbol} {timeframe}: reading the cached tail failed: {e}"
            log.warning("bar cache: %s; %s starts without cached history", self._error, symbol)
            return None

    def add_row(self, symbol: str, timeframe: str, row: BarRow) -> None:
        """One new bar (the live path); written now if its symbol's bars are due."""
        unsaved = self._of(symbol, timeframe)
        unsaved.rows.append(row)
        self._added(unsaved)

    def add_batch(self, batch: BarBatch) -> None:
        """New bars as arrays (the batch path); written now if they are due."""
        unsaved = self._of(batch.symbol, batch.timeframe)
        unsaved.batches.append(batch)
        self._added(unsaved)

    def flush(self) -> bool:
        """Write every unsaved bar now; True when all were written."""
        written = True
        for unsaved in self._unsaved.values():
            written = self._write(unsaved) and written
        return written

    def flush_waiting(self) -> None:
        """Write the symbols whose oldest unsaved bar has waited ``flush_after`` seconds."""
        for unsaved in self._unsaved.values():
            if self._waited_too_long(unsaved):
                self._write(unsaved)

    def health(self) -> CacheHealth:
        unsaved = sum(u.held() for u in self._unsaved.values())
        return CacheHealth(self._writes, self._failures, unsaved, self._lost, self._error)

    def _of(self, symbol: str, timeframe: str) -> _Unsaved:
        unsaved = self._unsaved.get(symbol)
        if unsaved is None:
            unsaved = self._unsaved[symbol] = _Unsaved(symbol, timeframe)
        return unsaved

    def _added(self, unsaved: _Unsaved) -> None:
        if unsaved.since is None:
            unsaved.since = self._now()
        if unsaved.held() >= max(self._flush_every, unsaved.flush_at) or self._waited_too_long(unsaved):
            self._write(unsaved)

    def _waited_too_long(self, unsaved: _Unsaved) -> bool:
        since, limit = unsaved.since, self.flush_after
        return since is not None and limit is not None and self._now() - since >= limit

    def _write(self, unsaved: _Unsaved) -> bool:
        batch = unsaved.batch()
        if batch is None:
            unsaved.since = None
            return True
        try:
            self.store.append(batch)
        except Exception as e:  # any failure of the cache must leave the run trading
            self._failed(unsaved, batch, e)
            return False
        unsaved.batches.clear()
        unsaved.since = None
        unsaved.flush_at = 0
        self._writes += 1
        return True

    def _failed(self, unsaved: _Unsaved, batch: BarBatch, error: Exception) -> None:
        """Keep the bars for a later try (at most ``unsaved_limit``) and back off before retrying."""
        self._failures += 1
        self._error = f"{unsaved.symbol} {unsaved.timeframe}: {error}"
        excess = len(batch) - self._unsaved_limit
        if excess > 0:
            self._lost += excess
            batch = batch.take(np.arange(excess, len(batch)))
            log.error(
                "bar cache: %d unsaved %s %s bars let go (at most %d are kept while writes fail)",
                excess,
                unsaved.symbol,
                unsaved.timeframe,
                self._unsaved_limit,
            )
        unsaved.batches[:] = [batch]
        unsaved.flush_at = len(batch) + self._flush_every
        unsaved.since = self._now()
        log.warning(
            "bar cache write failed (%d bars kept in memory, retried later): %s",
            len(batch),
            self._error,
            exc_info=error,
        )
