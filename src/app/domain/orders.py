"""The order lifecycle state machine: an explicit table of allowed transitions, and fills applied
idempotently by fill id."""

from __future__ import annotations

from decimal import Decimal
from typing import final

import attrs

from app.domain.errors import AppError, InvalidTransition
from app.domain.values import Fill, Order, OrderStatus

__all__ = ["TRANSITIONS", "FillMismatch", "FillOutcome", "apply_fill", "can_transition", "transition"]

_S = OrderStatus

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    _S.NEW: frozenset({_S.SUBMITTED, _S.REJECTED, _S.IN_FLIGHT_UNKNOWN}),
    _S.SUBMITTED: frozenset(
        {
            _S.ACCEPTED,
            _S.PARTIALLY_FILLED,
            _S.FILLED,
            _S.CANCELLED,
            _S.REJECTED,
            _S.EXPIRED,
            _S.IN_FLIGHT_UNKNOWN,
        }
    ),
    # A venue may still refuse an accepted order when it would fill (funds, margin, post-only, reduce-only).
    _S.ACCEPTED: frozenset(
        {_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELLED, _S.REJECTED, _S.EXPIRED, _S.IN_FLIGHT_UNKNOWN}
    ),
    _S.PARTIALLY_FILLED: frozenset(
        {_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELLED, _S.EXPIRED, _S.IN_FLIGHT_UNKNOWN}
    ),
    # An ambiguous outcome is settled by asking the broker: any answer it gives is possible.
    _S.IN_FLIGHT_UNKNOWN: frozenset(
        {_S.SUBMITTED, _S.ACCEPTED, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELLED, _S.REJECTED, _S.EXPIRED}
    ),
    _S.FILLED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.EXPIRED: frozenset(),
}


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    """True when the table allows ``current -> target`` (staying in place is always allowed)."""
    return current == target or target in TRANSITIONS[current]


def transition(current: OrderStatus, target: OrderStatus) -> OrderStatus:
    """``target`` if the table allows it. Raises InvalidTransition otherwise."""
    if not can_transition(current, target):
        msg = f"order cannot go from {current.value} to {target.value}"
        raise InvalidTransition(msg)
    return target


class FillMismatch(AppError):
    """A fill that cannot belong to the order (another order, side or symbol) or that overfills it."""


@final
@attrs.frozen
class FillOutcome:
    """The order after a fill, the fill ids seen so far, and whether this fill changed anything."""

    order: Order
    seen_fill_ids: frozenset[str]
    applied: bool


def apply_fill(order: Order, fill: Fill, seen_fill_ids: frozenset[str]) -> FillOutcome:
    """Apply one fill to ``order``, idempotently by fill id: a fill id already seen changes nothing.

    Filled quantity, average price (volume-weighted), fees and status (partially filled, then filled) move
    together; ``updated_at`` becomes the fill's time. A fill for a ``new`` order is proof it was submitted,
    so the order passes through ``submitted`` on the way.

    Raises:
        FillMismatch: the fill is for another order, side or symbol, or takes ``filled_qty`` past ``qty``.
        InvalidTransition: the order is in a state that takes no fills (cancelled, rejected, ...).
    """
    if fill.fill_id in seen_fill_ids:
        return FillOutcome(order, seen_fill_ids, applied=False)
    if (fill.client_order_id, fill.symbol, fill.side) != (order.client_order_id, order.symbol, order.side):
        msg = (
            f"fill {fill.fill_id} ({fill.client_order_id} {fill.side} {fill.symbol}) does not belong to "
            f"order {order.client_order_id} ({order.side} {order.symbol})"
        )
        raise FillMismatch(msg)
    filled = order.filled_qty + fill.qty
    if fill.qty <= 0 or filled > order.qty:
        msg = (
            f"fill {fill.fill_id} of {fill.qty} would fill {filled} of {order.client_order_id}'s {order.qty}"
        )
        raise FillMismatch(msg)
    current = transition(order.status, _S.SUBMITTED) if order.status is _S.NEW else order.status
    target = transition(current, _S.FILLED if filled == order.qty else _S.PARTIALLY_FILLED)
    paid = (order.avg_price or Decimal(0)) * order.filled_qty + fill.price * fill.qty
    updated = attrs.evolve(
        order,
        status=target,
        filled_qty=filled,
        avg_price=paid / filled,
        fee=order.fee + fill.fee,
        updated_at=fill.ts,
    )
    return FillOutcome(updated, seen_fill_ids | {fill.fill_id}, applied=True)
