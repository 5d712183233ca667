"""budget_manager: per-asset virtual sub-wallets (``app.domain.budget``), the pipeline's second step.

What an asset's open positions use is recomputed from the broker's positions for each request (once per
``PretradeContext``, however many checks the pipeline runs against it), so the budget cannot drift from the
truth; allocations and realised P&L are kept here and persisted in the store's meta.
"""

from __future__ import annotations

import json
from decimal import Decimal

import attrs

from app.domain.budget import Bucket, Budget, bucket_can_afford, required_spend
from app.domain.decision import Decision
from app.domain.values import Asset
from app.ports.clock import Clock
from app.ports.storage import Storage
from app.services.order_requests import OrderRequest, PretradeContext

__all__ = ["BudgetManager"]

_META_KEY = "budget"
_ZERO = Decimal(0)


class BudgetManager:
    def __init__(self, budget: Budget, *, storage: Storage | None = None, clock: Clock | None = None) -> None:
        self._storage = storage
        self._clock = clock
        self._budget = self._load(budget)
        # (context, asset, budget) -> the asset's bucket with that context's usage, as (allocation, used): one
        # request, one sum.
        self._in_use: tuple[PretradeContext, Asset, Budget, tuple[Decimal, Decimal] | None] | None = None
        # (context, asset, what the asset's positions in it use): the next context may extend it.
        self._used_in: tuple[PretradeContext, Asset, Decimal] | None = None

    @property
    def budget(self) -> Budget:
        return self._budget

    def get_alloc(self, asset: Asset) -> Decimal:
        return self._budget.get_alloc(asset)

    def available(self, asset: Asset, context: PretradeContext | None = None) -> Decimal:
        """Allocation minus what the asset's open positions use (from ``context``'s broker positions)."""
        if context is None:
            return self._budget.available(asset)
        bucket = self._bucket_in_use(asset, context)
        return bucket[0] - bucket[1] if bucket is not None else _ZERO  # Bucket.available

    def can_afford(self, request: OrderRequest, context: PretradeContext) -> Decision:
        """Whether the asset's bucket (and only it) can pay for the request's notional."""
        if request.reduce_only:
            return Decision.allow("reduce-only")
        if request.qty is None or request.qty <= _ZERO:
            return Decision.deny("bad_qty", f"no quantity to price: {request.qty}")
        asset = request.asset
        bucket = self._bucket_in_use(asset, context)
        if bucket is None:
            return Decision.deny("no_bucket", f"{asset.value} has no budget bucket")
        # Bucket.can_afford of the bucket in use, without making it (once per order, and per bisection step).
        return bucket_can_afford(asset, bucket[0], bucket[1], context.notional(request.qty, request.price))

    def apply_pnl(self, asset: Asset, realized_pnl: Decimal) -> None:
        """Book realised P&L (bucket currency) into the asset's bucket; it compounds there."""
        if self._budget.bucket(asset) is None:
            return
        self._budget = self._budget.apply_pnl(asset, realized_pnl)
        self._save("pnl", asset=asset.value, amount=str(realized_pnl))

    def adjust(self, asset: Asset, delta: Decimal) -> Decision:
        """Fund (+) or defund (-) an asset in steps of the realloc step (+/- $100 from the TUI)."""
        self._budget, decision = self._budget.adjust(asset, delta)
        if decision.allowed:
            self._save("allocation_adjusted", asset=asset.value, delta=str(delta))
        return decision

    def reallocate(self, src: Asset, dst: Asset, amount: Decimal) -> Decision:
        self._budget, decision = self._budget.reallocate(src, dst, amount)
        if decision.allowed:
            self._save("allocation_moved", src=src.value, dst=dst.value, amount=str(amount))
        return decision

    def _bucket_in_use(self, asset: Asset, context: PretradeContext) -> tuple[Decimal, Decimal] | None:
        """The asset's (allocation, used) with the usage of ``context``'s positions; None without a bucket."""
        memo, budget = self._in_use, self._budget
        if memo is not None and memo[0] is context and memo[1] is asset and memo[2] is budget:
            return memo[3]
        found = budget.bucket(asset)
        # The two numbers rather than a Bucket: once per order, and a frozen value costs more to make.
        in_use = (found.allocation, self._used(asset, context)) if found is not None else None
        self._in_use = (context, asset, budget, in_use)
        return in_use

    def _used(self, asset: Asset, context: PretradeContext) -> Decimal:
        """What the asset's positions in ``context`` spend, added up in their order. Carried over from the last
        context when this one extends it (a batch's next request), adding only the positions added since."""
        positions = context.positions
        summed = self._used_in
        if summed is not None and summed[1] is asset and context.extends(summed[0]):
            used, start = summed[2], len(summed[0].positions)
        else:
            used, start = _ZERO, 0
        for i in range(start, len(positions)):
            p = positions[i]
            if p.asset == asset:
                used += required_spend(asset, context.position_notional(p))
        self._used_in = (context, asset, used)
        return used

    def _load(self, default: Budget) -> Budget:
        raw = self._storage.get_meta(_META_KEY) if self._storage else None
        if raw is None:
            return default
        saved = {Asset(k): v for k, v in json.loads(raw).items()}
        buckets = []
        for bucket in default.buckets:
            entry = saved.get(bucket.asset)
            if entry is None:
                buckets.append(bucket)
            else:
                buckets.append(
                    Bucket(
                        bucket.asset,
                        Decimal(entry["allocation"]),
                        realized_pnl=Decimal(entry["realized_pnl"]),
                    )
                )
        return attrs.evolve(default, buckets=tuple(buckets))

    def _save(self, kind: str, **fields: str) -> None:
        if self._storage is None:
            return
        state = {
            b.asset.value: {"allocation": str(b.allocation), "realized_pnl": str(b.realized_pnl)}
            for b in self._budget.buckets
        }
        with self._storage.transaction():
            self._storage.set_meta(_META_KEY, json.dumps(state))
            if self._clock is not None:
                self._storage.append_event(self._clock.now(), kind, fields)
