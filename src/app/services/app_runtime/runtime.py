"""AppRuntime: the lifecycle of a paper (later live) run, and the operator's actions on it.

After a restart, bars up to the last one processed only warm the venues and strategies up (nothing trades),
then the run continues where it stopped (after sl_tp_manager re-attached any SL/TP a broker position lacks,
through pnl_reconciler.sync_protection). For each new closed bar from the feed, in this order: the simulated
venues match what waits for the bar (orders placed on the previous bar fill at this bar's open; stops and
targets trigger inside it), market time moves to the bar's close, pnl_reconciler journals what the brokers
reported, the strategies act on the bar's close, and the bar is marked processed. A status line is reported
every ``status_interval`` seconds of wall time.

With a ``data_manager``, every bar (warm-up bars too) is ingested into it first, its stale watcher runs in the
run's nursery, and a stale symbol sets the registry flag ``data_stale`` on the strategies trading it until its
bars resume. With ``quotes`` too (a live feed's ticker stream), each quote goes into it as it arrives, so
``last_quote`` is live. With ``clusters`` (exposure_manager's learner), each bar, warm-up bars too, lets it
relearn the correlation clusters from the data manager's bars (journaled only for bars processed live).

A live feed starts with history: ``warm_up_through`` (the last bar closed when the run started) makes a run
with nothing to resume only warm up on the bars up to it, as a restarted run does on the bars it processed.

Observers subscribe to ``events`` (published only while someone listens). Operator actions delegate to the
owners (order_router, budget_manager, the registry); the runtime keeps only its two switches (``Controls``),
which the strategies' entry guard consults, and journals every action with who and why.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

import trio
import trio.lowlevel

from app.domain.decision import Decision
from app.domain.money import to_decimal
from app.domain.registry import StrategyFlag, StrategyRecord
from app.domain.values import AccountSnapshot, Asset, Candle, ClosedTrade, Quote
from app.ports.broker import MarketDriven
from app.ports.market_data import MarketData
from app.ports.storage import JournalEvent, Storage
from app.services.app_runtime.controls import (
    LIVE_NOT_BUILT,
    AllocationControl,
    Controls,
    RegistryControl,
    WalletSource,
    cancel_working_orders,
    flag_killed,
    flatten_positions,
    live_preconditions,
    records_from_trades,
)
from app.services.app_runtime.market_tap import flag_data_stale, pump_quotes
from app.services.app_runtime.progress import Progress
from app.services.app_runtime.proposals import place_proposals
from app.services.app_runtime.publisher import StatePublisher, valuation
from app.services.app_runtime.status import RunStatus
from app.services.cluster_learner import ClusterLearner
from app.services.data_manager import DataManager, DataResumed, DataStale
from app.services.market_clock import MarketClock
from app.services.order_router import OrderRouter
from app.services.pnl_reconciler import PnlReconciler
from app.services.runtime_events import (
    AccountUpdated,
    BarProcessed,
    ControlsChanged,
    EventBus,
    Killed,
    RunFinished,
    RuntimeSnapshot,
)
from app.services.trade_executor import TradeExecutor

__all__ = ["AppRuntime", "RunStatus"]

log = logging.getLogger("app.runtime")

# Without a checkpoint now and then, a max-speed replay would hold the host loop (the TUI) for a whole chunk.
_SLICE_S = 0.01


class AppRuntime:
    def __init__(
        self,
        *,
        feed: MarketData,
        venues: Sequence[MarketDriven],
        reconciler: PnlReconciler,
        executors: Sequence[TradeExecutor],
        storage: Storage,
        clock: MarketClock,
        on_status: Callable[[RunStatus], None] = lambda status: None,
        status_interval: float = 5.0,
        max_bars: int | None = None,
        router: OrderRouter | None = None,
        budget: AllocationControl | None = None,
        registry: RegistryControl | None = None,
        sessions: WalletSource | None = None,
        live_credentials: Mapping[Asset, Sequence[str]] | None = None,
        environ: Mapping[str, str] | None = None,
        data_manager: DataManager | None = None,
        clusters: ClusterLearner | None = None,
        quotes: Callable[[], AsyncGenerator[Quote, None]] | None = None,
        warm_up_through: datetime | None = None,
    ) -> None:
        self._feed = feed
        self._venues = list(venues)
        self._reconciler = reconciler
        self._executors = list(executors)
        self._storage = storage
        self._clock = clock
        self._on_status = on_status
        self._status_interval = status_interval
        self._max_bars = max_bars
        self._progress = Progress(storage, warm_up_through)
        self._router = router
        self._budget = budget
        self._registry = registry
        self._sessions = sessions
        self._credentials = {asset: tuple(names) for asset, names in (live_credentials or {}).items()}
        self._environ = os.environ if environ is None else environ
        self._accounts: tuple[AccountSnapshot, ...] = ()
        self._finished = False
        self._trade_count: int | None = None
        self._marks: dict[str, Decimal] = {}
        self.events = EventBus()
        self._publisher = StatePublisher(storage, self.events)
        self._controls = Controls(storage)
        self._data = data_manager
        self._clusters = clusters
        self._quotes = quotes
        if data_manager is not None:
            data_manager.on_stale(self._on_data_stale)
        for executor in self._executors:
            executor.set_entry_guard(self._controls.entry_decision)

    @property
    def assets(self) -> list[Asset]:
        return sorted({e.asset for e in self._executors}, key=list(Asset).index)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> RunStatus:
        """Consume the feed until it ends, ``max_bars`` is reached or the run is cancelled.

        ``max_bars`` bounds the run, not this process: a run resumed after a restart counts the bars processed
        before it, so the same command ends where a run never interrupted ends.
        """
        resumed = self._progress.resume()
        last = resumed.isoformat() if resumed is not None else None
        self._publisher.journal_seq = self._storage.append_event(
            self._clock.now(), "run_started", {"max_bars": self._max_bars, "resume_after": last}
        )
        if self._router is not None:
            await self._router.resolve_in_flight()
        await self._reconciler.sync_protection()
        for executor in self._executors:
            executor.recover_working_order()
        self._accounts = tuple(await self._reconciler.pull_accounts())
        task_status.started()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._report_periodically)
                if self._data is not None:
                    await nursery.start(self._data.run)
                    if self._quotes is not None:
                        nursery.start_soon(pump_quotes, self._data, self._quotes)
                await self._consume()
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await self._process_broker_events()
                self._accounts = tuple(await self._reconciler.pull_accounts())
                self._storage.append_event(self._clock.now(), "run_stopped", {"bars": self._progress.bars})
                self._finished = True
                if self.events.has_subscribers:
                    self._publisher.publish_step(self._valuation())
                    self.events.publish(RunFinished(self._progress.bars, self._market_time()))
        final = self.status(finished=True)
        self._on_status(final)
        return final

    async def on_candle(self, candle: Candle) -> None:
        """Process one closed bar through the data tap, venues, journal and strategies."""
        if self._data is not None:
            self._data.ingest(candle)
        for venue in self._venues:
            await venue.on_candle(candle)
        self._clock.advance_to(candle.close_time)
        if self._clusters is not None:
            self._clusters.on_bar(candle.close_time)
        await self._process_broker_events()
        await place_proposals(self._executors, candle)
        await self._process_broker_events()
        self._progress.mark_processed(candle)
        self._marks[candle.symbol] = close = to_decimal(candle.close)
        if self.events.has_subscribers:
            self._accounts = tuple(await self._reconciler.pull_accounts())
            bar = BarProcessed(
                candle.symbol,
                candle.ts,
                close,
                self._clock.now(),
                self._progress.bars,
                time.perf_counter_ns(),
            )
            self._publisher.publish_step(self._valuation(), bar)

    def resume_point(self) -> tuple[datetime, int] | None:
        """Where a restarted run picks up (``Progress.resume_point``); None for a new run."""
        return self._progress.resume_point()

    def status(self, *, finished: bool = False) -> RunStatus:
        if self._trade_count is None:
            self._trade_count = len(self._storage.trades())
        return RunStatus(
            bars=self._progress.bars,
            market_time=self._market_time(),
            accounts=self._accounts,
            open_positions=len(self._storage.positions()),
            trades=self._trade_count,
            finished=finished,
            cache=self._data.cache_health() if self._data is not None else None,
        )

    async def _consume(self) -> None:
        slice_start = time.perf_counter()
        # What this run processed before a restart is warmed up on at once, not at a paced feed's speed.
        candles = self._feed.stream(catch_up_through=self._progress.resume_after)
        try:
            async for candle in candles:
                if self._progress.processed_before(candle):
                    self._warm_up(candle)
                    continue
                if self._max_bars is not None and self._progress.bars >= self._max_bars:
                    return  # a resumed run that had already processed them all (warmed up to here)
                await self.on_candle(candle)
                if self._max_bars is not None and self._progress.bars >= self._max_bars:
                    return  # at once, not at the next bar (a live feed's may be minutes away)
                if time.perf_counter() - slice_start >= _SLICE_S:
                    await trio.lowlevel.checkpoint()
                    slice_start = time.perf_counter()
        finally:
            # Stopping early leaves the feed's generator open: close it here, not at garbage collection.
            close = getattr(candles, "aclose", None)
            if close is not None:
                with trio.CancelScope(shield=True):
                    await close()

    def _warm_up(self, candle: Candle) -> None:
        """A bar processed before a restart: teach venues and strategies its prices, trade nothing."""
        if self._data is not None:
            self._data.ingest(candle)
        for venue in self._venues:
            venue.observe(candle)
        for executor in self._executors:
            executor.warm_up(candle)
        self._clock.advance_to(candle.close_time)
        if self._clusters is not None:
            self._clusters.on_bar(candle.close_time, record=False)
        self._marks[candle.symbol] = to_decimal(candle.close)

    async def _report_periodically(self) -> None:
        while True:
            await trio.sleep(self._status_interval)
            self._accounts = tuple(await self._reconciler.pull_accounts())
            self._on_status(self.status())

    async def _process_broker_events(self) -> None:
        closed = await self._reconciler.process_events()
        if self._trade_count is not None:
            self._trade_count += len(closed)
        self._publisher.add_closed(closed)

    def _on_data_stale(self, event: DataStale | DataResumed) -> None:
        strategies = [(e.spec.id, e.spec.symbol) for e in self._executors]
        if flag_data_stale(self._registry, strategies, event):
            self._announce()

    def _market_time(self) -> datetime | None:
        return self._clock.now() if self._progress.bars else None

    # -- operator actions ------------------------------------------------------------------------------

    def entry_decision(self, strategy_id: str, asset: Asset) -> Decision:
        """What the strategies' entry guard answers: no entry on a killed asset or while paused."""
        return self._controls.entry_decision(strategy_id, asset)

    async def kill(self, asset: Asset, who: str, why: str) -> Killed:
        """Stop new entries on ``asset``, cancel its working orders and flatten its positions.

        Orders go through order_router (reduce-only market orders, reason ``kill``). The kill is journaled
        with who, when and why, and the asset stays killed, across restarts too, until ``release``.
        """
        if self._router is None:
            msg = "this runtime has no order router: it cannot cancel or flatten"
            raise RuntimeError(msg)
        self._controls.set_killed(asset, True)
        cancelled, problems = await cancel_working_orders(
            self._router, self._storage.orders(open_only=True), asset
        )
        held = (await self._reconciler.pull_positions()).get(asset, ())
        flattening, refused = await flatten_positions(self._router, held, self._marks)
        problems += refused
        await self._process_broker_events()
        flag_killed(self._registry, asset, f"{who}: {why}", on=True)
        event = Killed(
            asset, who, why, self._clock.now(), tuple(cancelled), tuple(flattening), tuple(problems)
        )
        done = {"cancelled": cancelled, "flattening": flattening, "problems": problems}
        self._journal("asset_killed", asset=asset.value, who=who, why=why, **done)
        log.warning("asset killed", extra={"asset": asset.value, "who": who, "why": why})
        self._announce(event)
        return event

    async def kill_all(self, who: str, why: str) -> list[Killed]:
        """Kill every asset this run trades."""
        return [await self.kill(asset, who, why) for asset in self.assets]

    def release(self, asset: Asset, who: str, why: str) -> Decision:
        """Allow entries on a killed asset again (journaled)."""
        if asset not in self._controls.killed:
            return Decision.deny("not_killed", f"{asset.value} is not killed")
        self._controls.set_killed(asset, False)
        flag_killed(self._registry, asset, f"{who}: {why}", on=False)
        self._journal("asset_released", asset=asset.value, who=who, why=why)
        self._announce()
        return Decision.allow(f"{asset.value} released: new entries allowed again")

    def pause_exploration(self, who: str = "operator", why: str = "") -> Decision:
        """No new entries anywhere until resumed; exits (signals, stops, kills) still work."""
        return self._set_paused(True, who, why)

    def resume_exploration(self, who: str = "operator", why: str = "") -> Decision:
        return self._set_paused(False, who, why)

    def live_preconditions(self, asset: Asset) -> Decision:
        """Whether ``asset`` could go live: credentials present, a promoted strategy, reconciliation clean."""
        return live_preconditions(
            asset,
            credentials=self._credentials.get(asset, ()),
            environ=self._environ,
            records=self.strategies(),
            storage=self._storage,
        )

    def enable_live(self, asset: Asset, confirmation: str, who: str = "operator") -> Decision:
        """Switch ``asset`` to live once the operator typed its name. Refused in this build (journaled)."""
        if confirmation.strip().lower() != asset.value:
            decision = Decision.deny("confirmation", f"typed {confirmation!r}, expected {asset.value!r}")
        else:
            ready = self.live_preconditions(asset)
            decision = ready if not ready.allowed else Decision.deny("live_not_built", LIVE_NOT_BUILT)
        self._journal("live_refused", asset=asset.value, who=who, code=decision.code, reason=decision.reason)
        self._announce()
        return decision

    def live_enabled(self, asset: Asset) -> bool:
        """Always False: this build trades paper only."""
        return False

    def adjust_allocation(self, asset: Asset, delta: Decimal) -> Decision:
        """Ask budget_manager to move ``asset``'s allocation by ``delta``; its decision is the answer."""
        if self._budget is None:
            return Decision.deny("no_budget", "allocation changes are not available")
        decision = self._budget.adjust(asset, delta)
        self._announce()
        return decision

    def allocation(self, asset: Asset) -> Decimal | None:
        return self._budget.get_alloc(asset) if self._budget is not None else None

    def set_strategy_flag(
        self, strategy_id: str, flag: StrategyFlag, on: bool, who: str, why: str
    ) -> Decision:
        """Set (``on``) or clear one registry flag of one strategy."""
        if self._registry is None:
            return Decision.deny("no_registry", "strategy flags need the strategy registry (not wired in)")
        change = self._registry.add_flag if on else self._registry.remove_flag
        try:
            record = change(strategy_id, flag, f"{who}: {why}" if why else who)
        except LookupError as e:
            return Decision.deny("unknown_strategy", str(e))
        self._announce()
        return Decision.allow(record.last_reason)

    # -- read models -----------------------------------------------------------------------------------

    def _valuation(self) -> AccountUpdated:
        return valuation(self._accounts, self._sessions)

    def snapshot(self) -> RuntimeSnapshot:
        """Everything an observer shows, as of the bus's current sequence number."""
        valuation = self._valuation()
        return RuntimeSnapshot(
            seq=self.events.seq,
            bars=self._progress.bars,
            market_time=self._market_time(),
            finished=self._finished,
            assets=tuple(self.assets),
            symbols=tuple(self._feed.symbols()),
            accounts=self._accounts,
            positions=tuple(self._storage.positions()),
            open_orders=tuple(self._storage.orders(open_only=True)),
            marks=self._marks,
            controls=self.controls(),
            rewards=valuation.rewards,
            epochs=valuation.epochs,
        )

    def controls(self) -> ControlsChanged:
        return ControlsChanged(
            self._controls.paused,
            frozenset(self._controls.killed),
            {asset: self.allocation(asset) for asset in Asset},
        )

    def last_quote(self, symbol: str) -> Quote | None:
        """The data tap's newest price of ``symbol`` (a live ticker, else the last bar); None without one."""
        if self._data is None or symbol not in self._data.symbols():
            return None
        return self._data.get_last_quote(symbol)

    def closed_trades(self) -> Sequence[ClosedTrade]:
        return self._storage.trades()

    def journal(self, limit: int = 1000) -> list[JournalEvent]:
        """The last ``limit`` journal entries, oldest first."""
        return self._publisher.journal(limit)

    def strategies(self) -> list[StrategyRecord]:
        """The registry's records; without a registry, this run's strategies with journal counters."""
        if self._registry is not None:
            return self._registry.records()
        ids = [(e.spec.id, e.asset) for e in self._executors]
        return records_from_trades(ids, self._storage.trades(), self._controls.killed)

    def _set_paused(self, paused: bool, who: str, why: str) -> Decision:
        if self._controls.paused == paused:
            return Decision.deny("unchanged", f"exploration is already {'paused' if paused else 'running'}")
        self._controls.set_paused(paused)
        self._journal("exploration_paused" if paused else "exploration_resumed", who=who, why=why)
        self._announce()
        return Decision.allow("exploration paused: no new entries" if paused else "exploration resumed")

    def _journal(self, kind: str, **fields: object) -> None:
        self._storage.append_event(self._clock.now(), kind, fields)

    def _announce(self, event: Killed | None = None) -> None:
        """Tell the subscribers about an operator action and what it changed."""
        if not self.events.has_subscribers:
            return
        if event is not None:
            self.events.publish(event)
        self.events.publish(self.controls())
        self._publisher.publish_step(self._valuation())
