"""The venue's records: every order it knows with its fills and pending events (the ledger), and the
working orders with what the Order value does not say (trigger, time in force, latency, time priority,
pending cancel or amendment)."""

from __future__ import annotations

from collections.abc import Iterator, ValuesView
from datetime import datetime
from decimal import Decimal

import attrs

from app.adapters.brokers.sim.faults import FaultInjector
from app.adapters.brokers.sim.orders import Amendment
from app.domain.values import Fill, Order, OrderStatus, TimeInForce
from app.ports.broker import BrokerEvent

__all__ = ["Ledger", "OrderBook", "Working"]


@attrs.define
class Working:
    """A working order's venue-side state.

    Args:
        stop: the trigger of a stop / stop-limit order not triggered yet.
        live_at: the order works on bars whose open time is at or after this (placement + latency; for an
            order an amendment re-queued, when that amendment took effect).
        seq: placement order (ties between orders reaching the book at the same time).
        requeued: an amendment sent it to the back of the queue (see ``OrderBook``).
        arrived: it has seen its first bar on the book (time in force is judged on that bar).
        cancel_at: a requested cancel takes effect on bars at or after this.
        amend / amend_at: a requested amendment and the time it takes effect (the old terms work until then).
    """

    cid: str
    symbol: str
    tif: TimeInForce
    live_at: datetime
    stop: Decimal | None = None
    seq: int = 0
    requeued: bool = False
    arrived: bool = False
    cancel_at: datetime | None = None
    amend: Amendment | None = None
    amend_at: datetime | None = None

    @property
    def priority(self) -> tuple[datetime, bool, int]:
        return self.live_at, self.requeued, self.seq


class OrderBook:
    """Working orders in time priority: by the time each reached the book (placement + latency, or the time
    an amendment that re-queued it took effect), then placement order. At the same instant new placements
    come before re-queued orders, so the order is a function of what the Order values record and a restored
    book queues exactly as the uninterrupted one did.
    """

    def __init__(self) -> None:
        self._working: dict[str, Working] = {}
        self._ordered = True

    def add(self, working: Working) -> None:
        if self._ordered:  # once unordered, the next sort puts this one in its place too
            last = next(reversed(self._working.values()), None)
            if last is not None and _before(working, last):
                self._ordered = False
        self._working[working.cid] = working

    def requeue(self, working: Working, at: datetime) -> None:
        """Send ``working`` behind every order that reached the book before ``at``; it arrives anew."""
        working.live_at = max(working.live_at, at)
        working.requeued = True
        working.arrived = False
        self._ordered = False

    def get(self, cid: str) -> Working | None:
        return self._working.get(cid)

    def remove(self, cid: str) -> None:
        self._working.pop(cid, None)

    def __contains__(self, cid: object) -> bool:
        return cid in self._working

    def __iter__(self) -> Iterator[Working]:
        return iter(list(self._in_priority()))

    def of_symbol(self, symbol: str) -> list[Working]:
        """A snapshot in time priority: matching may add or remove orders while it walks it."""
        return [w for w in self._in_priority() if w.symbol == symbol]

    def _in_priority(self) -> ValuesView[Working]:
        """The live view, sorted first if needed: callers copy it before the book can change."""
        if not self._ordered:
            ordered = sorted(self._working.values(), key=lambda w: w.priority)
            self._working = {w.cid: w for w in ordered}
            self._ordered = True
        return self._working.values()


def _before(a: Working, b: Working) -> bool:
    """``a.priority < b.priority``, field by field: each placement asks, and building the two tuples costs
    more than the comparison (placements arriving together compare equal times, then flags, then seqs)."""
    if a.live_at != b.live_at:
        return a.live_at < b.live_at
    if a.requeued != b.requeued:
        return a.requeued < b.requeued
    return a.seq < b.seq


class Ledger:
    """Every order the venue knows (by client id), every fill, and the events not yet drained."""

    def __init__(self, faults: FaultInjector) -> None:
        self.orders: dict[str, Order] = {}
        # The orders not final yet, in the order first stored, kept as ``orders`` changes (written only by
        # ``put`` and ``announce``): read before every order, it must not walk a whole run's orders.
        self._open: dict[str, Order] = {}
        self.fills: list[Fill] = []
        self._fill_counts: dict[str, int] = {}
        self._outbox: list[BrokerEvent] = []
        self._faults = faults

    def put(self, order: Order) -> Order:
        """Store ``order`` without reporting it (the caller's answer reports it)."""
        self._store(order)
        return order

    def announce(self, order: Order) -> Order:
        """Store ``order`` and report it."""
        self._store(order)
        self._faults.emit(self._outbox, order)
        return order

    def _store(self, order: Order) -> None:
        cid = order.client_order_id
        self.orders[cid] = order
        if order.status.is_terminal:
            self._open.pop(cid, None)
        else:
            self._open[cid] = order

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

    def report(self, event: BrokerEvent) -> None:
        """Report an event that is neither an order's state nor a fill (a funding settlement)."""
        self._faults.emit(self._outbox, event)

    def restore_fill(self, fill: Fill) -> None:
        """A journaled fill: known, counted, not reported again."""
        self.fills.append(fill)
        self._fill_counts[fill.client_order_id] = self._fill_counts.get(fill.client_order_id, 0) + 1

    def drain(self) -> list[BrokerEvent]:
        events, self._outbox = self._outbox, []
        return self._faults.deliver(events)

    def open_orders(self) -> list[Order]:
        """The orders not final yet, in the order the venue first stored them."""
        return list(self._open.values())

    def is_working(self, cid: str) -> bool:
        order = self.orders.get(cid)
        return order is not None and not order.status.is_terminal and order.status is not OrderStatus.NEW
