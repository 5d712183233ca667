"""Messages the trio side (``bridge``) posts to the Textual app."""

from __future__ import annotations

from collections.abc import Sequence

from textual.message import Message

from app.domain.values import ClosedTrade
from app.ports.storage import JournalEvent
from app.services.runtime_events import Delivery, RuntimeSnapshot

__all__ = ["ActionDone", "RuntimeEvents", "ServicesReady"]


class ServicesReady(Message):
    """The runtime started (or a subscriber fell behind): the whole state to start from."""

    def __init__(
        self, snapshot: RuntimeSnapshot, trades: Sequence[ClosedTrade], journal: Sequence[JournalEvent]
    ) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.trades = trades
        self.journal = journal


class RuntimeEvents(Message):
    """A batch of events in publication order; ``dropped`` counts what the subscription lost so far."""

    def __init__(self, batch: Sequence[Delivery], dropped: int) -> None:
        super().__init__()
        self.batch = batch
        self.dropped = dropped


class ActionDone(Message):
    """An operator action finished on the trio side: its result, or the error it raised."""

    def __init__(self, label: str, result: object) -> None:
        super().__init__()
        self.label = label
        self.result = result
