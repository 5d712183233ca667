"""exposure_manager: portfolio caps (third step of the pipeline)."""

from __future__ import annotations

from app.domain.decision import Decision
from app.services.order_requests import OrderRequest, PretradeContext

__all__ = ["ExposureManager"]


class ExposureManager:
    """Limits how many positions an asset may hold at once."""

    def __init__(self, max_concurrent_positions: int = 10) -> None:
        self._max_positions = max_concurrent_positions

    def can_open(self, request: OrderRequest, context: PretradeContext) -> Decision:
        if request.reduce_only:
            return Decision.allow("reduce-only")
        held = {p.symbol for p in context.positions}
        if request.symbol not in held and len(held) >= self._max_positions:
            return Decision.deny(
                "max_positions", f"{len(held)} positions open, the cap is {self._max_positions}"
            )
        return Decision.allow()
