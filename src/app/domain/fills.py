"""The pure fill model: an order and a bar in, fills out. The sim broker and the backtester share it.

Market orders fill at the bar's open (the first price seen after the order was placed), moved against the
taker by the slippage, rounded to the tick, with the taker fee on the notional. Resting orders are matched in
two phases per bar: ``match_at_open`` (what the open price already decides: market orders, gaps through a
limit or a stop) and ``match_in_bar`` (limits touched and stops crossed inside the bar's range). Slippage is
fixed basis points plus a share of the bar's range (``volatility_slippage x (high - low) / close``) and
always goes against the taker; a maker fills at its own price. Futures helpers (liquidation, funding) close
the module.
"""

from __future__ import annotations

from decimal import Decimal
from typing import final

import attrs

from app.domain.money import ZERO, to_decimal
from app.domain.values import Candle, Instrument, Liquidity, OrderStatus, OrderType, Side, TimeInForce

__all__ = [
    "BarMatch",
    "FillCosts",
    "MarketFill",
    "ProtectionFill",
    "WorkingOrder",
    "fill_market_at_open",
    "funding_payment",
    "liquidation_price",
    "liquidation_triggered",
    "match_at_open",
    "match_in_bar",
    "protection_fill",
    "protection_trigger",
    "slippage_fraction",
    "taker_price",
    "volume_allowance",
]

_BPS = Decimal(10_000)


@final
@attrs.frozen
class FillCosts:
    """Fees as fractions of notional (0.001 = 0.1%), slippage in basis points plus ``volatility_slippage``
    (k) times the bar's range over its close."""

    taker_fee: Decimal = Decimal("0.001")
    maker_fee: Decimal = Decimal("0.001")
    slippage_bps: Decimal = Decimal(0)
    volatility_slippage: Decimal = Decimal(0)

    def fee(self, qty: Decimal, price: Decimal, liquidity: Liquidity) -> Decimal:
        """The fee of one execution (maker or taker rate on the notional)."""
        rate = self.maker_fee if liquidity is Liquidity.MAKER else self.taker_fee
        return qty * price * rate


@final
@attrs.frozen
class MarketFill:
    qty: Decimal
    price: Decimal
    fee: Decimal


def _volatility_share(bar: Candle, costs: FillCosts) -> Decimal:
    close = to_decimal(bar.close)
    if costs.volatility_slippage == ZERO or close <= ZERO:
        return ZERO
    return costs.volatility_slippage * (to_decimal(bar.high) - to_decimal(bar.low)) / close


def slippage_fraction(bar: Candle, costs: FillCosts) -> Decimal:
    """The share of the price a taker loses on ``bar``: fixed bps plus k x (high - low) / close."""
    return costs.slippage_bps / _BPS + _volatility_share(bar, costs)


def taker_price(
    side: Side,
    reference: Decimal,
    bar: Candle,
    instrument: Instrument,
    costs: FillCosts,
    limit: Decimal | None = None,
) -> Decimal:
    """``reference`` moved against the taker by the slippage, rounded to the tick, never beyond ``limit``."""
    slip = reference * costs.slippage_bps / _BPS + reference * _volatility_share(bar, costs)
    price = instrument.round_price(reference + side.sign * slip)
    if limit is None:
        return price
    return min(price, limit) if side is Side.BUY else max(price, limit)


def fill_market_at_open(
    side: Side, qty: Decimal, bar: Candle, instrument: Instrument, costs: FillCosts
) -> MarketFill:
    """Fill ``qty`` at ``bar``'s open, slipped against the taker and rounded to the tick."""
    price = taker_price(side, to_decimal(bar.open), bar, instrument, costs)
    fee = qty * price * costs.taker_fee
    return MarketFill(qty=qty, price=price, fee=fee)


def volume_allowance(bar: Candle, share: Decimal | None, instrument: Instrument) -> Decimal | None:
    """How much of ``bar``'s volume the venue lets orders take (None: unlimited), rounded down to the lot."""
    if share is None:
        return None
    return instrument.round_qty(to_decimal(bar.volume) * share)


@final
@attrs.frozen
class WorkingOrder:
    """What the matcher needs to know of a working order.

    Args:
        qty: what is left to fill (already clipped by the venue, e.g. reduce-only to the position).
        limit: the limit price of a limit or stop-limit order.
        stop: the trigger of a stop or stop-limit order that has not triggered yet.
        arriving: this bar is the order's first on the book (latency elapsed); time in force is judged then.
            A stop order is judged when it triggers instead.
    """

    side: Side
    order_type: OrderType
    qty: Decimal
    limit: Decimal | None = None
    stop: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    arriving: bool = True


@final
@attrs.frozen
class BarMatch:
    """What one bar did to a working order.

    ``qty`` is zero when nothing filled. ``triggered`` means a stop fired: the rest now works as a market
    (stop) or limit (stop-limit) order. ``end`` is set when the remainder stops working: cancelled (IOC/FOK)
    or rejected (post-only that would take liquidity), with ``reason``.
    """

    qty: Decimal = ZERO
    price: Decimal = ZERO
    fee: Decimal = ZERO
    liquidity: Liquidity = Liquidity.TAKER
    triggered: bool = False
    end: OrderStatus | None = None
    reason: str = ""


_NOTHING = BarMatch()


def _required(price: Decimal | None, what: str, order: WorkingOrder) -> Decimal:
    if price is None:
        msg = f"a {order.order_type.value} order needs a {what} price"
        raise ValueError(msg)
    return price


def _through(side: Side, price: Decimal, limit: Decimal) -> bool:
    """``price`` is at or better than ``limit`` for the order's side (a buy limit below the price is not)."""
    return price <= limit if side is Side.BUY else price >= limit


def _beyond(side: Side, price: Decimal, stop: Decimal) -> bool:
    """``price`` has reached a stop: at or above a buy stop, at or below a sell stop."""
    return price >= stop if side is Side.BUY else price <= stop


def _fill(
    order: WorkingOrder,
    price: Decimal,
    liquidity: Liquidity,
    available: Decimal | None,
    costs: FillCosts,
    *,
    immediate: bool,
    triggered: bool = False,
) -> BarMatch:
    """Fill what the volume allows; at the order's immediate moment IOC cancels and FOK kills the rest."""
    qty = order.qty if available is None else min(order.qty, available)
    tif = order.time_in_force if immediate else TimeInForce.GTC
    if tif is TimeInForce.FOK and qty < order.qty:
        return BarMatch(triggered=triggered, end=OrderStatus.CANCELLED, reason="fok: not enough liquidity")
    end, reason = None, ""
    if tif is TimeInForce.IOC and qty < order.qty:
        end, reason = OrderStatus.CANCELLED, "ioc: unfilled remainder cancelled"
    if qty <= ZERO:
        return BarMatch(triggered=triggered, end=end, reason=reason)
    fee = costs.fee(qty, price, liquidity)
    return BarMatch(qty, price, fee, liquidity, triggered, end, reason)


def _unmatched(order: WorkingOrder, *, immediate: bool, triggered: bool = False) -> BarMatch:
    """Nothing was marketable at the order's immediate moment: IOC and FOK end there."""
    if immediate and order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
        kind = order.time_in_force.value
        return BarMatch(triggered=triggered, end=OrderStatus.CANCELLED, reason=f"{kind}: nothing marketable")
    return BarMatch(triggered=triggered) if triggered else _NOTHING


def _post_only_rejected(triggered: bool = False) -> BarMatch:
    reason = "post-only order would take liquidity"
    return BarMatch(triggered=triggered, end=OrderStatus.REJECTED, reason=reason)


def _marketable_limit(
    order: WorkingOrder,
    reference: Decimal,
    bar: Candle,
    instrument: Instrument,
    costs: FillCosts,
    available: Decimal | None,
    *,
    immediate: bool,
    triggered: bool = False,
) -> BarMatch:
    """A limit that meets the price ``reference`` at its immediate moment takes liquidity (taker, slipped,
    capped at the limit); later, resting on the book, it fills as a maker at ``reference`` (a gap)."""
    limit = _required(order.limit, "limit", order)
    if not _through(order.side, reference, limit):
        return _unmatched(order, immediate=immediate, triggered=triggered)
    if not immediate:
        return _fill(order, reference, Liquidity.MAKER, available, costs, immediate=False)
    if order.time_in_force is TimeInForce.POST_ONLY:
        return _post_only_rejected(triggered)
    price = taker_price(order.side, reference, bar, instrument, costs, limit=limit)
    return _fill(order, price, Liquidity.TAKER, available, costs, immediate=True, triggered=triggered)


def match_at_open(
    order: WorkingOrder, bar: Candle, instrument: Instrument, costs: FillCosts, available: Decimal | None
) -> BarMatch:
    """What ``bar``'s open decides: a market order fills there; a limit the open is already through fills
    there; a stop the open has gapped past triggers there. ``available`` caps the quantity (bar volume)."""
    open_ = to_decimal(bar.open)
    if order.order_type is OrderType.MARKET:
        price = taker_price(order.side, open_, bar, instrument, costs)
        return _fill(order, price, Liquidity.TAKER, available, costs, immediate=order.arriving)
    if order.order_type is OrderType.LIMIT:
        return _marketable_limit(order, open_, bar, instrument, costs, available, immediate=order.arriving)
    stop = _required(order.stop, "stop", order)
    if not _beyond(order.side, open_, stop):
        return _NOTHING
    if order.order_type is OrderType.STOP:
        price = taker_price(order.side, open_, bar, instrument, costs)
        return _fill(order, price, Liquidity.TAKER, available, costs, immediate=True, triggered=True)
    return _marketable_limit(order, open_, bar, instrument, costs, available, immediate=True, triggered=True)


def match_in_bar(
    order: WorkingOrder, bar: Candle, instrument: Instrument, costs: FillCosts, available: Decimal | None
) -> BarMatch:
    """What happens inside ``bar``'s range once the open is past: a resting limit the range touches fills
    as a maker at its price; a stop the range crosses triggers at its price and fills as a taker (a
    stop-limit fills only if its limit is marketable at the trigger, else it rests from the next bar).

    Call it for orders ``match_at_open`` left untouched on the same bar.
    """
    open_, high, low = to_decimal(bar.open), to_decimal(bar.high), to_decimal(bar.low)
    if order.order_type is OrderType.MARKET:
        return _NOTHING
    if order.order_type is OrderType.LIMIT:
        limit = _required(order.limit, "limit", order)
        if _through(order.side, open_, limit):
            return _NOTHING  # marketable at the open: match_at_open's business
        touched = low <= limit if order.side is Side.BUY else high >= limit
        if not touched:
            return _NOTHING
        return _fill(order, limit, Liquidity.MAKER, available, costs, immediate=False)
    stop = _required(order.stop, "stop", order)
    crossed = high >= stop if order.side is Side.BUY else low <= stop
    if not crossed or _beyond(order.side, open_, stop):
        return _NOTHING
    if order.order_type is OrderType.STOP:
        price = taker_price(order.side, stop, bar, instrument, costs)
        return _fill(order, price, Liquidity.TAKER, available, costs, immediate=True, triggered=True)
    return _marketable_limit(order, stop, bar, instrument, costs, available, immediate=True, triggered=True)


def protection_trigger(
    is_long: bool, stop_loss: Decimal | None, take_profit: Decimal | None, bar: Candle
) -> tuple[str, Decimal] | None:
    """Which server-side protection ``bar`` triggers for a position, and at what price.

    Returns ``("sl", price)``, ``("tp", price)`` or None. A bar that opens beyond a level fills at its open
    (a gap); when one bar touches both levels the stop loss is assumed to fill first (pessimistic).
    """
    open_, high, low = to_decimal(bar.open), to_decimal(bar.high), to_decimal(bar.low)
    if is_long:
        if stop_loss is not None and low <= stop_loss:
            return "sl", min(open_, stop_loss)
        if take_profit is not None and high >= take_profit:
            return "tp", max(open_, take_profit)
    else:
        if stop_loss is not None and high >= stop_loss:
            return "sl", max(open_, stop_loss)
        if take_profit is not None and low <= take_profit:
            return "tp", min(open_, take_profit)
    return None


@final
@attrs.frozen
class ProtectionFill:
    """The market order a triggered stop loss (``kind="sl"``) or take profit (``"tp"``) closes with."""

    kind: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal


def protection_fill(
    position_qty: Decimal,
    stop_loss: Decimal | None,
    take_profit: Decimal | None,
    bar: Candle,
    instrument: Instrument,
    costs: FillCosts,
    *,
    trigger_bar: Candle | None = None,
) -> ProtectionFill | None:
    """Close the whole signed position when ``bar`` (or ``trigger_bar``, e.g. the mark-price bar) triggers
    its stop loss or take profit: a taker fill at the trigger price, slipped. A mark-triggered price is
    clamped into the traded bar's range (the close executes against last-price liquidity)."""
    if position_qty == ZERO:
        return None
    trigger = protection_trigger(position_qty > 0, stop_loss, take_profit, trigger_bar or bar)
    if trigger is None:
        return None
    kind, level = trigger
    if trigger_bar is not None:
        level = min(max(level, to_decimal(bar.low)), to_decimal(bar.high))
    side = Side.SELL if position_qty > 0 else Side.BUY
    qty = abs(position_qty)
    price = taker_price(side, level, bar, instrument, costs)
    return ProtectionFill(kind, side, qty, price, costs.fee(qty, price, Liquidity.TAKER))


def liquidation_price(
    is_long: bool, entry_price: Decimal, leverage: Decimal, maintenance_margin_rate: Decimal
) -> Decimal:
    """Isolated-margin liquidation price: where the loss has eaten the initial margin down to maintenance.

    Long: ``entry x (1 - 1/leverage + mmr)``; short: ``entry x (1 + 1/leverage - mmr)``.
    """
    if leverage <= ZERO:
        msg = f"leverage must be positive, got {leverage}"
        raise ValueError(msg)
    if is_long:
        return entry_price * (1 - 1 / leverage + maintenance_margin_rate)
    return entry_price * (1 + 1 / leverage - maintenance_margin_rate)


def liquidation_triggered(is_long: bool, price: Decimal, bar: Candle) -> bool:
    """True when ``bar`` trades through a liquidation ``price`` (its low for a long, its high for a short)."""
    return to_decimal(bar.low) <= price if is_long else to_decimal(bar.high) >= price


def funding_payment(position_qty: Decimal, mark: Decimal, rate: Decimal) -> Decimal:
    """What the holder of signed ``position_qty`` pays at a funding time (negative: receives).

    Longs pay shorts when the rate is positive: ``qty x mark x rate``.
    """
    return position_qty * mark * rate
