"""The operator's switches the runtime owns (killed assets, exploration paused) and what it asks of others.

The switches persist in the store's meta table, so a killed asset stays killed across a restart. The
Protocols name the small part of budget_manager, strategy_registry and session_manager the runtime calls.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Protocol

from app.domain.decision import Decision
from app.domain.registry import StrategyCounter, StrategyFlag, StrategyRecord, StrategyState
from app.domain.session import PaperWallet
from app.domain.values import Asset, ClosedTrade, Order, OrderStatus, Position
from app.ports.errors import BrokerError
from app.ports.storage import Storage
from app.services.config_schema import AppConfig
from app.services.config_schema_assets import BROKER_OF_ASSET
from app.services.order_requests import OrderRequest
from app.services.order_router import OrderRouter

__all__ = [
    "CONTROLS_KEY",
    "LIVE_NOT_BUILT",
    "AllocationControl",
    "Controls",
    "RegistryControl",
    "WalletSource",
    "cancel_working_orders",
    "credential_env_names",
    "flag_killed",
    "flatten_positions",
    "flatten_request",
    "live_preconditions",
    "records_from_trades",
]

CONTROLS_KEY = "operator_controls"
LIVE_NOT_BUILT = "live execution is not built yet: every asset stays on paper"


class AllocationControl(Protocol):
    """What the runtime needs of budget_manager."""

    def adjust(self, asset: Asset, delta: Decimal) -> Decision: ...

    def get_alloc(self, asset: Asset) -> Decimal: ...


class RegistryControl(Protocol):
    """What the runtime needs of strategy_registry."""

    def records(self) -> list[StrategyRecord]: ...

    def add_flag(self, strategy_id: str, flag: StrategyFlag, reason: str = "") -> StrategyRecord: ...

    def remove_flag(self, strategy_id: str, flag: StrategyFlag, reason: str = "") -> StrategyRecord: ...


class WalletSource(Protocol):
    """What the runtime shows of session_manager: each asset's paper wallet (reward, epoch)."""

    def wallet(self, asset: Asset) -> PaperWallet | None: ...


def credential_env_names(config: AppConfig) -> dict[Asset, tuple[str, ...]]:
    """The environment variables live trading of each asset needs (names only, never values).

    IBKR authenticates through its gateway's own login, so forex and options name none here.
    """
    bybit = config.brokers.bybit
    return {
        asset: (bybit.api_key_env, bybit.api_secret_env) if broker == "bybit" else ()
        for asset, broker in BROKER_OF_ASSET.items()
    }


class Controls:
    """Killed assets and the exploration pause, persisted in the store's meta table."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        raw = storage.get_meta(CONTROLS_KEY)
        saved = json.loads(raw) if raw else {}
        self.killed: set[Asset] = {Asset(a) for a in saved.get("killed", [])}
        self.paused: bool = bool(saved.get("paused", False))

    def entry_decision(self, strategy_id: str, asset: Asset) -> Decision:
        """No new entry on a killed asset, nor anywhere while exploration is paused."""
        if asset in self.killed:
            return Decision.deny("killed", f"{asset.value} is killed: no new entries ({strategy_id})")
        if self.paused:
            return Decision.deny("exploration_paused", "exploration is paused: no new entries")
        return Decision.allow()

    def set_killed(self, asset: Asset, killed: bool) -> None:
        if killed:
            self.killed.add(asset)
        else:
            self.killed.discard(asset)
        self._save()

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self._save()

    def _save(self) -> None:
        killed = sorted(a.value for a in self.killed)
        self._storage.set_meta(CONTROLS_KEY, json.dumps({"killed": killed, "paused": self.paused}))


def live_preconditions(
    asset: Asset,
    *,
    credentials: Sequence[str],
    environ: Mapping[str, str],
    records: Sequence[StrategyRecord],
    storage: Storage,
) -> Decision:
    """Credentials present, a promoted strategy, reconciliation clean: every missing one is named."""
    missing = []
    if not credentials:
        missing.append(f"no credential variables are configured for {BROKER_OF_ASSET[asset]}")
    unset = [name for name in credentials if not environ.get(name)]
    if unset:
        missing.append(f"credentials not set: {', '.join(unset)}")
    mine = [r for r in records if r.asset is asset]
    if not any(r.state in (StrategyState.PROMOTED, StrategyState.LIVE) for r in mine):
        missing.append(f"no promoted strategy for {asset.value}")
    desync = [r for r in mine if StrategyFlag.BROKER_DESYNC in r.flags]
    unknown = [
        o
        for o in storage.orders(open_only=True)
        if o.asset is asset and o.status is OrderStatus.IN_FLIGHT_UNKNOWN
    ]
    if desync or unknown:
        missing.append(f"reconciliation not clean ({len(desync)} desynced, {len(unknown)} orders unresolved)")
    if missing:
        return Decision.deny("live_preconditions", f"{asset.value} cannot go live: {'; '.join(missing)}")
    return Decision.allow(f"{asset.value}: credentials set, a promoted strategy, reconciliation clean")


def records_from_trades(
    strategies: Sequence[tuple[str, Asset]], trades: Sequence[ClosedTrade], killed: set[Asset]
) -> list[StrategyRecord]:
    """Without a registry: this run's strategies, exploring, with counters counted from the journal."""
    count = Counter(t.strategy_id for t in trades)
    wins = Counter(t.strategy_id for t in trades if t.pnl > 0)
    return [
        StrategyRecord(
            strategy_id,
            asset,
            state=StrategyState.EXPLORING,
            flags=frozenset({StrategyFlag.KILLED}) if asset in killed else frozenset(),
            counters={
                StrategyCounter.TRADES: count[strategy_id],
                StrategyCounter.WINS: wins[strategy_id],
                StrategyCounter.LOSSES: count[strategy_id] - wins[strategy_id],
            },
            last_reason="this run's spec (no strategy registry wired in)",
        )
        for strategy_id, asset in strategies
    ]


def flatten_request(position: Position, mark: Decimal | None) -> OrderRequest:
    """The reduce-only market order that closes ``position`` (reason ``kill``)."""
    return OrderRequest(
        strategy_id=position.strategy_id or "operator",
        asset=position.asset,
        symbol=position.symbol,
        side=position.side.opposite,
        qty=abs(position.qty),
        price=mark if mark is not None else position.avg_price,
        reduce_only=True,
        reason="kill",
    )


async def cancel_working_orders(
    router: OrderRouter, open_orders: Sequence[Order], asset: Asset
) -> tuple[list[str], list[str]]:
    """Cancel ``asset``'s working orders through order_router: (cancelled ids, problems)."""
    cancelled, problems = [], []
    for order in open_orders:
        if order.asset is not asset:
            continue
        try:
            done = await router.cancel_order(asset, order.symbol, order.client_order_id)
        except BrokerError as e:
            problems.append(f"cancel {order.client_order_id}: {e}")
            continue
        if done.status is OrderStatus.CANCELLED:
            cancelled.append(done.client_order_id)
    return cancelled, problems


async def flatten_positions(
    router: OrderRouter, positions: Sequence[Position], marks: Mapping[str, Decimal]
) -> tuple[list[str], list[str]]:
    """Send a reduce-only market order against each position: (accepted order ids, problems)."""
    sent, problems = [], []
    for position in positions:
        result = await router.place_order(flatten_request(position, marks.get(position.symbol)))
        if result.accepted:
            sent.append(result.order.client_order_id)
        else:
            problems.append(f"flatten {position.symbol}: {result.decision.reason or result.order.reason}")
    return sent, problems


def flag_killed(registry: RegistryControl | None, asset: Asset, reason: str, *, on: bool) -> None:
    """Set (``on``) or clear the ``killed`` flag on every registered strategy of ``asset``."""
    if registry is None:
        return
    for record in registry.records():
        if record.asset is asset and (StrategyFlag.KILLED in record.flags) != on:
            change = registry.add_flag if on else registry.remove_flag
            change(record.strategy_id, StrategyFlag.KILLED, reason)
