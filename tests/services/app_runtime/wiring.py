"""A paper runtime wired like ``bootstrap.build_paper_run``, with the operator's services passed to the runtime
(budget, registry, sessions, live credentials) and a replay of the shared data. Real parts only: sim broker,
replay feed, SQLite in the test's folder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from app.adapters.brokers.sim import SimBroker, SimConfig
from app.adapters.feeds.replay import ReplayFeed
from app.adapters.storage.sqlite import SqliteStorage
from app.domain.fills import FillCosts
from app.domain.money import to_decimal
from app.domain.symbols import generic_instrument
from app.domain.values import Asset
from app.learning.strategies.spec import load_spec
from app.ports.broker import Broker
from app.ports.market_data import MarketData
from app.services.app_runtime import AppRuntime, credential_env_names
from app.services.bankroll_manager import BankrollManager
from app.services.budget_manager import BudgetManager
from app.services.config_schema import AppConfig
from app.services.data_manager import DataManager
from app.services.exposure_manager import ExposureManager
from app.services.market_clock import MarketClock
from app.services.order_router import OrderRouter
from app.services.pnl_reconciler import PnlReconciler
from app.services.risk_manager import RiskManager
from app.services.rules_config import (
    budget_from,
    clusters_from,
    exposure_limits_from,
    paper_rules_from,
    risk_limits_from,
)
from app.services.session_manager import SessionManager
from app.services.sl_tp_manager import SlTpManager
from app.services.strategy_registry import StrategyRegistry
from app.services.trade_executor import TradeExecutor
from tests.conftest import ROOT, SHARED_DATA

SPEC = ROOT / "config" / "specs" / "sma_cross.yaml"
ETHBTC = SHARED_DATA / "crypto_spot_5m" / "ETHBTC.csv"


@dataclass
class Wired:
    runtime: AppRuntime
    storage: SqliteStorage
    registry: StrategyRegistry
    budget: BudgetManager
    sessions: SessionManager
    brokers: dict[Asset, SimBroker]
    clock: MarketClock
    feed: MarketData


def _sim(config: AppConfig, asset: Asset) -> SimBroker:
    settings = config.get_asset(asset)
    costs = FillCosts(
        taker_fee=to_decimal(settings.fees.taker),
        maker_fee=to_decimal(settings.fees.maker),
        slippage_bps=to_decimal(settings.slippage_bps),
    )
    return SimBroker(
        SimConfig(
            asset=asset,
            currency=settings.currency,
            starting_cash=to_decimal(settings.paper.start_equity),
            instruments=lambda symbol: generic_instrument(symbol, asset),
            costs=costs,
            margin=asset is not Asset.SPOT,
            reference_rates={k: to_decimal(v) for k, v in settings.quote_rates.items()},
        )
    )


def paper_runtime(
    home: Path,
    *,
    bars: int | None = None,
    data: Path = ETHBTC,
    spec: Path = SPEC,
    environ: Mapping[str, str] | None = None,
    speed: float | None = None,
    operator_services: bool = True,
    feed: MarketData | None = None,
    data_manager: DataManager | None = None,
) -> Wired:
    config = AppConfig()
    specs = (load_spec(spec),)
    feed = feed or ReplayFeed(data, speed=speed)
    storage = SqliteStorage.open(home / "paper.db")
    clock = MarketClock()
    assets = sorted({s.asset for s in specs}, key=list(Asset).index)
    sims = {asset: _sim(config, asset) for asset in assets}
    for sim in sims.values():
        sim.restore(storage.orders(), storage.fills(), storage.positions())
    brokers: dict[Asset, Broker] = dict(sims)
    sessions = SessionManager(storage, clock, {a: paper_rules_from(config, a) for a in assets})
    sessions.start_session()
    bankroll = BankrollManager(sessions, brokers)
    bankroll.restore_deposits({a: config.get_asset(a).currency for a in assets})
    registry = StrategyRegistry(storage, clock)
    for one in specs:
        registry.create(one.id, one.asset, reason=f"paper run of {one.id}")
    risk = RiskManager(
        {a: risk_limits_from(config, a) for a in assets},
        {a: config.get_asset(a).risk.max_notional_per_order for a in assets},
    )
    budget = BudgetManager(budget_from(config, assets), storage=storage, clock=clock)
    exposure = ExposureManager(exposure_limits_from(config), clusters_from(config))
    router = OrderRouter(
        brokers=brokers, storage=storage, clock=clock, risk=risk, budget=budget, exposure=exposure,
        registry=registry,
    )  # fmt: skip
    sl_tp = SlTpManager(brokers=brokers, storage=storage)
    reconciler = PnlReconciler(
        brokers=brokers, storage=storage, clock=clock, sl_tp=sl_tp, budget=budget, bankroll=bankroll,
        registry=registry,
    )  # fmt: skip
    executors = [TradeExecutor(s, router=router, reconciler=reconciler, storage=storage) for s in specs]
    runtime = AppRuntime(
        feed=feed,
        venues=list(sims.values()),
        reconciler=reconciler,
        executors=executors,
        storage=storage,
        clock=clock,
        status_interval=3600,
        max_bars=bars,
        router=router,
        budget=budget if operator_services else None,
        registry=registry if operator_services else None,
        sessions=sessions if operator_services else None,
        live_credentials=credential_env_names(config) if operator_services else None,
        environ=environ or {},
        data_manager=data_manager,
    )
    return Wired(runtime, storage, registry, budget, sessions, sims, clock, feed)
