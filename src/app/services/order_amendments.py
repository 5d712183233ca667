"""order_router's amendments of working orders, written ahead like placements.

``amend_requested`` (with the new terms) commits before the broker is called, then ``order_amended`` with
the answer, ``amend_rejected`` with a refusal (the broker's, or order_router's own without asking the broker),
or ``amend_unknown`` when the answer was lost and fetching the order by client id does not show the new terms.
An ambiguous answer is never settled by amending again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import final

from app.domain.values import Asset, Order, OrderStatus, OrderType
from app.ports.broker import Broker
from app.ports.clock import Clock
from app.ports.errors import BrokerError, BrokerRejected, BrokerUnavailable, OrderOutcomeUnknown
from app.ports.storage import Storage

__all__ = ["OrderAmendments", "RepricedEntryCheck"]

log = logging.getLogger("app.order_router")

RepricedEntryCheck = Callable[[Order, Decimal | None, Decimal], Awaitable[tuple[str, str] | None]]
"""(stored entry, new quantity or None, the price it would now fill at) -> (code, reason) when order_router's
pipeline would not pass what is left of the entry whole at that price, else None."""


@final
class OrderAmendments:
    """Amends orders for order_router (``OrderRouter.amend_order`` documents the rules)."""

    def __init__(
        self,
        *,
        storage: Storage,
        clock: Clock,
        broker: Callable[[Asset], Broker],
        repriced_entry_refusal: RepricedEntryCheck,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._broker = broker
        self._repriced_entry_refusal = repriced_entry_refusal

    async def amend(
        self,
        asset: Asset,
        symbol: str,
        client_order_id: str,
        *,
        qty: Decimal | None,
        price: Decimal | None,
        stop_price: Decimal | None,
        reason: str,
    ) -> Order:
        """The order as the broker answered the amendment, now stored; BrokerRejected when refused."""
        given = (("qty", qty), ("price", price), ("stop_price", stop_price))
        terms = {name: str(value) for name, value in given if value is not None}
        fields: dict[str, object] = {"client_order_id": client_order_id, "symbol": symbol, **terms}
        fields["reason"] = reason
        stored = self._storage.get_order(client_order_id)
        refusal = self._refusal(stored, asset, symbol, qty, terms)
        entry_price = price if price is not None else stop_price  # where the entry would now fill
        if refusal is None and stored is not None and entry_price is not None and not stored.reduce_only:
            refusal = await self._repriced_entry_refusal(stored, qty, entry_price)
        if refusal is not None:
            self._journal("amend_rejected", fields, code=refusal[0], error=refusal[1])
            raise BrokerRejected(f"cannot amend {client_order_id}: {refusal[1]}", code=refusal[0])
        self._journal("amend_requested", fields)
        broker = self._broker(asset)
        try:
            answer = await broker.amend_order(
                symbol, client_order_id, qty=qty, price=price, stop_price=stop_price
            )
        except OrderOutcomeUnknown as e:
            log.warning("amend outcome unknown", extra={"client_order_id": client_order_id})
            return await self._settle(broker, fields, (qty, price, stop_price), str(e))
        except (BrokerRejected, BrokerUnavailable) as e:
            code = e.code if isinstance(e, BrokerRejected) else "unavailable"
            self._journal("amend_rejected", fields, code=code, error=str(e))
            raise
        self._journal("order_amended", fields, answer)
        return answer

    def _refusal(
        self, stored: Order | None, asset: Asset, symbol: str, qty: Decimal | None, terms: Mapping[str, str]
    ) -> tuple[str, str] | None:
        """(code, reason) when order_router itself refuses an amendment, else None."""
        if not terms:
            return "nothing_to_amend", "give a new quantity, limit price or stop price"
        if stored is None:
            return "unknown_order", "the journal has no such order"
        if (stored.asset, stored.symbol) != (asset, symbol):
            where = f"a {stored.asset.value} order on {stored.symbol}, not {asset.value} {symbol}"
            return "unknown_order", f"it is {where}"
        if stored.status.is_terminal:
            return "order_final", f"it is {stored.status.value}: nothing is left to amend"
        if stored.status in (OrderStatus.NEW, OrderStatus.IN_FLIGHT_UNKNOWN):
            return "order_unconfirmed", f"it is {stored.status.value}: resolve it with the broker first"
        intent = self._storage.intent(stored.client_order_id)
        approved = intent.qty if intent is not None else stored.qty
        if qty is not None and qty > approved and not stored.reduce_only:
            why = f"the new quantity {qty} is above the {approved} the order pipeline approved"
            return "above_approved", why
        return None

    async def _settle(
        self,
        broker: Broker,
        fields: dict[str, object],
        wanted: tuple[Decimal | None, Decimal | None, Decimal | None],
        error: str,
    ) -> Order:
        """The amendment's answer was lost: the order as the broker has it now decides what is journaled."""
        cid, cause = str(fields["client_order_id"]), None
        try:
            truth = await broker.get_order(cid)
        except BrokerError as e:
            truth, cause = None, e
        if truth is None:
            error += (
                f"; fetching the order failed: {cause}" if cause else "; the broker does not know the order"
            )
            self._journal("amend_unknown", fields, error=error)
            raise OrderOutcomeUnknown(f"amendment of {cid}: {error}") from cause
        kind = "order_amended" if _shows_terms(truth, *wanted) else "amend_unknown"
        self._journal(kind, fields, truth, error=error)
        return truth

    def _journal(
        self, kind: str, fields: Mapping[str, object], order: Order | None = None, **more: str
    ) -> None:
        """One amendment journal entry, with the order as the broker answered it (saved in the same commit)."""
        with self._storage.transaction():
            if order is not None:
                self._storage.save_order(order)
                more = {"status": order.status.value, "answer": order.reason, **more}
            self._storage.append_event(self._clock.now(), kind, {**fields, **more})


def _shows_terms(
    order: Order, qty: Decimal | None, price: Decimal | None, stop_price: Decimal | None
) -> bool:
    """True when ``order`` visibly carries every given term (a stop-limit's trigger is not visible)."""
    visible_stop = order.price if order.order_type is OrderType.STOP else None
    return (
        (qty is None or order.qty == qty)
        and (price is None or (order.order_type is not OrderType.STOP and order.price == price))
        and (stop_price is None or visible_stop == stop_price)
    )
