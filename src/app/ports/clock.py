"""The Clock port: services never read the system clock directly."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = ["Clock"]


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC 'now' (market time under a replay, wall time live)."""
        ...
