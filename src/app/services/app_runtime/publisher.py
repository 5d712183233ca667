"""Turns what one runtime step changed into events on the bus.

A step is a processed bar or an operator action. The publisher compares the store's open positions and
working orders with what it last published, forwards the journal entries written since, and the closed trades
and account valuations the runtime hands it. It is only called while the bus has subscribers, so a headless
run pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.values import AccountSnapshot, Asset, ClosedTrade, Order, Position
from app.ports.storage import JournalEvent, Storage
from app.services.app_runtime.controls import WalletSource
from app.services.runtime_events import (
    AccountUpdated,
    BarProcessed,
    EventBus,
    LogEvent,
    OrderUpdated,
    PositionsChanged,
    TradeClosed,
)

__all__ = ["StatePublisher", "valuation"]


def valuation(accounts: tuple[AccountSnapshot, ...], sessions: WalletSource | None) -> AccountUpdated:
    """The brokers' valuations with each asset's paper reward and epoch (when sessions are wired in)."""
    wallets = {a: sessions.wallet(a) for a in Asset} if sessions is not None else {}
    return AccountUpdated(
        accounts,
        rewards={a: w.reward for a, w in wallets.items() if w is not None},
        epochs={a: w.epoch for a, w in wallets.items() if w is not None},
    )


class StatePublisher:
    def __init__(self, storage: Storage, bus: EventBus) -> None:
        self._storage = storage
        self._bus = bus
        self._positions: tuple[Position, ...] = ()
        self._orders: tuple[Order, ...] = ()
        self._closed: list[ClosedTrade] = []
        self.journal_seq = 0

    def add_closed(self, trades: Sequence[ClosedTrade]) -> None:
        """Round trips closed since the last step (published with it)."""
        if self._bus.has_subscribers:
            self._closed.extend(trades)

    def publish_step(self, valuation: AccountUpdated, bar: BarProcessed | None = None) -> None:
        """Closed trades, changed orders and positions, accounts, new journal entries, then the bar."""
        publish = self._bus.publish
        for trade in self._closed:
            publish(TradeClosed(trade))
        self._closed.clear()
        self._publish_orders_and_positions()
        publish(valuation)
        for seq, ts, kind, fields in self._storage.events(after_seq=self.journal_seq):
            publish(LogEvent(seq, ts, kind, fields))
            self.journal_seq = seq
        if bar is not None:
            publish(bar)

    def journal(self, limit: int) -> list[JournalEvent]:
        """The last ``limit`` journal entries already published (or written before the run), oldest first."""
        entries = self._storage.events(after_seq=max(0, self.journal_seq - limit))
        return [entry for entry in entries if entry[0] <= self.journal_seq][-limit:]

    def _publish_orders_and_positions(self) -> None:
        positions = tuple(self._storage.positions())
        orders = tuple(self._storage.orders(open_only=True))
        if positions == self._positions and orders == self._orders:
            return
        still_open = {o.client_order_id for o in orders}
        for order in self._orders:
            if order.client_order_id not in still_open:
                final = self._storage.get_order(order.client_order_id)
                self._bus.publish(OrderUpdated(final if final is not None else order))
        for order in orders:
            if order not in self._orders:
                self._bus.publish(OrderUpdated(order))
        self._bus.publish(PositionsChanged(positions, orders))
        self._positions, self._orders = positions, orders
