"""Order rules of the simulated venue: what an intent or an amendment must satisfy to be accepted, how
bracket exits are linked to their entry, and how a pending cancel or amendment is written on the order (so a
restart can see it).

The links, the pending cancel and the amendments live in the Order value itself: ``broker_order_id``
``oco:<entry>:<sl|tp>``; ``reason`` segments (``; ``-separated, the pending cancel last)
``amend pending until <time>: qty <q>, price <p>, stop <s>``, ``amend rejected: <why>`` and
``amended at <time>[, stop <s>][, queued <time>]`` (the trigger of an untriggered stop-limit order, which the
Order value has no field for, and the time an amendment re-queued the order), ``cancel pending until <time>``.
The journal stores Orders, and ``restore`` rebuilds from it.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

import attrs

from app.domain.ids import is_valid_client_order_id
from app.domain.money import ZERO
from app.domain.values import Instrument, Order, OrderIntent, OrderType, TimeInForce

__all__ = [
    "TRIGGERED_BY_STOP",
    "Amendment",
    "Brackets",
    "amended_reason",
    "amended_state",
    "amended_terms",
    "amendment_problem",
    "amendment_rejected_reason",
    "bracket_exits",
    "pending_amend_reason",
    "pending_amendment",
    "pending_cancel_at",
    "pending_cancel_reason",
    "validate_intent",
    "without_pending_cancel",
]

_PENDING = "cancel pending until "
_PENDING_RE = re.compile(r"(?:^|; )cancel pending until (\S+)$")
_OCO_RE = re.compile(r"^oco:([A-Za-z0-9_-]{1,36}):(sl|tp)$")
_AMEND_PENDING = "amend pending until "
_AMEND_REJECTED = "amend rejected: "
_AMENDED = "amended at "
_TERM_RE = re.compile(r"^(qty|price|stop|queued) (\S+)$")
_LIMITED = (OrderType.LIMIT, OrderType.STOP_LIMIT)
# The order types a stop price triggers (their stop price is their trigger).
TRIGGERED_BY_STOP = (OrderType.STOP, OrderType.STOP_LIMIT)
_POST_ONLY = TimeInForce.POST_ONLY  # read once: an Enum member lookup costs several globals (every placement)


@attrs.frozen
class Amendment:
    """New terms for a working order; None leaves a term as it is. ``qty`` is the new total quantity
    (filled part included), ``price`` the limit price, ``stop`` the trigger."""

    qty: Decimal | None = None
    price: Decimal | None = None
    stop: Decimal | None = None

    @property
    def empty(self) -> bool:
        return self.qty is None and self.price is None and self.stop is None

    def describe(self) -> str:
        """``qty 2, price 99, stop 101``: the terms it sets."""
        terms = (("qty", self.qty), ("price", self.price), ("stop", self.stop))
        return ", ".join(f"{name} {value}" for name, value in terms if value is not None)


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
    return _terms_problem(intent, instrument, last)


def _terms_problem(intent: OrderIntent, instrument: Instrument, last: Decimal | None) -> str:
    """The first problem with the terms of ``intent``: its quantity, then its prices, then its value.

    One function with plain ifs, not one per check: every placement passes through all of them, and a
    market order (most of them) needs only the quantity checks and two type tests.
    """
    qty = intent.qty
    if qty <= 0:
        return f"quantity must be positive, got {qty}"
    if instrument.round_qty(qty) != qty:
        return f"quantity {qty} is not a multiple of the lot step {instrument.lot_step}"
    if qty < instrument.min_qty:
        return f"quantity {qty} is below the minimum {instrument.min_qty}"
    kind = intent.order_type
    needs_limit = kind in _LIMITED
    if intent.time_in_force is _POST_ONLY and not needs_limit:
        return f"post-only needs a limit price: a {kind.value} order always takes liquidity"
    if needs_limit:
        problem = _level_problem(kind, "limit price", intent.price, instrument)
        if problem:
            return problem
    if kind in TRIGGERED_BY_STOP:
        problem = _level_problem(kind, "stop price", intent.stop_price, instrument)
        if problem:
            return problem
    return _notional_problem(intent, instrument, last) if instrument.min_notional > ZERO else ""


def _level_problem(kind: OrderType, name: str, price: Decimal | None, instrument: Instrument) -> str:
    if price is None or price <= ZERO:
        return f"a {kind.value} order needs a positive {name}, got {price}"
    if instrument.round_price(price) != price:
        return f"{name} {price} is not a multiple of the tick {instrument.tick_size}"
    return ""


def _notional_problem(intent: OrderIntent, instrument: Instrument, last: Decimal | None) -> str:
    """The order's value against the instrument's minimum (a positive one)."""
    reference = intent.price  # the first price given: the limit, else the stop, else the last trade
    if reference is None:
        reference = intent.stop_price if intent.stop_price is not None else last
    if reference is None:
        return ""
    notional = intent.qty * reference
    if notional < instrument.min_notional:
        return f"order value {notional} is below the minimum {instrument.min_notional}"
    return ""


# -- amendments -------------------------------------------------------------------------------------------


def amendment_problem(
    order: Order,
    stop: Decimal | None,
    tif: TimeInForce,
    amendment: Amendment,
    instrument: Instrument,
    last: Decimal | None,
    *,
    is_exit: bool,
) -> str:
    """Why the venue refuses ``amendment`` of the working ``order`` now ("" when it accepts it). ``stop`` is
    the order's trigger while it has not fired. Checked when the amendment arrives and again when it takes
    effect (the order may have filled or triggered meanwhile)."""
    kind = order.order_type
    if amendment.empty:
        return "nothing to amend: give a new quantity, limit price or stop price"
    if amendment.qty is not None and is_exit:
        return "a bracket exit's quantity follows what its entry filled: amend the entry instead"
    if amendment.qty is not None and amendment.qty <= order.filled_qty:
        return f"the new quantity {amendment.qty} must stay above the {order.filled_qty} already filled"
    if amendment.price is not None and kind not in _LIMITED:
        hint = " (amend its stop price)" if kind is OrderType.STOP else ""
        return f"a {kind.value} order has no limit price to amend{hint}"
    if amendment.stop is not None and (kind not in TRIGGERED_BY_STOP or stop is None):
        return f"a {kind.value} order has no stop price to amend (a stop that fired has no trigger left)"
    limit = order.price if kind in _LIMITED else None
    current = (order.qty, limit, stop)
    wanted = amended_terms(current, amendment)
    if wanted == current:
        return f"the amendment changes nothing: the order already has {amendment.describe()}"
    qty, price, trigger = wanted
    terms = OrderIntent(
        client_order_id=order.client_order_id,
        strategy_id=order.strategy_id,
        asset=order.asset,
        symbol=order.symbol,
        side=order.side,
        qty=qty,
        order_type=kind,
        price=price,
        stop_price=trigger,
        time_in_force=tif,
        reduce_only=order.reduce_only,
    )
    return _terms_problem(terms, instrument, last)


def amended_terms(
    current: tuple[Decimal, Decimal | None, Decimal | None], amendment: Amendment
) -> tuple[Decimal, Decimal | None, Decimal | None]:
    """``(qty, limit price, stop)`` once ``amendment`` applies to ``current``."""
    qty, price, stop = current
    return (
        qty if amendment.qty is None else amendment.qty,
        price if amendment.price is None else amendment.price,
        stop if amendment.stop is None else amendment.stop,
    )


def pending_amend_reason(reason: str, at: datetime, amendment: Amendment) -> str:
    return _with_note(reason, f"{_AMEND_PENDING}{at.isoformat()}: {amendment.describe()}")


def amendment_rejected_reason(reason: str, problem: str) -> str:
    return _with_note(reason, f"{_AMEND_REJECTED}{problem}")


def amended_reason(reason: str, at: datetime, stop: Decimal | None, queued: datetime | None) -> str:
    """``reason`` recording an amendment that took effect at ``at``: the stop-limit trigger now in force
    and, once re-queued, the time the order holds its place in the queue from."""
    mark = _AMENDED + at.isoformat()
    if stop is not None:
        mark += f", stop {stop}"
    if queued is not None:
        mark += f", queued {queued.isoformat()}"
    kept = [s for s in _segments(reason) if not s.startswith(_AMENDED)]
    return _with_note("; ".join(kept), mark)


def pending_amendment(reason: str) -> tuple[datetime, Amendment] | None:
    """When the amendment written on an order's ``reason`` takes effect, and its terms, if one is pending."""
    for segment in _segments(reason):
        if segment.startswith(_AMEND_PENDING):
            at, _, terms = segment.removeprefix(_AMEND_PENDING).partition(": ")
            values = _terms(terms)
            qty, price, stop = (_decimal(values.get(name)) for name in ("qty", "price", "stop"))
            return datetime.fromisoformat(at), Amendment(qty, price, stop)
    return None


def amended_state(reason: str) -> tuple[Decimal | None, datetime | None]:
    """``(stop, queued)`` as the last amendment that took effect recorded them (None: not recorded)."""
    for segment in _segments(reason):
        if segment.startswith(_AMENDED):
            values = _terms(segment.partition(", ")[2])
            queued = values.get("queued")
            return _decimal(values.get("stop")), datetime.fromisoformat(queued) if queued else None
    return None, None


def _terms(text: str) -> dict[str, str]:
    """``qty 2, stop 101`` -> {"qty": "2", "stop": "101"}."""
    found: dict[str, str] = {}
    for item in text.split(", ") if text else ():
        match = _TERM_RE.match(item)
        if match is None:
            msg = f"unreadable amendment term {item!r} in {text!r} (an order's reason)"
            raise ValueError(msg)
        found[match.group(1)] = match.group(2)
    return found


def _decimal(text: str | None) -> Decimal | None:
    return Decimal(text) if text is not None else None


def _segments(reason: str) -> list[str]:
    return reason.split("; ") if reason else []


def _with_note(reason: str, note: str) -> str:
    """``reason`` without earlier amendment notes, plus ``note`` (before a pending cancel, which stays last)."""
    kept = [s for s in _segments(reason) if not s.startswith((_AMEND_PENDING, _AMEND_REJECTED))]
    at = next((i for i, s in enumerate(kept) if s.startswith(_PENDING)), len(kept))
    return "; ".join([*kept[:at], note, *kept[at:]])
