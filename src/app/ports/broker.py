"""The Broker port: what order_router, sl_tp_manager and pnl_reconciler need from a venue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from app.domain.values import (
    AccountSnapshot,
    Balance,
    Candle,
    Fill,
    FundingPayment,
    Instrument,
    Order,
    OrderIntent,
    Position,
)

__all__ = ["Broker", "BrokerEvent", "MarketDriven", "PaperAccount"]

BrokerEvent = Order | Fill | FundingPayment
"""What a broker reports asynchronously: an order's new state, an execution, or a perpetual's funding
settlement (identified by ``funding_id``: a venue may report the same one again)."""


@runtime_checkable
class Broker(Protocol):
    """One venue account for one asset (its wallet is that asset's bucket).

    Methods raise the errors in ``app.ports.errors``: BrokerRejected (nothing created),
    OrderOutcomeUnknown (ambiguous: reconcile by client id), DuplicateClientOrderId (fetch it).
    """

    async def instrument(self, symbol: str) -> Instrument:
        """The symbol's tick size, lot step and minimums."""
        ...

    async def place_order(self, intent: OrderIntent) -> Order:
        """Send an order; returns the broker's acknowledgement (status submitted/accepted/rejected)."""
        ...

    async def cancel_order(self, symbol: str, client_order_id: str) -> Order:
        """Cancel a working order; returns its final state."""
        ...

    async def amend_order(
        self,
        symbol: str,
        client_order_id: str,
        *,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> Order:
        """Change a working order in place, keeping its client id (Bybit /v5/order/amend, IBKR's re-sent order
        with the same id). ``qty`` is the new total quantity, above what has already filled; ``price`` the
        limit price; ``stop_price`` the trigger of a stop not yet fired; None keeps a term. Returns the
        broker's view: the amended order, or with a delay the order still on its old terms (the amended
        state then arrives through ``drain_events``).

        Raises BrokerRejected when the order is unknown or final (filled, cancelled: Bybit 110001, 110010,
        170139), or the amendment is invalid (nothing changes, a quantity not above the filled one: 110064,
        off the tick or lot step, a term the order type does not have); the order is then unchanged.
        Raises OrderOutcomeUnknown when the answer is lost: the amendment may or may not apply; fetch the
        order with ``get_order`` rather than amend again.
        """
        ...

    async def get_order(self, client_order_id: str) -> Order | None:
        """The broker's view of an order by client id, or None if it never saw it."""
        ...

    async def open_orders(self) -> Sequence[Order]: ...

    async def positions(self) -> Sequence[Position]: ...

    async def balances(self) -> Sequence[Balance]: ...

    async def account(self) -> AccountSnapshot:
        """The account's cash and equity in its currency, as the broker values them (the P&L truth)."""
        ...

    async def rate(self, currency: str) -> Decimal | None:
        """Value of one unit of ``currency`` in the account currency, or None if the broker has none."""
        ...

    async def fills(self, since: datetime | None = None) -> Sequence[Fill]:
        """Executions, oldest first, optionally only those at or after ``since``."""
        ...

    async def set_trading_stop(
        self, symbol: str, stop_loss: Decimal | None, take_profit: Decimal | None
    ) -> None:
        """Attach (or replace) the server-side stop loss / take profit of the whole position."""
        ...

    async def drain_events(self) -> Sequence[BrokerEvent]:
        """Order updates, fills and funding payments since the last call, in the order they happened."""
        ...


@runtime_checkable
class MarketDriven(Protocol):
    """A simulated venue that advances on market data (the paper broker): it matches on each bar."""

    async def on_candle(self, candle: Candle) -> None:
        """Match working orders and protections against a new closed bar."""
        ...

    def observe(self, candle: Candle) -> None:
        """Learn the bar's prices without matching (warming up after a restart)."""
        ...


@runtime_checkable
class PaperAccount(Protocol):
    """A simulated account that accepts deposits (paper top-ups); real brokers do not implement it."""

    def deposit(self, currency: str, amount: Decimal) -> None:
        """Credit ``amount`` of ``currency`` to the account."""
        ...
