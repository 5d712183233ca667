"""MemoryStorage: an in-memory Storage with the same semantics as SqliteStorage, for tests.

Same contract, checked by tests/adapters/storage/test_storage_contract.py: transactions nest and roll back
on an exception, duplicate fill ids are ignored, duplicate client order ids refused, naive datetimes
refused, datetimes returned in UTC, event fields returned as their JSON round trip.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

import attrs

from app.domain.values import (
    AccountSnapshot,
    Asset,
    ClosedTrade,
    Fill,
    Order,
    OrderIntent,
    OrderStatus,
    Position,
)
from app.ports.errors import StorageError
from app.ports.storage import JournalEvent

__all__ = ["MemoryStorage"]

_A = TypeVar("_A", bound=attrs.AttrsInstance)
_K = TypeVar("_K")
_V = TypeVar("_V")


def _utc(value: datetime) -> datetime:
    if value.utcoffset() is None:
        msg = f"memory: timestamps must be timezone-aware, got {value!r}"
        raise StorageError(msg)
    return value.astimezone(UTC)


def _normalised(value: _A) -> _A:
    """``value`` with every datetime field in UTC (naive ones refused), as the database returns them."""
    changes = {
        field.name: _utc(current)
        for field in attrs.fields(type(value))
        if isinstance(current := getattr(value, field.name), datetime)
    }
    if all(changes[name] is getattr(value, name) for name in changes):
        return value
    return attrs.evolve(value, **changes)  # type: ignore[misc]  # mypy plugin limit on TypeVars


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return _utc(value).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    msg = f"memory: event field of type {type(value).__name__} cannot be stored as JSON"
    raise StorageError(msg)


class MemoryStorage:
    """The Storage port in dictionaries. Transactions keep an undo log per nesting level."""

    def __init__(self) -> None:
        self._intents: dict[str, OrderIntent] = {}
        self._orders: dict[str, Order] = {}  # insertion order is creation order
        self._fills: dict[str, Fill] = {}
        self._positions: dict[tuple[Asset, str], Position] = {}
        self._trades: list[ClosedTrade] = []
        self._accounts: dict[Asset, AccountSnapshot] = {}
        self._events: list[JournalEvent] = []
        self._event_seq = 0
        self._meta: dict[str, str] = {}
        self._order_seq = 0
        self._undo: list[list[Callable[[], object]]] = []
        self._closed = False

    # -- write helpers that remember how to undo themselves -----------------------------------

    def _put(self, table: dict[_K, _V], key: _K, value: _V) -> None:
        if self._undo:
            if key in table:
                old = table[key]
                self._undo[-1].append(lambda: table.__setitem__(key, old))
            else:
                self._undo[-1].append(lambda: table.pop(key))
        table[key] = value

    def _check_open(self) -> None:
        if self._closed:
            msg = "memory: the store is closed"
            raise StorageError(msg)

    # -- transactions -------------------------------------------------------------------------

    def transaction(self, *, defer_commit: bool = False) -> AbstractContextManager[None]:
        """Group writes: all commit at the end of the block, or none if it raises. Nestable.

        Memory has no durability to defer: a deferred block ends like any other (a later rollback keeps it).
        """
        self._check_open()
        return self._transaction()

    def flush(self) -> None:
        """Nothing is ever deferred in memory."""
        self._check_open()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._undo.append([])
        try:
            yield
        except BaseException:
            for undo in reversed(self._undo.pop()):
                undo()
            raise
        done = self._undo.pop()
        if self._undo:
            self._undo[-1].extend(done)

    # -- orders ---------------------------------------------------------------------------------

    def next_order_seq(self) -> int:
        """A sequence number never returned before by this store (not undone by a rollback)."""
        self._check_open()
        self._order_seq += 1
        return self._order_seq

    def next_order_seqs(self, count: int) -> range:
        """``count`` consecutive numbers never returned before (not undone by a rollback)."""
        self._check_open()
        if count < 0:
            msg = f"memory: cannot take {count} sequence numbers"
            raise StorageError(msg)
        first = self._order_seq + 1
        self._order_seq += count
        return range(first, first + count)

    def record_intent(self, intent: OrderIntent) -> None:
        """Write-ahead: store the intent (as an order in status ``new``)."""
        self._check_open()
        cid = intent.client_order_id
        if intent.created_at is None:
            msg = f"memory: intent {cid!r} has no created_at (stamp it from the Clock)"
            raise StorageError(msg)
        if cid in self._orders:
            msg = f"memory: client order id {cid!r} is already recorded"
            raise StorageError(msg)
        created = _utc(intent.created_at)
        intent = _normalised(intent)
        order = Order(
            client_order_id=cid,
            strategy_id=intent.strategy_id,
            asset=intent.asset,
            symbol=intent.symbol,
            side=intent.side,
            qty=intent.qty,
            order_type=intent.order_type,
            status=OrderStatus.NEW,
            created_at=created,
            updated_at=created,
            price=intent.price,
            reduce_only=intent.reduce_only,
        )
        self._put(self._intents, cid, intent)
        self._put(self._orders, cid, order)

    def save_order(self, order: Order) -> None:
        self._check_open()
        self._put(self._orders, order.client_order_id, _normalised(order))

    def record_intents(self, intents: Sequence[OrderIntent]) -> None:
        with self.transaction():
            for intent in intents:
                self.record_intent(intent)

    def save_orders(self, orders: Sequence[Order]) -> None:
        with self.transaction():
            for order in orders:
                self.save_order(order)

    def get_order(self, client_order_id: str) -> Order | None:
        self._check_open()
        return self._orders.get(client_order_id)

    def orders(self, *, open_only: bool = False) -> Sequence[Order]:
        self._check_open()
        return [o for o in self._orders.values() if not (open_only and o.status.is_terminal)]

    def intent(self, client_order_id: str) -> OrderIntent | None:
        self._check_open()
        return self._intents.get(client_order_id)

    # -- fills, positions, trades, accounts ---------------------------------------------------

    def add_fill(self, fill: Fill) -> bool:
        self._check_open()
        if fill.fill_id in self._fills:
            return False
        self._put(self._fills, fill.fill_id, _normalised(fill))
        return True

    def fills(self, client_order_id: str | None = None) -> Sequence[Fill]:
        self._check_open()
        return [
            f for f in self._fills.values() if client_order_id is None or f.client_order_id == client_order_id
        ]

    def save_position(self, position: Position) -> None:
        self._check_open()
        self._put(self._positions, (position.asset, position.symbol), _normalised(position))

    def delete_position(self, asset: Asset, symbol: str) -> None:
        self._check_open()
        key = (asset, symbol)
        if key in self._positions:
            old = self._positions.pop(key)
            if self._undo:
                self._undo[-1].append(lambda: self._positions.__setitem__(key, old))

    def positions(self) -> Sequence[Position]:
        self._check_open()
        return [self._positions[k] for k in sorted(self._positions, key=lambda k: (k[0].value, k[1]))]

    def add_trade(self, trade: ClosedTrade) -> None:
        self._check_open()
        self._trades.append(_normalised(trade))
        if self._undo:
            self._undo[-1].append(self._trades.pop)

    def trades(self) -> Sequence[ClosedTrade]:
        self._check_open()
        return list(self._trades)

    def save_account(self, snapshot: AccountSnapshot) -> None:
        self._check_open()
        self._put(self._accounts, snapshot.asset, _normalised(snapshot))

    def accounts(self) -> Sequence[AccountSnapshot]:
        self._check_open()
        return [self._accounts[a] for a in sorted(self._accounts, key=lambda a: a.value)]

    # -- journal and meta ---------------------------------------------------------------------

    def append_event(self, ts: datetime, kind: str, fields: Mapping[str, Any]) -> int:
        self._check_open()
        stored = json.loads(json.dumps(fields, default=_json_default))
        when = _utc(ts)
        previous = self._event_seq
        self._event_seq += 1
        self._events.append((self._event_seq, when, kind, stored))
        if self._undo:
            self._undo[-1].append(self._events.pop)
            self._undo[-1].append(lambda: setattr(self, "_event_seq", previous))
        return self._event_seq

    def append_events(self, entries: Sequence[tuple[datetime, str, Mapping[str, Any]]]) -> None:
        with self.transaction():
            for ts, kind, fields in entries:
                self.append_event(ts, kind, fields)

    def events(self, *, kind: str | None = None, after_seq: int = 0) -> Iterator[JournalEvent]:
        self._check_open()
        for event in list(self._events):
            if event[0] > after_seq and (kind is None or event[2] == kind):
                yield event

    def get_meta(self, key: str) -> str | None:
        self._check_open()
        return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self._check_open()
        self._put(self._meta, key, value)

    def set_metas(self, values: Mapping[str, str]) -> None:
        self._check_open()
        for key, value in values.items():
            self._put(self._meta, key, value)

    def close(self) -> None:
        self._closed = True
