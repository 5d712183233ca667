"""Wiring for a paper run (`app run --paper`, and `app tui` on the same runtime).

Everything that can be wrong with the user's input (config, specs, data) is checked before the home folder is
touched, so a refused start leaves nothing behind.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC
from pathlib import Path
from typing import final

import attrs
import platformdirs

from app.adapters.brokers.sim import FundingSeries, SimBroker, SimConfig
from app.adapters.feeds.replay import ReplayFeed
from app.adapters.feeds.synthetic import SyntheticFeed
from app.adapters.logging import setup_logging
from app.adapters.storage.sqlite import SqliteStorage
from app.bootstrap.bar_cache import home_cache, market_of_category
from app.bootstrap.funding import replay_funding_rates
from app.bootstrap.live_feed import LiveStart, bybit_category, bybit_paper_feed, instrument_rules, live_start
from app.domain.errors import ValidationFailed
from app.domain.fills import FillCosts
from app.domain.money import to_decimal
from app.domain.values import Asset
from app.learning.strategies.signals import warmup_bars
from app.learning.strategies.spec import StrategySpec, load_spec, parse_spec
from app.ports.bar_store import BarStore
from app.ports.broker import Broker
from app.ports.errors import DataError, StorageError
from app.ports.market_data import MarketData
from app.ports.storage import Storage
from app.services.app_runtime import AppRuntime, RunStatus, credential_env_names
from app.services.bankroll_manager import BankrollManager
from app.services.budget_manager import BudgetManager
from app.services.cluster_learner import learned_clusters
from app.services.config_manager import load_config
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

__all__ = [
    "PaperRun",
    "PaperRunOptions",
    "PaperServices",
    "build_paper_run",
    "open_store",
    "resolve_home",
    "wire_paper",
]

HOME_ENV = "APP_HOME"
# Bars of history the data manager keeps per symbol at least (the strategies' warm-up may ask for more).
MIN_HISTORY = 1000
# A symbol's new bars are appended once this many are held, or once the oldest has waited this long: a
# crash loses at most that much of the cache (the run's trades are in SQLite, not here).
CACHE_FLUSH_EVERY = 500
CACHE_FLUSH_AFTER_S = 300.0


@final
@attrs.frozen
class PaperRunOptions:
    """What ``app run --paper`` (and later ``app tui``) was asked for. None means "from the config"."""

    feed: str | None = None
    data: Path | None = None
    specs: tuple[Path, ...] = ()
    speed: float | None = None
    speed_given: bool = False
    bars: int | None = None
    home: Path | None = None
    config: Path | None = None
    status_interval: float | None = None


@final
@attrs.define
class PaperRun:
    runtime: AppRuntime
    storage: SqliteStorage
    home: Path
    config: AppConfig
    specs: tuple[StrategySpec, ...]
    data: DataManager | None = None
    notes: tuple[str, ...] = ()  # what the operator should know about the inputs (shown at the start)

    def close(self) -> None:
        if self.data is not None:
            self.data.flush()  # the runtime flushes when it stops; this covers a run that never started it
        self.storage.close()


def resolve_home(home: Path | None, config: AppConfig | None = None) -> Path:
    """``--home`` beats ``APP_HOME``, which beats the config's ``storage.home``, which beats platformdirs."""
    if home is not None:
        return home.expanduser()
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    if config is not None and config.storage.home is not None:
        return Path(config.storage.home).expanduser()
    return Path(platformdirs.user_data_dir("app"))


def open_store(home: Path, config: AppConfig | None = None, *, readonly: bool = False) -> SqliteStorage:
    name = config.storage.paper_db if config is not None else "paper.db"
    return SqliteStorage.open(home / name, readonly=readonly)


def build_paper_run(options: PaperRunOptions, on_status: Callable[[RunStatus], None]) -> PaperRun:
    """Validate every input, then create the home folder, the store and the services.

    Raises ValidationFailed (config, spec) or DataError (data) before anything is written.
    """
    config = load_config(options.config)
    specs = tuple(load_spec(path) for path in options.specs)
    feed, specs = _build_feed(config, options, specs)
    _check_coverage(feed, specs)
    funding = replay_funding_rates(config, options.feed, options.data, specs)

    home = resolve_home(options.home, config)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    home.chmod(0o700)
    setup_logging(
        home / config.storage.log_file,
        level=config.logging.level,
        secret_env_vars=_secret_env_vars(config),
    )
    storage = open_store(home, config)
    try:
        live = live_start(feed, storage)
        cache = _bar_cache(feed, config, home)  # may move an old cache's series into spot first
    except (DataError, StorageError):
        storage.close()
        raise
    # The learned clusters need their correlation window of bars in memory.
    data_manager = _data_manager(
        feed, specs, store=cache, min_history=config.exposure.correlation.window_bars + 2
    )
    wired = wire_paper(
        config,
        specs,
        feed,
        storage,
        on_status=on_status,
        status_interval=options.status_interval or config.runtime.status_interval_s,
        max_bars=options.bars,
        data_manager=data_manager,
        live=live,
        funding_rates=funding,
    )
    return PaperRun(
        runtime=wired.runtime,
        storage=storage,
        home=home,
        config=config,
        specs=specs,
        data=data_manager,
        notes=_feed_notes(feed) + _shared_position_notes(specs),
    )


@final
@attrs.frozen
class PaperServices:
    """The wired paper runtime and the services an operator (or a test) reaches through it."""

    runtime: AppRuntime
    registry: StrategyRegistry
    budget: BudgetManager
    sessions: SessionManager
    brokers: dict[Asset, SimBroker]
    clock: MarketClock


def wire_paper(
    config: AppConfig,
    specs: Sequence[StrategySpec],
    feed: MarketData,
    storage: Storage,
    *,
    on_status: Callable[[RunStatus], None] = lambda status: None,
    status_interval: float,
    max_bars: int | None = None,
    data_manager: DataManager | None = None,
    environ: Mapping[str, str] | None = None,
    operator_services: bool = True,
    live: LiveStart | None = None,
    funding_rates: Mapping[str, FundingSeries] | None = None,
) -> PaperServices:
    """Rebuild the paper venues from ``storage``'s journal and wire every service of a paper run over ``feed``.

    ``operator_services=False`` leaves the budget, registry, sessions and credentials out of the runtime's
    operator actions (they still run in the order pipeline). ``live`` carries a live feed's instrument rules,
    ticker stream and warm-up horizon. ``funding_rates`` (symbol -> series) are charged to futures positions.
    """
    live = live or LiveStart()
    clock = MarketClock()
    assets = sorted({s.asset for s in specs}, key=list(Asset).index) or [Asset.SPOT]
    sims = {asset: _sim_broker(config, asset, live, funding_rates or {}) for asset in assets}
    for sim in sims.values():
        sim.restore(storage.orders(), storage.fills(), storage.positions(), intents=storage.intent)
    brokers: dict[Asset, Broker] = dict(sims)
    sessions = SessionManager(storage, clock, {a: paper_rules_from(config, a) for a in assets})
    sessions.start_session()
    bankroll = BankrollManager(sessions, brokers)
    bankroll.restore_deposits({a: config.get_asset(a).currency for a in assets})
    registry = StrategyRegistry(storage, clock)
    for spec in specs:
        registry.create(spec.id, spec.asset, reason=f"paper run of {spec.id}")
    risk = RiskManager(
        {a: risk_limits_from(config, a) for a in assets},
        {a: config.get_asset(a).risk.max_notional_per_order for a in assets},
    )
    budget = BudgetManager(budget_from(config, assets), storage=storage, clock=clock)
    exposure = ExposureManager(exposure_limits_from(config), clusters_from(config))
    router = OrderRouter(
        brokers=brokers,
        storage=storage,
        clock=clock,
        risk=risk,
        budget=budget,
        exposure=exposure,
        registry=registry,
    )
    sl_tp = SlTpManager(brokers=brokers, storage=storage)
    reconciler = PnlReconciler(
        brokers=brokers,
        storage=storage,
        clock=clock,
        sl_tp=sl_tp,
        budget=budget,
        bankroll=bankroll,
        registry=registry,
    )
    executors = [TradeExecutor(spec, router=router, reconciler=reconciler, storage=storage) for spec in specs]
    runtime = AppRuntime(
        feed=feed,
        venues=list(sims.values()),
        reconciler=reconciler,
        executors=executors,
        storage=storage,
        clock=clock,
        on_status=on_status,
        status_interval=status_interval,
        max_bars=max_bars,
        router=router,
        budget=budget if operator_services else None,
        registry=registry if operator_services else None,
        sessions=sessions if operator_services else None,
        live_credentials=credential_env_names(config) if operator_services else None,
        environ=environ,
        data_manager=data_manager,
        clusters=learned_clusters(config, exposure, data_manager, feed, storage, clock),
        quotes=live.quotes,
        warm_up_through=live.warm_up_through,
    )
    return PaperServices(runtime, registry, budget, sessions, sims, clock)


def _build_feed(
    config: AppConfig, options: PaperRunOptions, specs: tuple[StrategySpec, ...]
) -> tuple[MarketData, tuple[StrategySpec, ...]]:
    kind = options.feed or config.feeds.default
    if kind == "replay":
        path = options.data or (Path(config.feeds.replay.path) if config.feeds.replay.path else None)
        if path is None:
            raise ValidationFailed("--data", [("", "the replay feed needs --data FILE|DIR")])
        speed = options.speed if options.speed_given else _config_speed(config.feeds.replay.speed)
        # As app backtest reads its data: a spec's symbol may come from a file named after it with a tag
        # (BTCUSD_coinbase.csv for BTCUSD), and of several files of one symbol the spec's timeframe is read.
        feed: MarketData = ReplayFeed(
            path, speed=speed, wanted={spec.symbol: spec.timeframe for spec in specs}
        )
        return feed, specs or _default_specs(feed)
    if kind == "synthetic":
        synthetic = config.feeds.synthetic
        start = synthetic.start if synthetic.start.tzinfo else synthetic.start.replace(tzinfo=UTC)
        speed = options.speed if options.speed_given else synthetic.speed
        feed = SyntheticFeed(
            list(synthetic.symbols),
            timeframe=synthetic.timeframe,
            seed=config.runtime.seed,
            start=start,
            speed=speed,
        )
        return feed, specs or _default_specs(feed)
    if kind == "bybit":
        live, asset = bybit_paper_feed(
            config, specs, data_given=options.data is not None, speed_given=options.speed_given
        )
        return live, specs or _default_specs(live, asset)
    msg = f"feed {kind!r} cannot drive a paper run: use synthetic, replay or bybit"
    raise ValidationFailed("--feed", [("", msg)])


def _feed_notes(feed: MarketData) -> tuple[str, ...]:
    if not isinstance(feed, ReplayFeed):
        return ()
    served = [f"{symbol} bars come from the series {name}" for name, symbol in feed.served().items()]
    return (*served, *(f"not replayed: {why}" for why in feed.left_out()))


def _shared_position_notes(specs: Sequence[StrategySpec]) -> tuple[str, ...]:
    """Specs that trade one symbol of one asset share its netted position at the venue (one per symbol, as
    on Bybit's one-way accounts): while one of them holds it, the others' entries are skipped."""
    sharing: dict[tuple[str, str], list[str]] = {}
    for spec in specs:
        sharing.setdefault((spec.asset.value, spec.symbol), []).append(spec.id)
    return tuple(
        f"{symbol} ({asset}) is traded by {', '.join(ids)}: one netted position per symbol, so while one of "
        "them holds it the others' entries are skipped"
        for (asset, symbol), ids in sharing.items()
        if len(ids) > 1
    )


def _bar_cache(feed: MarketData, config: AppConfig, home: Path) -> BarStore | None:
    """The home's bar cache of the feed's market when the feed brings market data that is not on disk yet:
    a Bybit feed's bars go to the cache of its category (``<home>/cache/spot``, ``.../linear``, ...).

    Only a live exchange feed is cached (docs/data.md): a replay is already a file (``app data import``
    caches it, with the reader's repair report), synthetic prices stored under real symbol names would poison
    every backtest that reads the cache, and Bybit testnet prices are not the market's.
    """
    category = bybit_category(feed)
    if category is None or config.feeds.bybit.testnet:
        return None
    return home_cache(home, market_of_category(category))


def _data_manager(
    feed: MarketData, specs: Sequence[StrategySpec], *, store: BarStore | None = None, min_history: int = 0
) -> DataManager:
    """The runtime's market-data tap: every symbol of the feed at its own timeframe. With ``store`` (the bar
    cache), each symbol warms up from its cached tail and its new bars are appended in batches as they
    arrive (a failed write is retried and shown in the status line, never fatal to the run)."""
    history = max([MIN_HISTORY, min_history, *(2 * warmup_bars(spec) for spec in specs)])
    data = DataManager(
        history=history, store=store, flush_every=CACHE_FLUSH_EVERY, flush_after=CACHE_FLUSH_AFTER_S
    )
    for symbol in feed.symbols():
        data.subscribe([symbol], [feed.timeframe(symbol)])
    return data


def _config_speed(value: object) -> float | None:
    return None if value in (None, "max") else float(str(value))


def _default_specs(feed: MarketData, asset: Asset = Asset.SPOT) -> tuple[StrategySpec, ...]:
    """With no --spec, trade a moving-average cross on every symbol of the feed (the offline demo)."""
    return tuple(
        parse_spec(
            {
                "id": f"demo-sma-{symbol.lower()}",
                "asset": asset.value,
                "symbol": symbol,
                "timeframe": feed.timeframe(symbol),
                "signal": {
                    "kind": "rules",
                    "long_entry": "crosses_above(sma(close, 10), sma(close, 30))",
                    "long_exit": "crosses_below(sma(close, 10), sma(close, 30))",
                },
                "sizing": {"mode": "fraction", "fraction": 0.25},
            },
            source="built-in demo strategy",
        )
        for symbol in feed.symbols()
    )


def _check_coverage(feed: MarketData, specs: Sequence[StrategySpec]) -> None:
    symbols = set(feed.symbols())
    problems = []
    for spec in specs:
        if spec.symbol not in symbols:
            have = ", ".join(sorted(symbols)) or "none"
            problems.append((spec.id, f"the data has no {spec.symbol} (it has {have})"))
        elif feed.timeframe(spec.symbol) != spec.timeframe:
            problems.append(
                (
                    spec.id,
                    f"{spec.symbol} data is {feed.timeframe(spec.symbol)}, the spec wants {spec.timeframe}",
                )
            )
    if problems:
        raise ValidationFailed("specs", problems)


def _sim_broker(
    config: AppConfig, asset: Asset, live: LiveStart, funding: Mapping[str, FundingSeries]
) -> SimBroker:
    settings = config.get_asset(asset)
    return SimBroker(
        SimConfig(
            asset=asset,
            currency=settings.currency,
            starting_cash=to_decimal(settings.paper.start_equity),
            instruments=instrument_rules(asset, live.instruments),
            costs=FillCosts(
                taker_fee=to_decimal(settings.fees.taker),
                maker_fee=to_decimal(settings.fees.maker),
                slippage_bps=to_decimal(settings.slippage_bps),
            ),
            margin=asset is not Asset.SPOT,
            reference_rates={k: to_decimal(v) for k, v in settings.quote_rates.items()},
            funding_rates=funding if asset is Asset.FUTURES else {},
        )
    )


def _secret_env_vars(config: AppConfig) -> list[str]:
    bybit, telegram = config.brokers.bybit, config.notifications.telegram
    return [bybit.api_key_env, bybit.api_secret_env, telegram.bot_token_env, telegram.chat_id_env]
