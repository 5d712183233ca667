"""A paper runtime wired by ``bootstrap.wire_paper`` (the same wiring as ``app run``), over a replay of the
shared data by default. Real parts only: sim broker, replay feed, SQLite in the test's folder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.adapters.brokers.sim import SimBroker
from app.adapters.feeds.replay import ReplayFeed
from app.adapters.storage.sqlite import SqliteStorage
from app.bootstrap.paper import wire_paper
from app.domain.values import Asset
from app.learning.strategies.spec import StrategySpec, load_spec
from app.ports.market_data import MarketData
from app.services.app_runtime import AppRuntime
from app.services.budget_manager import BudgetManager
from app.services.config_schema import AppConfig
from app.services.data_manager import DataManager
from app.services.market_clock import MarketClock
from app.services.session_manager import SessionManager
from app.services.strategy_registry import StrategyRegistry
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
    specs: Sequence[StrategySpec] | None = None,
) -> Wired:
    """``specs`` (several strategies) replaces the one ``spec`` file."""
    feed = feed or ReplayFeed(data, speed=speed)
    storage = SqliteStorage.open(home / "paper.db")
    wired = wire_paper(
        AppConfig(),
        tuple(specs) if specs is not None else (load_spec(spec),),
        feed,
        storage,
        status_interval=3600,
        max_bars=bars,
        data_manager=data_manager,
        environ=environ or {},
        operator_services=operator_services,
    )
    return Wired(
        wired.runtime, storage, wired.registry, wired.budget, wired.sessions, wired.brokers, wired.clock, feed
    )
