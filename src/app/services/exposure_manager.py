"""exposure_manager: portfolio caps per asset (``app.domain.exposure``), the pipeline's third step."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from app.domain.decision import Decision
from app.domain.exposure import (
    ClusterDef,
    ExposureBook,
    ExposureLimits,
    ExposureReport,
    can_open,
    current_exposure,
)
from app.domain.values import Position
from app.services.order_requests import OrderRequest, PretradeContext

__all__ = ["ExposureManager"]

_EMPTY_BOOK = ExposureBook()


class ExposureManager:
    def __init__(self, limits: ExposureLimits, clusters: Sequence[ClusterDef] = ()) -> None:
        self._limits = limits
        self._clusters = tuple(clusters)
        # The book of the last context: order_router checks one context once, or more while it bisects.
        self._last_book: tuple[PretradeContext, ExposureBook] | None = None

    @property
    def clusters(self) -> tuple[ClusterDef, ...]:
        return self._clusters

    def set_clusters(self, clusters: Sequence[ClusterDef]) -> None:
        """Replace the clusters (configured plus learned from return correlation)."""
        self._clusters = tuple(clusters)

    def can_open(self, request: OrderRequest, context: PretradeContext, *, allocation: Decimal) -> Decision:
        """Whether the request keeps the asset within its position, cluster, gross and net caps."""
        if request.reduce_only:
            return Decision.allow("reduce-only")
        if request.qty is None or request.qty <= 0:
            return Decision.deny("bad_qty", f"no quantity to price: {request.qty}")
        notional = context.notional(request.qty, request.price)
        last = self._last_book
        if last is not None and last[0] is context:
            book = last[1]
        else:
            book = self._book(context.positions, context)
            self._last_book = (context, book)
        return can_open(
            book,
            request.symbol,
            request.side,
            notional,
            asset=request.asset,
            limits=self._limits,
            clusters=self._clusters,
            allocation=allocation,
        )

    def current_exposure(self, positions: Sequence[Position], context: PretradeContext) -> ExposureReport:
        return current_exposure(self._book(positions, context), self._clusters)

    @staticmethod
    def _book(positions: Sequence[Position], context: PretradeContext) -> ExposureBook:
        if not positions:
            return _EMPTY_BOOK  # books are immutable: a flat account shares one
        return ExposureBook.from_orders(
            (p.asset, p.symbol, p.side, context.position_notional(p)) for p in positions
        )
