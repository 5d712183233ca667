"""What strategies ask order_router for, and what it answers; the account a request is checked against,
with the entries approved before it in a batch, and the fitting of a request to a check."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import final

import attrs

from app.domain.decision import Decision
from app.domain.values import Asset, Instrument, Order, OrderStatus, Position, Side, SlTpAnchor

__all__ = ["BatchMates", "OrderRequest", "PretradeContext", "RouteResult", "fit_to_check"]

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


@final
class BatchMates:
    """The entries approved earlier in one of order_router's batches, as the positions they would be once filled.

    A spot entry pays for its position: the cash it would spend is taken off the context's cash, so the
    open P&L the checks derive (equity - cash - positions' cost) stays what the broker reports. Exits are
    not counted: closing only frees budget, and ignoring that is the cautious side.
    """

    def __init__(self) -> None:
        self._positions: dict[Asset, tuple[Position, ...]] = {}
        self._rates: dict[str, Decimal] = {}
        self._spent: dict[Asset, Decimal] = {}

    def add(self, request: OrderRequest, context: PretradeContext, now: datetime) -> None:
        if request.reduce_only or request.qty is None or request.qty <= 0:
            return
        qty = request.qty if request.side is Side.BUY else -request.qty
        position = Position(
            asset=request.asset,
            symbol=request.symbol,
            qty=qty,
            avg_price=request.price,
            opened_at=now,
            strategy_id=request.strategy_id,
            stop_loss=request.stop_loss,
            take_profit=request.take_profit,
        )
        self._positions[request.asset] = (*self._positions.get(request.asset, ()), position)
        self._rates.setdefault(request.symbol, context.quote_rate)
        if not context.margin:
            spent = self._spent.get(request.asset, _ZERO)
            self._spent[request.asset] = spent + context.notional(request.qty, request.price)

    def added_to(self, asset: Asset, context: PretradeContext) -> PretradeContext:
        """``context`` (of ``asset``) with the batch's earlier entries of that asset as open positions."""
        mates = self._positions.get(asset)
        if not mates:
            return context
        # Built field by field rather than with attrs.evolve (several times dearer): once per request.
        return PretradeContext(
            instrument=context.instrument,
            cash=context.cash - self._spent.get(asset, _ZERO),
            equity=context.equity,
            quote_rate=context.quote_rate,
            positions=context.positions + mates,
            position_rates={**self._rates, **context.position_rates},
            realized_today=context.realized_today,
            high_water_mark=context.high_water_mark,
            margin=context.margin,
        )


def fit_to_check(
    request: OrderRequest, check: Callable[[OrderRequest], Decision], context: PretradeContext
) -> tuple[OrderRequest, Decision]:
    """The request at the largest lot-multiple size ``check`` allows (at most its own), or the denial.

    Caps on notional are monotone in size, so a bisection over lot units finds the largest allowed size. A
    request is denied only when even the smallest tradable size fails the check.
    """
    first = check(request)
    if first.allowed or request.qty is None:
        return request, first
    step = context.instrument.lot_step
    low = max(context.instrument.min_qty, step)
    lo, hi = int(low / step), int(request.qty / step) - 1
    stop = request.stop_loss
    if lo > hi or not check(request.sized(lo * step, stop)).allowed:
        return request, first
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if check(request.sized(mid * step, stop)).allowed:
            lo = mid
        else:
            hi = mid - 1
    fitted = request.sized((lo * step).quantize(step), stop)
    return fitted, Decision(True, first.code, first.reason)
