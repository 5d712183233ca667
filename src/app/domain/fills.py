"""The pure fill model: an order and a bar in, fills out. The sim broker and the backtester share it.

Market orders fill at the bar's open (the first price seen after the order was placed), moved against the
taker by the slippage, rounded to the tick, with the taker fee on the notional.
"""

from __future__ import annotations

from decimal import Decimal
from typing import final

import attrs

from app.domain.money import to_decimal
from app.domain.values import Candle, Instrument, Side

__all__ = ["FillCosts", "MarketFill", "fill_market_at_open", "protection_trigger"]

_BPS = Decimal(10_000)


@final
@attrs.frozen
class FillCosts:
    """Fees as fractions of notional (0.001 = 0.1%) and slippage in basis points."""

    taker_fee: Decimal = Decimal("0.001")
    maker_fee: Decimal = Decimal("0.001")
    slippage_bps: Decimal = Decimal(0)


@final
@attrs.frozen
class MarketFill:
    qty: Decimal
    price: Decimal
    fee: Decimal


def fill_market_at_open(
    side: Side, qty: Decimal, bar: Candle, instrument: Instrument, costs: FillCosts
) -> MarketFill:
    """Fill ``qty`` at ``bar``'s open, slipped against the taker and rounded to the tick."""
    open_price = to_decimal(bar.open)
    slip = open_price * costs.slippage_bps / _BPS
    price = instrument.round_price(open_price + side.sign * slip)
    fee = qty * price * costs.taker_fee
    return MarketFill(qty=qty, price=price, fee=fee)


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
