"""The Storage port: the journal (intents, orders, fills, trades, events) and current state of one mode.

Paper and live each have their own store. Writes made inside ``transaction()`` commit together or not at all;
writes outside one commit on their own (and commit a deferred transaction with them).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from app.domain.values import (
    AccountSnapshot,
    Asset,
    ClosedTrade,
    Fill,
    Order,
    OrderIntent,
    Position,
)

__all__ = ["JournalEvent", "Storage"]

JournalEvent = tuple[int, datetime, str, Mapping[str, Any]]
"""(sequence, time, kind, fields) of one journal entry."""


@runtime_checkable
class Storage(Protocol):
    def transaction(self, *, defer_commit: bool = False) -> AbstractContextManager[None]:
        """Group writes: all commit at the end of the block, or none if it raises. Nestable.

        ``defer_commit`` (outermost block): the writes commit with the next transaction, write or ``flush``,
        not at the end of the block. Only for writes a crash may lose because they can be had again (the
        broker's answer to an intent already stored). Reads through this store see them at once.
        """
        ...

    def flush(self) -> None:
        """Commit a deferred transaction now (a no-op if none is open)."""
        ...

    def next_order_seq(self) -> int:
        """A sequence number never returned before by this store (used for client order ids)."""
        ...

    def next_order_seqs(self, count: int) -> range:
        """``count`` consecutive sequence numbers never returned before: one write for a batch of orders."""
        ...

    def record_intent(self, intent: OrderIntent) -> None:
        """Write-ahead: store the intent (as an order in status ``new``) before the broker is called.

        Raises StorageError if the client order id already exists.
        """
        ...

    def record_intents(self, intents: Sequence[OrderIntent]) -> None:
        """``record_intent`` for each of ``intents`` in turn, all or none (a batch's write-ahead in one call)."""
        ...

    def save_order(self, order: Order) -> None:
        """Insert or update an order's current state (keyed by client order id)."""
        ...

    def save_orders(self, orders: Sequence[Order]) -> None:
        """``save_order`` for each of ``orders`` in turn, all or none (a batch's answers in one call)."""
        ...

    def get_order(self, client_order_id: str) -> Order | None: ...

    def orders(self, *, open_only: bool = False) -> Sequence[Order]:
        """All orders in creation order; ``open_only`` keeps those not in a terminal state."""
        ...

    def intent(self, client_order_id: str) -> OrderIntent | None:
        """The intent as first written (its stop loss / take profit, note)."""
        ...

    def add_fill(self, fill: Fill) -> bool:
        """Record a fill; False (and no change) if its fill id is already recorded."""
        ...

    def fills(self, client_order_id: str | None = None) -> Sequence[Fill]: ...

    def save_position(self, position: Position) -> None:
        """Insert or replace the open position of (asset, symbol)."""
        ...

    def delete_position(self, asset: Asset, symbol: str) -> None: ...

    def positions(self) -> Sequence[Position]: ...

    def add_trade(self, trade: ClosedTrade) -> None: ...

    def trades(self) -> Sequence[ClosedTrade]: ...

    def save_account(self, snapshot: AccountSnapshot) -> None:
        """Replace the asset's latest wallet valuation."""
        ...

    def accounts(self) -> Sequence[AccountSnapshot]: ...

    def append_event(self, ts: datetime, kind: str, fields: Mapping[str, Any]) -> int:
        """Append to the journal; returns the entry's sequence number."""
        ...

    def append_events(self, entries: Sequence[tuple[datetime, str, Mapping[str, Any]]]) -> None:
        """``append_event`` for each ``(ts, kind, fields)`` in turn, all or none."""
        ...

    def events(self, *, kind: str | None = None, after_seq: int = 0) -> Iterator[JournalEvent]: ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def set_metas(self, values: Mapping[str, str]) -> None:
        """``set_meta`` of each key, all or none (one write: the runtime records its place on every bar)."""
        ...

    def close(self) -> None: ...
