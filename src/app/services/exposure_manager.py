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
    OrderExposure,
    clusters_of,
    current_exposure,
    net_orders,
)
from app.domain.values import Asset, Position
from app.services.order_requests import OrderRequest, PretradeContext

__all__ = ["ExposureManager"]

_EMPTY_BOOK = ExposureBook()
_ZERO = Decimal(0)
_ONE = Decimal(1)
_MINUS_ONE = Decimal(-1)


class ExposureManager:
    def __init__(self, limits: ExposureLimits, clusters: Sequence[ClusterDef] = ()) -> None:
        self._limits = limits
        self._clusters = tuple(clusters)
        # The last context and clusters, and its book as an order on one symbol sees it: order_router checks a
        # request's context once, or more while it bisects a size, so each check after the first judges a size
        # without summing the book again. Held with the context, whose identity is the key: a context is frozen.
        self._last: tuple[PretradeContext, tuple[ClusterDef, ...], OrderExposure] | None = None
        # The netted notionals of the last context's positions, which the next context may extend.
        self._folded: tuple[PretradeContext, dict[tuple[Asset, str], Decimal]] | None = None
        # The clusters holding each symbol, of the clusters in self._mine_of.
        self._mine: dict[str, tuple[ClusterDef, ...]] = {}
        self._mine_of: tuple[ClusterDef, ...] = ()

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
        if request.qty is None or request.qty <= _ZERO:
            return Decision.deny("bad_qty", f"no quantity to price: {request.qty}")
        notional = context.notional(request.qty, request.price)
        exposure = self._exposure(context, request.asset, request.symbol)
        return exposure.judge(request.side, notional, limits=self._limits, allocation=allocation)

    def current_exposure(self, positions: Sequence[Position], context: PretradeContext) -> ExposureReport:
        return current_exposure(self._book(positions, context), self._clusters)

    def _exposure(self, context: PretradeContext, asset: Asset, symbol: str) -> OrderExposure:
        last, clusters = self._last, self._clusters
        if last is not None and last[0] is context and last[1] is clusters:
            exposure = last[2]
            if exposure.asset is asset and exposure.symbol == symbol:
                return exposure
        if self._mine_of is not clusters:
            self._mine, self._mine_of = {}, clusters
        mine = self._mine.get(symbol)
        if mine is None:
            # Only the clusters holding the symbol count for an order on it, so they stand for all of them.
            mine = self._mine[symbol] = tuple(clusters_of(symbol, clusters))
        exposure = OrderExposure.of_net(self._signed(context), asset, symbol, mine, all_hold_symbol=True)
        self._last = (context, clusters, exposure)
        return exposure

    def _signed(self, context: PretradeContext) -> dict[tuple[Asset, str], Decimal]:
        """The netted notionals of ``ExposureBook.from_orders`` of the context's positions (without building
        the book's entries): carried over from the last context when this one extends it (a batch's next
        request), so only the positions added since are netted."""
        positions = context.positions
        folded = self._folded
        if folded is not None and context.extends(folded[0]):
            earlier, start = folded[1], len(folded[0].positions)
        else:
            earlier, start = None, 0
        # A position's side is its quantity's sign.
        signed = net_orders(
            [
                (p.asset, p.symbol, context.position_notional(p) * (_ONE if p.qty > _ZERO else _MINUS_ONE))
                for p in (positions[start:] if start else positions)
            ],
            earlier,
        )
        self._folded = (context, signed)
        return signed

    @staticmethod
    def _book(positions: Sequence[Position], context: PretradeContext) -> ExposureBook:
        if not positions:
            return _EMPTY_BOOK  # books are immutable: a flat account shares one
        return ExposureBook.from_orders(
            (p.asset, p.symbol, p.side, context.position_notional(p)) for p in positions
        )
