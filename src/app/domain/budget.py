"""Per-asset budget buckets (the budget_manager's rules): virtual sub-wallets over the real accounts.

Each asset has one bucket: its allocation (the capital assigned to it, which compounds with the bucket's
own realised P&L) and what its open positions use. Spot and options spend cash (the whole notional);
futures and forex spend margin (notional / leverage). A bucket only ever spends its own allocation: no
operation here lets one bucket draw on another, which is how futures and spot margin stay separate on a
shared Bybit UTA.

Every transition returns a new ``Budget``; a refusal is a ``Decision``, never an exception. Exceptions
(``BudgetError``) are for programmer errors such as releasing more than was reserved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import final

import attrs

from app.domain.decision import Decision
from app.domain.errors import AppError
from app.domain.values import Asset

__all__ = [
    "CASH_ASSETS",
    "DEFAULT_ACCOUNTS",
    "MARGIN_ASSETS",
    "Bucket",
    "Budget",
    "BudgetError",
    "affordable_notional",
    "bucket_can_afford",
    "required_spend",
]

_ZERO = Decimal(0)
_ONE = Decimal(1)

CASH_ASSETS = frozenset({Asset.SPOT, Asset.OPTIONS})
"""Assets that pay the whole notional (spot coins, option premiums)."""
MARGIN_ASSETS = frozenset({Asset.FUTURES, Asset.FOREX})
"""Assets that post margin: notional / leverage."""

DEFAULT_ACCOUNTS: Mapping[Asset, str] = MappingProxyType(
    {Asset.SPOT: "bybit", Asset.FUTURES: "bybit", Asset.FOREX: "ibkr", Asset.OPTIONS: "ibkr"}
)
"""The real account each bucket lives in (Bybit UTA, IBKR)."""


class BudgetError(AppError):
    """A budget operation was called with impossible arguments (a programmer error, not a denial)."""


def required_spend(asset: Asset, notional: Decimal, leverage: Decimal = _ONE) -> Decimal:
    """What opening ``notional`` takes from the bucket: the notional for cash assets, the margin otherwise."""
    if asset in MARGIN_ASSETS:
        return notional / leverage
    return notional


def affordable_notional(asset: Asset, available: Decimal, leverage: Decimal = _ONE) -> Decimal:
    """The largest notional ``available`` can pay for (the inverse of ``required_spend``)."""
    if asset in MARGIN_ASSETS:
        return available * leverage
    return available


@final
@attrs.frozen
class Bucket:
    """One asset's sub-wallet. After losses ``allocation`` may fall below ``used``: then nothing is
    affordable until positions close or capital is added."""

    asset: Asset
    allocation: Decimal
    used: Decimal = _ZERO
    realized_pnl: Decimal = _ZERO

    @property
    def available(self) -> Decimal:
        return self.allocation - self.used

    def can_afford(self, notional: Decimal, leverage: Decimal = _ONE) -> Decision:
        """Whether this bucket can pay for ``notional`` at ``leverage`` (cash or margin)."""
        return bucket_can_afford(self.asset, self.allocation, self.used, notional, leverage)


def bucket_can_afford(
    asset: Asset, allocation: Decimal, used: Decimal, notional: Decimal, leverage: Decimal = _ONE
) -> Decision:
    """``Bucket(asset, allocation, used).can_afford(notional, leverage)`` without making the bucket:
    budget_manager asks it for every order, of a bucket whose usage it has just summed."""
    # Compared with Decimal constants rather than ints (the same answers): this runs for every order.
    if notional <= _ZERO:
        return Decision.deny("bad_notional", f"notional must be positive, got {notional}")
    if leverage < _ONE:
        return Decision.deny("bad_leverage", f"leverage must be at least 1, got {leverage}")
    if asset in CASH_ASSETS and leverage != _ONE:
        reason = f"{asset.value} pays the whole notional in cash: leverage {leverage} does not apply"
        return Decision.deny("cash_asset_leverage", reason)
    spend = required_spend(asset, notional, leverage)
    available = allocation - used
    if spend > available:
        reason = f"{asset.value} needs {spend} but has {available} available (allocation {allocation}, used {used})"
        return Decision.deny("insufficient_budget", reason)
    # !s: str() prints a Decimal as format() does, in half the time (this runs for every order).
    return Decision.allow(f"{asset.value} spends {spend!s} of {available!s} available")


def _freeze_accounts(accounts: Mapping[Asset, str]) -> Mapping[Asset, str]:
    return MappingProxyType(dict(accounts))


@final
@attrs.frozen
class Budget:
    """The buckets of every asset plus the rules of moving capital between them.

    Args:
        buckets: one per asset (at most one each).
        realloc_step: reallocations and adjustments move whole multiples of this amount (default $100).
        accounts: the real account of each asset; reallocation only moves capital between buckets of the same
            account, since a virtual move between brokers would not move real money (default: spot and futures
            on Bybit, forex and options on IBKR).
    """

    buckets: tuple[Bucket, ...]
    realloc_step: Decimal = Decimal(100)
    accounts: Mapping[Asset, str] = attrs.field(
        default=DEFAULT_ACCOUNTS, converter=_freeze_accounts, hash=False
    )

    def __attrs_post_init__(self) -> None:
        assets = [b.asset for b in self.buckets]
        if len(set(assets)) != len(assets):
            msg = f"one bucket per asset, got {[a.value for a in assets]}"
            raise BudgetError(msg)
        if self.realloc_step <= 0:
            msg = f"realloc_step must be positive, got {self.realloc_step}"
            raise BudgetError(msg)

    @classmethod
    def create(
        cls,
        allocations: Mapping[Asset, Decimal],
        *,
        realloc_step: Decimal = Decimal(100),
        accounts: Mapping[Asset, str] = DEFAULT_ACCOUNTS,
    ) -> Budget:
        """A budget with nothing used yet: ``{Asset.SPOT: Decimal(1000), ...}``."""
        buckets = tuple(Bucket(asset, amount) for asset, amount in allocations.items())
        return cls(buckets, realloc_step, accounts)

    def bucket(self, asset: Asset) -> Bucket | None:
        for b in self.buckets:  # a loop, not next(generator): asked several times for every order
            if b.asset is asset:
                return b
        return None

    def get_alloc(self, asset: Asset) -> Decimal:
        """The asset's allocation (0 when it has no bucket)."""
        found = self.bucket(asset)
        return found.allocation if found else _ZERO

    def available(self, asset: Asset) -> Decimal:
        """What the asset can still spend (allocation - used; 0 when it has no bucket)."""
        found = self.bucket(asset)
        return found.available if found else _ZERO

    @property
    def total_allocation(self) -> Decimal:
        return sum((b.allocation for b in self.buckets), _ZERO)

    def can_afford(self, asset: Asset, notional: Decimal, leverage: Decimal = _ONE) -> Decision:
        """Whether the asset's own bucket can pay for ``notional`` at ``leverage`` (cash or margin)."""
        found = self.bucket(asset)
        if found is None:
            return Decision.deny("no_bucket", f"{asset.value} has no budget bucket")
        return found.can_afford(notional, leverage)

    def reserve(self, asset: Asset, notional: Decimal, leverage: Decimal = _ONE) -> tuple[Budget, Decision]:
        """Mark the spend of a new position as used; unchanged budget and the denial when unaffordable."""
        decision = self.can_afford(asset, notional, leverage)
        if not decision:
            return self, decision
        spend = required_spend(asset, notional, leverage)
        return self._replace(asset, lambda b: attrs.evolve(b, used=b.used + spend)), decision

    def release(self, asset: Asset, amount: Decimal) -> Budget:
        """Free what a closed position used. Raises BudgetError for a negative amount or more than is used."""
        found = self._require(asset)
        if amount < 0 or amount > found.used:
            msg = f"cannot release {amount} from {asset.value}: {found.used} is used"
            raise BudgetError(msg)
        return self._replace(asset, lambda b: attrs.evolve(b, used=b.used - amount))

    def apply_pnl(self, asset: Asset, realized_pnl: Decimal) -> Budget:
        """Book realised P&L into the asset's own bucket (it compounds there; other buckets never change)."""
        self._require(asset)
        return self._replace(
            asset,
            lambda b: attrs.evolve(
                b, allocation=b.allocation + realized_pnl, realized_pnl=b.realized_pnl + realized_pnl
            ),
        )

    def reallocate(self, src: Asset, dst: Asset, amount: Decimal) -> tuple[Budget, Decision]:
        """Move ``amount`` (a positive multiple of the step) from ``src`` to ``dst`` on the same account.

        ``src`` never ends below what its open positions use. The total allocation is unchanged.
        """
        source, target = self.bucket(src), self.bucket(dst)
        if source is None or target is None:
            missing = src if source is None else dst
            return self, Decision.deny("no_bucket", f"{missing.value} has no budget bucket")
        if src is dst:
            return self, Decision.deny("same_bucket", f"cannot move {amount} from {src.value} to itself")
        denial = self._check_step(amount)
        if denial is not None:
            return self, denial
        if self.accounts.get(src) != self.accounts.get(dst):
            reason = (
                f"{src.value} ({self.accounts.get(src)}) and {dst.value} ({self.accounts.get(dst)}) "
                "are on different accounts: move the money between brokers and adjust both buckets"
            )
            return self, Decision.deny("cross_account", reason)
        if amount > source.available:
            reason = (
                f"{src.value} can release at most {source.available} "
                f"(allocation {source.allocation}, used by open positions {source.used})"
            )
            return self, Decision.deny("below_used", reason)
        moved = self._replace(src, lambda b: attrs.evolve(b, allocation=b.allocation - amount))
        moved = moved._replace(dst, lambda b: attrs.evolve(b, allocation=b.allocation + amount))
        return moved, Decision.allow(f"moved {amount} from {src.value} to {dst.value}")

    def adjust(self, asset: Asset, delta: Decimal) -> tuple[Budget, Decision]:
        """Add (``delta`` > 0) or withdraw capital from outside the buckets, in multiples of the step.

        A withdrawal never takes the allocation below what open positions use. This changes the total; use it
        when the operator funds or defunds an asset, and ``reallocate`` to move capital between buckets.
        """
        found = self.bucket(asset)
        if found is None:
            return self, Decision.deny("no_bucket", f"{asset.value} has no budget bucket")
        denial = self._check_step(abs(delta))
        if denial is not None:
            return self, denial
        if delta < 0 and -delta > found.available:
            reason = f"{asset.value} can release at most {found.available} (used {found.used})"
            return self, Decision.deny("below_used", reason)
        changed = self._replace(asset, lambda b: attrs.evolve(b, allocation=b.allocation + delta))
        return changed, Decision.allow(
            f"{asset.value} allocation {found.allocation} -> {found.allocation + delta}"
        )

    def covered_by(self, account: str, real_equity: Decimal) -> Decision:
        """Whether the buckets living in ``account`` are backed by its real equity (from the reconciler)."""
        committed = sum((b.allocation for b in self.buckets if self.accounts.get(b.asset) == account), _ZERO)
        if committed > real_equity:
            reason = f"buckets on {account} hold {committed} but the account has {real_equity}"
            return Decision.deny("overcommitted", reason)
        return Decision.allow(f"{account}: {committed} of {real_equity} allocated")

    def _check_step(self, amount: Decimal) -> Decision | None:
        if amount <= 0 or amount % self.realloc_step != 0:
            reason = f"amount must be a positive multiple of {self.realloc_step}, got {amount}"
            return Decision.deny("bad_step", reason)
        return None

    def _require(self, asset: Asset) -> Bucket:
        found = self.bucket(asset)
        if found is None:
            msg = f"{asset.value} has no budget bucket"
            raise BudgetError(msg)
        return found

    def _replace(self, asset: Asset, change: Callable[[Bucket], Bucket]) -> Budget:
        buckets = tuple(change(b) if b.asset is asset else b for b in self.buckets)
        return attrs.evolve(self, buckets=buckets)
