"""A Clock that shows market time: the close of the last bar the runtime processed.

Under a replay this makes every recorded time a function of the data, so two runs of the same replay give
identical journals.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["MarketClock"]


class MarketClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(1970, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance_to(self, ts: datetime) -> None:
        """Move forward to ``ts``; market time never goes backwards."""
        if ts.tzinfo is None:
            msg = f"market time must be timezone-aware, got {ts!r}"
            raise ValueError(msg)
        self._now = max(self._now, ts)
