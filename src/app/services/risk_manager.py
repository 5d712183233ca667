"""risk_manager: per-trade risk, the first step of order_router's pipeline, over ``app.domain.risk``.

Prices of a pair quoted in another currency than the bucket's (ETHBTC in a USD bucket) are converted to the
bucket's currency before the rules see them, so equity, stop distance and notional are in one unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import attrs

from app.domain.risk import OrderContext, RiskDecision, RiskLimits, default_stop, pretrade_check
from app.domain.values import Asset, Instrument, Position
from app.services.order_requests import OrderRequest, PretradeContext

__all__ = ["RiskManager"]

_ZERO = Decimal(0)


class RiskManager:
    """Applies each asset's RiskLimits, a per-order notional cap, and the default protective stop."""

    def __init__(
        self,
        limits: Mapping[Asset, RiskLimits],
        max_notional_per_order: Mapping[Asset, Decimal] | None = None,
    ) -> None:
        self._limits = dict(limits)
        self._max_notional = dict(max_notional_per_order or {})

    def limits(self, asset: Asset) -> RiskLimits | None:
        return self._limits.get(asset)

    def protective_stop(self, request: OrderRequest, instrument: Instrument) -> Decimal | None:
        """The request's stop, or the asset's default stop (in the instrument's price units) when it has none."""
        if request.stop_loss is not None:
            return request.stop_loss
        limits = self._limits.get(request.asset)
        band = limits.bands.get(request.asset) if limits else None
        if band is None:
            return None
        return default_stop(request.price, request.side, band, instrument.tick_size)

    def assess(
        self, request: OrderRequest, context: PretradeContext, *, budget_available: Decimal
    ) -> RiskDecision:
        """Approve an entry at the largest size the rules allow (at most the request), or deny it.

        The approved ``stop_price`` is in the instrument's price units; ``stop_is_default`` says it was added.
        """
        limits = self._limits.get(request.asset)
        if limits is None:
            return RiskDecision(False, "no_risk_band", f"no risk limits for {request.asset.value}")
        rate = context.quote_rate
        stop = self.protective_stop(request, context.instrument)
        requested = self._capped_request(request, context)
        strategy_positions, strategy_risk, open_notional = 0, _ZERO, _ZERO
        for p in context.positions:
            open_notional += context.position_notional(p)
            if p.strategy_id == request.strategy_id:
                strategy_positions += 1
                strategy_risk += _open_risk(p, context)
        ctx = OrderContext(
            instrument=_in_bucket_units(context.instrument, rate),
            side=request.side,
            entry_price=request.price * rate,
            stop_price=stop * rate if stop is not None else None,
            equity=context.equity,
            bucket_available=budget_available,
            strategy_id=request.strategy_id,
            take_profit=request.take_profit * rate if request.take_profit is not None else None,
            requested_qty=requested,
            high_water_mark=context.high_water_mark,
            realized_pnl_today=context.realized_today,
            unrealized_pnl=context.unrealized,
            strategy_open_positions=strategy_positions,
            strategy_open_risk=strategy_risk,
            open_notional=open_notional,
            stop_is_default=request.stop_loss is None,
        )
        decision = pretrade_check(ctx, limits)
        # The decision carries the stop as the rules saw it, in the bucket's units; the order wants its own. When
        # both are the very same number (compare_total: same digits and exponent, e.g. a quote at par) the
        # decision already says it, and the copy that would replace it is spared (once per order).
        same = stop is None or (ctx.stop_price is not None and ctx.stop_price.compare_total(stop) == 0)
        return decision if same else decision.with_stop_price(stop)

    def _capped_request(self, request: OrderRequest, context: PretradeContext) -> Decimal | None:
        limit = self._max_notional.get(request.asset)
        if limit is None:
            return request.qty
        unit = context.notional(Decimal(1), request.price)
        if unit <= 0:
            return request.qty
        cap = context.instrument.round_qty(limit / unit)
        return cap if request.qty is None else min(request.qty, cap)


def _in_bucket_units(instrument: Instrument, rate: Decimal) -> Instrument:
    if rate == 1:
        return instrument
    return attrs.evolve(
        instrument, tick_size=instrument.tick_size * rate, min_notional=instrument.min_notional * rate
    )


def _open_risk(position: Position, context: PretradeContext) -> Decimal:
    """What the position loses, in the bucket's currency, if its stop fills (its notional without one)."""
    rate = context.position_rates.get(position.symbol, _ZERO)
    if position.stop_loss is None:
        return context.position_notional(position)
    return abs(position.qty) * abs(position.avg_price - position.stop_loss) * rate
