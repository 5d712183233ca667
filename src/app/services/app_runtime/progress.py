"""How far a run got, and where a restarted run picks up.

The progress persists in the store's meta table, written in one ``set_metas`` with each processed bar: the
open time of the last bar processed, the streams whose bar of that time were, and how many bars the run has
processed. A restarted run only warms up on the bars processed before it (by time, and by stream at the last
time) and counts on from the stored count.
"""

from __future__ import annotations

import json
from datetime import datetime

from app.domain.values import Candle
from app.ports.storage import Storage

__all__ = ["BARS_KEY", "LAST_BAR_KEY", "LAST_BAR_STREAMS_KEY", "Progress"]

LAST_BAR_KEY = "last_bar_ts"
# The streams ("symbol/timeframe") whose bar at LAST_BAR_KEY's time was processed: several symbols' bars share a
# time, and a run stopped between two of them must trade the rest after a restart, not warm up on them.
LAST_BAR_STREAMS_KEY = "last_bar_streams"
# How many bars the run has processed: a restarted run counts on from it.
BARS_KEY = "bars_processed"


class Progress:
    """The bars a run has processed, persisted in the store's meta table."""

    def __init__(self, storage: Storage, warm_up_through: datetime | None = None) -> None:
        self._storage = storage
        self._warm_up_through = warm_up_through
        self.bars = 0
        self.resume_after: datetime | None = None
        # Of the bars at resume_after's time, the streams processed before the restart; None: all of them
        # (a new run's history, or a store of an earlier version).
        self._resumed_streams: frozenset[str] | None = None
        # The time of the last bar processed and the streams whose bar of that time were (see LAST_BAR_STREAMS_KEY).
        self._last_bar: datetime | None = None
        self._last_bar_streams: list[str] = []

    def resume(self) -> datetime | None:
        """Pick up where the store says the run stopped: the time to resume after, None for a new run (which
        then warms up on the bars up to ``warm_up_through``, a live feed's history)."""
        resumed = self.resume_point()
        if resumed is None:
            self.resume_after = self._warm_up_through
            return None
        self.resume_after, self.bars = resumed
        self._last_bar = self.resume_after
        streams = self._storage.get_meta(LAST_BAR_STREAMS_KEY)
        if streams is not None:
            self._last_bar_streams = json.loads(streams)
            self._resumed_streams = frozenset(self._last_bar_streams)
        return self.resume_after

    def resume_point(self) -> tuple[datetime, int] | None:
        """Where a restarted run picks up: the open time of the last bar processed before it, and how many
        bars the run had processed by then (0 for a store older than the count). None for a new run."""
        last = self._storage.get_meta(LAST_BAR_KEY)
        if not last:
            return None
        processed = self._storage.get_meta(BARS_KEY)
        return datetime.fromisoformat(last), int(processed) if processed is not None else 0

    def processed_before(self, candle: Candle) -> bool:
        """Whether the bar was processed before the restart (or is history before a live start)."""
        resume = self.resume_after
        if resume is None or candle.ts > resume:
            return False
        if candle.ts < resume or self._resumed_streams is None:
            return True
        return _stream(candle) in self._resumed_streams

    def mark_processed(self, candle: Candle) -> None:
        """Count the bar and record it as the run's place, in one write."""
        if candle.ts != self._last_bar:
            self._last_bar, self._last_bar_streams = candle.ts, []
        self._last_bar_streams.append(_stream(candle))
        self._storage.set_metas(
            {
                LAST_BAR_KEY: candle.ts.isoformat(),
                LAST_BAR_STREAMS_KEY: json.dumps(self._last_bar_streams),
                BARS_KEY: str(self.bars + 1),
            }
        )
        self.bars += 1


def _stream(candle: Candle) -> str:
    return f"{candle.symbol}/{candle.timeframe}"
