"""The venue's records: every order it knows with its fills and pending events (the ledger), and the
working orders with what the Order value does not say (trigger, time in force, latency, pending cancel)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

import attrs

from app.adapters.brokers.sim.faults import FaultInjector
from app.domain.values import Fill, Order, OrderStatus, TimeInForce
from app.ports.broker import BrokerEvent

__all__ = ["Ledger", "OrderBook", "Working"]


@attrs.define
class Working:
    """A working order's venue-side state.

    Args:
        stop: the trigger of a stop / stop-limit order not triggered yet.
        live_at: the order works on bars whose open time is at or after this (placement + latency).
        arrived: it has seen its first bar on the book (time in force is judged on that bar).
        cancel_at: a requested cancel takes effect on bars at or after this.
    """

    cid: str
    symbol: str
    tif: TimeInForce
    live_at: datetime
    stop: Decimal | None = None
    arrived: bool = False
    cancel_at: datetime | None = None


class OrderBook:
    """Working orders in time priority (placement order)."""

    def __init__(self) -> None:
        self._working: dict[str, Working] = {}

    def add(self, working: Working) -> None:
        self._working[working.cid] = working

    def get(self, cid: str) -> Working | None:
        return self._working.get(cid)

    def remove(self, cid: str) -> None:
        self._working.pop(cid, None)

    def __contains__(self, cid: object) -> bool:
        return cid in self._working

    def __iter__(self) -> Iterator[Working]:
        return iter(list(self._working.values()))

    def of_symbol(self, symbol: str) -> list[Working]:
        """A snapshot in time priority: matching may add or remove orders while it walks it."""
        return [w for w in self._working.values() if w.symbol == symbol]


class Ledger:
    """Every order the venue knows (by client id), every fill, and the events not yet drained."""

    def __init__(self, faults: FaultInjector) -> None:
        self.orders: dict[str, Order] = {}
        self.fills: list[Fill] = []
        self._fill_counts: dict[str, int] = {}
        self._outbox: list[BrokerEvent] = []
        self._faults = faults

    def put(self, order: Order) -> Order:
        """Store ``order`` without reporting it (the caller's answer reports it)."""
        self.orders[order.client_order_id] = order
        return order

    def announce(self, order: Order) -> Order:
        """Store ``order`` and report it."""
        self.orders[order.client_order_id] = order
        self._faults.emit(self._outbox, order)
        return order

    def update(self, cid: str, now: datetime, **changes: object) -> Order:
        """Change an order's state at ``now`` and report it."""
        order = self.orders[cid]
        updated = attrs.evolve(order, updated_at=now, **changes)  # type: ignore[arg-type]
        return self.announce(updated)

    def next_fill_id(self, cid: str) -> str:
        """``<cid>-<n>``: the n-th execution of the order."""
        count = self._fill_counts.get(cid, 0) + 1
        self._fill_counts[cid] = count
        return f"{cid}-{count}"

    def record_fill(self, fill: Fill) -> None:
        self.fills.append(fill)
        self._faults.emit(self._outbox, fill)

    def restore_fill(self, fill: Fill) -> None:
        """A journaled fill: known, counted, not reported again."""
        self.fills.append(fill)
        self._fill_counts[fill.client_order_id] = self._fill_counts.get(fill.client_order_id, 0) + 1

    def drain(self) -> list[BrokerEvent]:
        events, self._outbox = self._outbox, []
        return self._faults.deliver(events)

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if not o.status.is_terminal]

    def is_working(self, cid: str) -> bool:
        order = self.orders.get(cid)
        return order is not None and not order.status.is_terminal and order.status is not OrderStatus.NEW
