"""risk_manager: per-trade checks, the first step of order_router's pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from app.domain.decision import Decision
from app.domain.values import Asset
from app.services.order_requests import OrderRequest, PretradeContext

__all__ = ["RiskManager"]

_NEXT_OPEN_MARGIN = Decimal("1.01")


class RiskManager:
    """Caps the notional of a single order per asset (in the bucket's currency)."""

    def __init__(self, max_notional_per_order: Mapping[Asset, Decimal]) -> None:
        self._max_notional = dict(max_notional_per_order)

    def compute_size(
        self, fraction: Decimal, price: Decimal, context: PretradeContext, fee_rate: Decimal
    ) -> Decimal:
        """Quantity worth ``fraction`` of the bucket's free cash at ``price`` after fees, rounded down to the
        lot step, within the per-order notional cap. A margin of 1% absorbs the move to the next open."""
        unit_cost = context.notional(Decimal(1), price) * (1 + fee_rate) * _NEXT_OPEN_MARGIN
        if unit_cost <= 0:
            return Decimal(0)
        budget = context.cash * fraction
        limit = self._max_notional.get(context.instrument.asset)
        if limit is not None:
            budget = min(budget, limit)
        return context.instrument.round_qty(max(budget, Decimal(0)) / unit_cost)

    def pretrade_check(self, request: OrderRequest, context: PretradeContext) -> Decision:
        """Allow the request, or deny it with the reason; exits (reduce-only) are always allowed."""
        if request.reduce_only:
            return Decision.allow("reduce-only")
        if request.qty <= 0:
            return Decision.deny("bad_qty", f"quantity must be positive, got {request.qty}")
        limit = self._max_notional.get(request.asset)
        notional = context.notional(request.qty, request.price)
        if limit is not None and notional > limit:
            return Decision.deny(
                "max_notional", f"order notional {notional:.2f} exceeds the {request.asset.value} cap {limit}"
            )
        return Decision.allow()
