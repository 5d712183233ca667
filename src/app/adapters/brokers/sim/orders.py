"""Order rules of the simulated venue: what an intent must satisfy to be accepted, how bracket exits are
linked to their entry, and how a pending cancel is written on the order (so a restart can see it).

The links and the pending cancel live in the Order value itself (``broker_order_id`` ``oco:<entry>:<sl|tp>``,
``reason`` ``... cancel pending until <time>``): the journal stores Orders, and ``restore`` rebuilds from it.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

import attrs

from app.domain.ids import is_valid_client_order_id
from app.domain.money import ZERO
from app.domain.values import Instrument, OrderIntent, OrderType, TimeInForce

__all__ = [
    "Brackets",
    "bracket_exits",
    "pending_cancel_at",
    "pending_cancel_reason",
    "validate_intent",
    "without_pending_cancel",
]

_PENDING = "cancel pending until "
_PENDING_RE = re.compile(r"(?:^|; )cancel pending until (\S+)$")
_OCO_RE = re.compile(r"^oco:([A-Za-z0-9_-]{1,36}):(sl|tp)$")


class Brackets:
    """IBKR-style bracket links: an entry and its one-cancels-other exits."""

    def __init__(self) -> None:
        self.children: dict[str, tuple[str, ...]] = {}
        self.parent: dict[str, tuple[str, str]] = {}
        self.entry_bar: dict[str, datetime] = {}

    def link(self, entry: str, child: str, kind: str) -> None:
        self.children[entry] = (*self.children.get(entry, ()), child)
        self.parent[child] = (entry, kind)

    @staticmethod
    def broker_id(entry: str, kind: str) -> str:
        """The venue id of an exit: names its entry and whether it is the stop loss or take profit."""
        return f"oco:{entry}:{kind}"

    @staticmethod
    def parse_broker_id(broker_id: str) -> tuple[str, str] | None:
        """``(entry, kind)`` of an exit's venue id, or None for any other order."""
        found = _OCO_RE.match(broker_id)
        return (found.group(1), found.group(2)) if found else None


def bracket_exits(
    entry: OrderIntent,
    stop_loss: Decimal | None,
    take_profit: Decimal | None,
    stop_loss_id: str | None,
    take_profit_id: str | None,
    seq: int,
) -> list[tuple[str, OrderIntent]]:
    """The exits of a bracket as ``(kind, intent)``: a reduce-only stop at ``stop_loss`` ("sl") and limit at
    ``take_profit`` ("tp"), opposite the entry, for its quantity. Ids not given are ``sim-b<kind>-<n>``
    numbered on from ``seq``."""
    exits = []
    for kind, level, given in (("sl", stop_loss, stop_loss_id), ("tp", take_profit, take_profit_id)):
        if level is None:
            continue
        if given is None:
            seq += 1
        order_type = OrderType.STOP if kind == "sl" else OrderType.LIMIT
        intent = attrs.evolve(
            entry,
            client_order_id=given or f"sim-b{kind}-{seq:08d}",
            side=entry.side.opposite,
            order_type=order_type,
            price=level if order_type is OrderType.LIMIT else None,
            stop_price=level if order_type is OrderType.STOP else None,
            time_in_force=TimeInForce.GTC,
            reduce_only=True,
            stop_loss=None,
            take_profit=None,
        )
        exits.append((kind, intent))
    return exits


def pending_cancel_reason(reason: str, at: datetime) -> str:
    mark = f"{_PENDING}{at.isoformat()}"
    return f"{reason}; {mark}" if reason else mark


def without_pending_cancel(reason: str) -> str:
    return _PENDING_RE.sub("", reason)


def pending_cancel_at(reason: str) -> datetime | None:
    """When the cancel written on an order's ``reason`` takes effect, if one is pending."""
    found = _PENDING_RE.search(reason)
    return datetime.fromisoformat(found.group(1)) if found else None


def validate_intent(intent: OrderIntent, instrument: Instrument, last: Decimal | None) -> str:
    """Why the venue refuses ``intent`` at once ("" when it accepts it). ``last`` is the last traded price,
    used for the minimum notional of orders without a price."""
    if not is_valid_client_order_id(intent.client_order_id):
        return f"client order id {intent.client_order_id!r} is not 1-36 characters of [A-Za-z0-9_-]"
    return (
        _quantity_problem(intent, instrument)
        or _price_problem(intent, instrument)
        or _notional_problem(intent, instrument, last)
    )


def _quantity_problem(intent: OrderIntent, instrument: Instrument) -> str:
    if intent.qty <= 0:
        return f"quantity must be positive, got {intent.qty}"
    if instrument.round_qty(intent.qty) != intent.qty:
        return f"quantity {intent.qty} is not a multiple of the lot step {instrument.lot_step}"
    if intent.qty < instrument.min_qty:
        return f"quantity {intent.qty} is below the minimum {instrument.min_qty}"
    return ""


def _price_problem(intent: OrderIntent, instrument: Instrument) -> str:
    kind = intent.order_type
    needs_limit = kind in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = kind in (OrderType.STOP, OrderType.STOP_LIMIT)
    if intent.time_in_force is TimeInForce.POST_ONLY and not needs_limit:
        return f"post-only needs a limit price: a {kind.value} order always takes liquidity"
    return (
        (needs_limit and _level_problem(kind, "limit price", intent.price, instrument))
        or (needs_stop and _level_problem(kind, "stop price", intent.stop_price, instrument))
        or ""
    )


def _level_problem(kind: OrderType, name: str, price: Decimal | None, instrument: Instrument) -> str:
    if price is None or price <= ZERO:
        return f"a {kind.value} order needs a positive {name}, got {price}"
    if instrument.round_price(price) != price:
        return f"{name} {price} is not a multiple of the tick {instrument.tick_size}"
    return ""


def _notional_problem(intent: OrderIntent, instrument: Instrument, last: Decimal | None) -> str:
    reference = next((p for p in (intent.price, intent.stop_price, last) if p is not None), None)
    if instrument.min_notional <= ZERO or reference is None:
        return ""
    notional = intent.qty * reference
    if notional < instrument.min_notional:
        return f"order value {notional} is below the minimum {instrument.min_notional}"
    return ""
