"""What strategies ask order_router for, and what it answers."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from decimal import Decimal
from typing import final

import attrs

from app.domain.decision import Decision
from app.domain.values import Asset, Instrument, Order, OrderStatus, Position, Side, SlTpAnchor

__all__ = ["OrderRequest", "PretradeContext", "RouteResult"]

_ZERO = Decimal(0)


@final
@attrs.frozen
class OrderRequest:
    """A request to trade, before any check. ``price`` is the reference (last close) used for sizing checks.

    ``qty`` None asks risk_manager for the largest size its rules allow (risk sizing); a quantity is a
    request that the rules may reduce. ``stop_loss`` None on an entry gets the asset's default stop.

    ``reduce_only`` requests close or shrink a position: they pass the pipeline without entry checks,
    since closing never adds risk. ``anchor`` says how ``stop_loss``/``take_profit`` (measured from ``price``)
    move to the entry's fill price when they are attached (see ``SlTpAnchor``); without one they are
    attached as they are.
    """

    strategy_id: str
    asset: Asset
    symbol: str
    side: Side
    qty: Decimal | None
    price: Decimal
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    reduce_only: bool = False
    reason: str = "signal"
    anchor: SlTpAnchor | None = None

    def sized(self, qty: Decimal, stop_loss: Decimal | None) -> OrderRequest:
        """The same request at ``qty`` with ``stop_loss`` (as risk_manager approved it)."""
        # Spelled out rather than attrs.evolve: this runs for every approved entry and evolve costs 2-3x as much.
        return OrderRequest(
            self.strategy_id,
            self.asset,
            self.symbol,
            self.side,
            qty,
            self.price,
            stop_loss,
            self.take_profit,
            self.reduce_only,
            self.reason,
            self.anchor,
        )


@final
@attrs.frozen
class RouteResult:
    """The order as it stands after routing, and the decision that let it through or stopped it."""

    order: Order
    decision: Decision

    @property
    def accepted(self) -> bool:
        """True when the order went to the broker and was not refused there."""
        return self.decision.allowed and self.order.status is not OrderStatus.REJECTED


@final
@attrs.frozen
class PretradeContext:
    """What the checks see about the account when a request arrives (from the broker: the truth).

    ``quote_rate`` values one unit of the instrument's quote currency in the bucket's currency.
    """

    instrument: Instrument
    cash: Decimal
    equity: Decimal
    quote_rate: Decimal
    positions: tuple[Position, ...]
    position_rates: Mapping[str, Decimal] = attrs.field(factory=dict)
    realized_today: Decimal = Decimal(0)
    high_water_mark: Decimal | None = None
    margin: bool = False

    def position_notional(self, position: Position) -> Decimal:
        """|qty| x average price in the bucket's currency."""
        return abs(position.qty) * position.avg_price * self.position_rates.get(position.symbol, _ZERO)

    def extends(self, earlier: PretradeContext) -> bool:
        """Whether ``earlier``'s positions, the same objects, begin this context's, each at the same rate object
        here: then whatever was worked out from them (their notionals, a sum of them) holds here too.

        order_router checks each request of a batch against the account plus the entries approved before it,
        so each context extends the one before by an entry: the checks carry their sums over rather than
        adding up every position again. Identity, not equality: equal Decimals may print differently. (A
        context is a value: its positions and rates are never changed once it is made.)
        """
        positions, before = self.positions, earlier.positions
        if len(positions) < len(before) or not all(map(operator.is_, positions, before)):
            return False
        rates, rates_before = self.position_rates, earlier.position_rates
        if rates is rates_before:
            return True
        symbols = {p.symbol for p in before}  # each symbol once: positions often share a few
        return all(rates.get(s, _ZERO) is rates_before.get(s, _ZERO) for s in symbols)

    @property
    def unrealized(self) -> Decimal:
        """Open P&L in the bucket's currency (equity minus cash minus what the positions cost)."""
        if self.margin:
            return self.equity - self.cash
        cost = _ZERO
        rates = self.position_rates
        for p in self.positions:  # a loop rather than sum(generator): read for every order
            cost += p.qty * p.avg_price * rates.get(p.symbol, _ZERO)
        return self.equity - self.cash - cost

    def notional(self, qty: Decimal, price: Decimal) -> Decimal:
        """``qty x price`` in the bucket's currency."""
        return qty * price * self.quote_rate
