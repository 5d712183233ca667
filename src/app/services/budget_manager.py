"""budget_manager: whether the asset's bucket can pay for an order (second step of the pipeline)."""

from __future__ import annotations

from decimal import Decimal

from app.domain.decision import Decision
from app.services.order_requests import OrderRequest, PretradeContext

__all__ = ["BudgetManager"]


class BudgetManager:
    """Denies an entry whose cost (notional plus fee) exceeds the bucket's free cash."""

    def __init__(self, fee_rate: Decimal = Decimal("0.001")) -> None:
        self._fee_rate = fee_rate

    def can_afford(self, request: OrderRequest, context: PretradeContext) -> Decision:
        if request.reduce_only:
            return Decision.allow("reduce-only")
        cost = context.notional(request.qty, request.price) * (1 + self._fee_rate)
        if cost > context.cash:
            return Decision.deny("insufficient_cash", f"cost {cost:.2f} exceeds free cash {context.cash:.2f}")
        return Decision.allow()
