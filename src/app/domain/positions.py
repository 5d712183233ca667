"""Position arithmetic: applying a fill or a funding settlement to a net position, and the round trip a fill
closes.

Shared by the sim broker (its own books), pnl_reconciler (the local journal), the journal rebuild and the
backtester, so all of them agree to the cent. A closed trade takes the closed share of the position's entry
fees and of its funding (pro rata to quantity), and its ``pnl`` counts both, as the backtester's does.
"""

from __future__ import annotations

from decimal import Decimal
from typing import final

import attrs

from app.domain.money import ZERO
from app.domain.values import ClosedTrade, Fill, Position

__all__ = ["PositionChange", "apply_fill", "book_funding"]


@final
@attrs.frozen
class PositionChange:
    """The position after a fill (None when flat) and the round trip it closed, if any.

    A closed trade's ``pnl`` is its price P&L minus the exit fee and the share of entry fees that belongs to
    the closed quantity, plus the same share of the funding settled on the position.
    """

    position: Position | None
    closed: ClosedTrade | None


def apply_fill(
    position: Position | None, fill: Fill, *, strategy_id: str = "", exit_reason: str = "signal"
) -> PositionChange:
    """Net ``fill`` into ``position`` (same asset and symbol).

    Adding to a position averages its price; reducing it closes that part as a ClosedTrade; a fill larger than
    the position closes it and opens the remainder on the other side.
    """
    signed = fill.qty * fill.side.sign
    if position is None or position.qty == ZERO:
        opened = Position(
            asset=fill.asset,
            symbol=fill.symbol,
            qty=signed,
            avg_price=fill.price,
            opened_at=fill.ts,
            strategy_id=strategy_id,
            entry_fees=fill.fee,
        )
        return PositionChange(opened, None)
    if (position.qty > 0) == (signed > 0):
        total = position.qty + signed
        avg = (position.avg_price * position.qty + fill.price * signed) / total
        grown = attrs.evolve(position, qty=total, avg_price=avg, entry_fees=position.entry_fees + fill.fee)
        return PositionChange(grown, None)
    return _reduce(position, fill, signed, exit_reason)


def book_funding(position: Position, paid: Decimal) -> Position:
    """``position`` after a funding settlement at which its holder paid ``paid`` (negative: received), in the
    contract's quote currency. A later close takes its share of it, as it does of the entry fees."""
    return attrs.evolve(position, funding=position.funding - paid)


def _reduce(position: Position, fill: Fill, signed: Decimal, exit_reason: str) -> PositionChange:
    closing = min(abs(signed), abs(position.qty))
    share = closing / abs(position.qty)
    fill_share = closing / fill.qty
    entry_fee_part = position.entry_fees * share
    funding_part = position.funding * share
    exit_fee_part = fill.fee * fill_share
    direction = 1 if position.qty > 0 else -1
    gross = (fill.price - position.avg_price) * closing * direction
    pnl = gross - entry_fee_part - exit_fee_part + funding_part
    trade = ClosedTrade(
        strategy_id=position.strategy_id,
        asset=position.asset,
        symbol=position.symbol,
        side=position.side,
        qty=closing,
        entry_time=position.opened_at,
        exit_time=fill.ts,
        entry_price=position.avg_price,
        exit_price=fill.price,
        fees=entry_fee_part + exit_fee_part,
        pnl=pnl,
        exit_reason=exit_reason,
        funding=funding_part,
    )
    remaining = position.qty + signed
    if remaining == ZERO:
        return PositionChange(None, trade)
    if (remaining > 0) == (position.qty > 0):
        left = attrs.evolve(
            position,
            qty=remaining,
            entry_fees=position.entry_fees - entry_fee_part,
            funding=position.funding - funding_part,
        )
        return PositionChange(left, trade)
    flipped = Position(
        asset=fill.asset,
        symbol=fill.symbol,
        qty=remaining,
        avg_price=fill.price,
        opened_at=fill.ts,
        strategy_id=position.strategy_id,
        entry_fees=fill.fee - exit_fee_part,
    )
    return PositionChange(flipped, trade)
