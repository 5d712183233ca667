"""risk_manager: per-trade risk, the first step of order_router's pipeline, over ``app.domain.risk``.

Prices of a pair quoted in another currency than the bucket's (ETHBTC in a USD bucket) are converted to the
bucket's currency before the rules see them, so equity, stop distance and notional are in one unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import final

import attrs

from app.domain.risk import default_stop, pretrade_check
from app.domain.risk_values import RiskDecision, RiskLimits
from app.domain.values import Asset, Instrument, Side
from app.services.order_requests import OrderRequest, PretradeContext

__all__ = ["RiskManager"]

_ZERO = Decimal(0)
_ONE = Decimal(1)


class RiskManager:
    """Applies each asset's RiskLimits, a per-order notional cap, and the default protective stop."""

    def __init__(
        self,
        limits: Mapping[Asset, RiskLimits],
        max_notional_per_order: Mapping[Asset, Decimal] | None = None,
    ) -> None:
        self._limits = dict(limits)
        self._max_notional = dict(max_notional_per_order or {})
        # The last (instrument, quote rate) and the instrument in the bucket's units: a batch's contexts on one
        # symbol share both objects, so the instrument is converted once rather than for every order.
        self._in_units: tuple[Instrument, Decimal, Instrument] | None = None

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
        stop = request.stop_loss
        if stop is None:
            stop = self.protective_stop(request, context.instrument)
        capped = request.asset in self._max_notional  # the call only when there is a cap (once per order)
        requested = self._capped_request(request, context) if capped else request.qty
        strategy_positions, strategy_risk, open_notional = 0, _ZERO, _ZERO
        # position_notional and _open_risk written out (the same products in the same order): this loop runs
        # for every order over every open position, and the method calls cost more than the products.
        rate_of, strategy_id = context.position_rates.get, request.strategy_id
        for p in context.positions:
            p_rate = rate_of(p.symbol, _ZERO)
            notional = abs(p.qty) * p.avg_price * p_rate
            open_notional += notional
            if p.strategy_id == strategy_id:
                strategy_positions += 1
                if p.stop_loss is None:
                    strategy_risk += notional
                else:
                    strategy_risk += abs(p.qty) * abs(p.avg_price - p.stop_loss) * p_rate
        instrument, in_units = context.instrument, self._in_units
        if in_units is not None and in_units[0] is instrument and in_units[1] is rate:
            bucket_instrument = in_units[2]  # by identity: an instrument and a Decimal are values
        else:
            bucket_instrument = _in_bucket_units(instrument, rate)
            self._in_units = (instrument, rate, bucket_instrument)
        # Positional, in OrderContext's order (instrument, side, entry, stop, equity, available, strategy,
        # take profit, request, high-water mark, realized, unrealized, held, open risk, open notional, default
        # stop): keywords cost more to match than the call is worth, once per order.
        ctx = _Terms(
            bucket_instrument,
            request.side,
            request.price * rate,
            stop * rate if stop is not None else None,
            context.equity,
            budget_available,
            strategy_id,
            request.take_profit * rate if request.take_profit is not None else None,
            requested,
            context.high_water_mark,
            context.realized_today,
            context.unrealized,
            strategy_positions,
            strategy_risk,
            open_notional,
            request.stop_loss is None,
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
    if rate == _ONE:  # a Decimal one: an int would be converted on every call
        return instrument
    return attrs.evolve(
        instrument, tick_size=instrument.tick_size * rate, min_notional=instrument.min_notional * rate
    )


@final
class _Terms:
    """One entry's terms in the bucket's units, as ``pretrade_check`` reads them (``OrderTerms``): the fields
    of an ``OrderContext`` in a plain record, built for every order at a fraction of a frozen value's cost.
    It lives only for the check and is never changed."""

    __slots__ = (
        "bucket_available",
        "entry_price",
        "equity",
        "high_water_mark",
        "instrument",
        "leverage",
        "open_notional",
        "realized_pnl_today",
        "requested_qty",
        "side",
        "stop_is_default",
        "stop_price",
        "strategy_id",
        "strategy_open_positions",
        "strategy_open_risk",
        "take_profit",
        "unrealized_pnl",
    )

    def __init__(
        self,
        instrument: Instrument,
        side: Side,
        entry_price: Decimal,
        stop_price: Decimal | None,
        equity: Decimal,
        bucket_available: Decimal,
        strategy_id: str,
        take_profit: Decimal | None,
        requested_qty: Decimal | None,
        high_water_mark: Decimal | None,
        realized_pnl_today: Decimal,
        unrealized_pnl: Decimal,
        strategy_open_positions: int,
        strategy_open_risk: Decimal,
        open_notional: Decimal,
        stop_is_default: bool,
    ) -> None:
        self.instrument = instrument
        self.side = side
        self.entry_price = entry_price
        self.stop_price = stop_price
        self.equity = equity
        self.bucket_available = bucket_available
        self.strategy_id = strategy_id
        self.take_profit = take_profit
        self.requested_qty = requested_qty
        self.leverage = _ONE  # no request carries a leverage: 1, OrderContext's default
        self.high_water_mark = high_water_mark
        self.realized_pnl_today = realized_pnl_today
        self.unrealized_pnl = unrealized_pnl
        self.strategy_open_positions = strategy_open_positions
        self.strategy_open_risk = strategy_open_risk
        self.open_notional = open_notional
        self.stop_is_default = stop_is_default
