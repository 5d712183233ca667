"""The Notifier port: alerts to the operator (log, Telegram)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

__all__ = ["Notifier"]


@runtime_checkable
class Notifier(Protocol):
    async def notify(self, event: str, fields: Mapping[str, object]) -> None:
        """Deliver one event (``"order_filled"``) with its fields; never raises for delivery failures."""
        ...
