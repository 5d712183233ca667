"""Rebuilding a simulated account from the journal after a restart.

The paper venue lives in the process, so the journal is its durable record. Fills are re-applied in journal
order (positions, wallet, realised P&L); each order's progress is taken from its fills, so an order whose
last update the crash lost still resumes with the right remainder. Orders that are not final go back on the
book in time priority with what the Order value carries: quantity and limit price (as last amended), a stop
order's trigger (its price), bracket links (its venue id), and in its reason a pending cancel, a pending
amendment, and for an amended order the stop-limit trigger in force and the time an amendment re-queued it.
The stop of a stop-limit order never amended and the time in force come from the write-ahead intents when
given. A journaled intent the venue never answered is placed as if it had been.

After ``restore`` the caller feeds every bar already processed through ``observe`` (as the runtime's warm-up
does): that teaches prices, marks orders that were live as arrived, and charges past funding times on the
positions held then, exactly as the uninterrupted run did.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import attrs

from app.adapters.brokers.sim.book import Working
from app.adapters.brokers.sim.orders import Brackets, amended_state, pending_amendment, pending_cancel_at
from app.adapters.brokers.sim.venue import Venue
from app.domain.money import ZERO
from app.domain.values import Fill, Order, OrderIntent, OrderStatus, OrderType, Position, TimeInForce

__all__ = ["IntentLookup", "restore_venue"]

IntentLookup = Callable[[str], OrderIntent | None]
"""client order id -> the write-ahead intent (``Storage.intent``)."""

_SIM_ORDER = re.compile(r"^sim-[a-z]+-(\d+)$")
_BROKER_ID = re.compile(r"^sim-(\d+)$")
_LONG_AGO = datetime.min.replace(tzinfo=UTC)


def restore_venue(
    venue: Venue,
    orders: Sequence[Order],
    fills: Sequence[Fill],
    positions: Sequence[Position],
    intents: IntentLookup | None = None,
) -> None:
    """Rebuild ``venue`` (fresh) from the journal's orders, fills and positions of its asset."""
    if venue.ledger.orders or venue.ledger.fills:
        msg = "restore() needs a fresh simulated account"
        raise RuntimeError(msg)
    asset = venue.config.asset
    mine = [o for o in orders if o.asset == asset]
    by_cid = {o.client_order_id: o for o in mine}
    progress: dict[str, list[Fill]] = {}
    for fill in fills:
        if fill.asset != asset:
            continue
        order = by_cid.get(fill.client_order_id)
        venue.account.book(fill, order.strategy_id if order else "", order.reason if order else "")
        venue.ledger.restore_fill(fill)
        progress.setdefault(fill.client_order_id, []).append(fill)
    venue.seq = _highest(_SIM_ORDER, (o.client_order_id for o in mine))
    venue.accepted = _highest(_BROKER_ID, (o.broker_order_id for o in mine))
    for order in mine:
        _restore_order(venue, _with_fills(order, progress.get(order.client_order_id, [])), intents)
    for entry, done in progress.items():
        if entry in venue.brackets.children and done:
            venue.brackets.entry_bar[entry] = _LONG_AGO  # filled before the restart: its exits all work
    _restore_protection(venue, positions)


def _highest(pattern: re.Pattern[str], ids: Iterable[str]) -> int:
    return max((int(found.group(1)) for i in ids if (found := pattern.match(i))), default=0)


def _with_fills(order: Order, fills: list[Fill]) -> Order:
    """The order's progress as its journaled fills tell it (the truth when its last update was lost)."""
    if order.status.is_terminal or not fills:
        return order
    filled = sum((f.qty for f in fills), ZERO)
    avg = sum((f.qty * f.price for f in fills), ZERO) / filled
    status = OrderStatus.FILLED if filled >= order.qty else OrderStatus.PARTIALLY_FILLED
    fee = sum((f.fee for f in fills), ZERO)
    return attrs.evolve(order, status=status, filled_qty=filled, avg_price=avg, fee=fee)


def _restore_order(venue: Venue, order: Order, intents: IntentLookup | None) -> None:
    cid = order.client_order_id
    if order.status.is_terminal:
        venue.ledger.put(order)
        return
    link = Brackets.parse_broker_id(order.broker_order_id)
    if link is not None:
        venue.brackets.link(link[0], cid, link[1])
    broker_id = order.broker_order_id
    if not broker_id:
        venue.accepted += 1
        broker_id = f"sim-{venue.accepted:08d}"
    status = OrderStatus.PARTIALLY_FILLED if order.filled_qty > ZERO else OrderStatus.ACCEPTED
    venue.ledger.put(attrs.evolve(order, status=status, broker_order_id=broker_id))
    intent = intents(cid) if intents is not None else None
    amended_stop, queued = amended_state(order.reason)
    stop = _trigger(order, intent, amended_stop)
    if order.order_type is OrderType.STOP_LIMIT and stop is None:
        reason = "restore: the stop-limit trigger is unknown (no intent)"
        venue.ledger.update(cid, order.updated_at, status=OrderStatus.CANCELLED, reason=reason)
        return
    pending = pending_amendment(order.reason)
    venue.placed += 1
    venue.book.add(
        Working(
            cid=cid,
            symbol=order.symbol,
            tif=intent.time_in_force if intent is not None else TimeInForce.GTC,
            live_at=queued or order.created_at + venue.config.latency,
            stop=stop,
            seq=venue.placed,
            requeued=queued is not None,
            cancel_at=pending_cancel_at(order.reason),
            amend=pending[1] if pending else None,
            amend_at=pending[0] if pending else None,
        )
    )


def _trigger(order: Order, intent: OrderIntent | None, amended: Decimal | None) -> Decimal | None:
    """A stop order's trigger is its price (amended or not); a stop-limit's is the one its last amendment
    recorded, else the intent's."""
    if order.order_type is OrderType.STOP and order.price is not None:
        return order.price
    if order.order_type not in (OrderType.STOP, OrderType.STOP_LIMIT):
        return None
    if amended is not None and order.order_type is OrderType.STOP_LIMIT:
        return amended
    return intent.stop_price if intent is not None else None


def _restore_protection(venue: Venue, positions: Sequence[Position]) -> None:
    protected = {p.symbol: p for p in positions if p.asset == venue.config.asset}
    for symbol, position in list(venue.account.positions.items()):
        want = protected.get(symbol)
        if want is not None:
            venue.account.positions[symbol] = attrs.evolve(
                position, stop_loss=want.stop_loss, take_profit=want.take_profit
            )
