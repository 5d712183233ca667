"""app_runtime: the lifecycle of a paper (later live) run.

After a restart, bars up to the last one processed only warm the venues and strategies up (nothing trades),
then the run continues where it stopped. For each new closed bar from the feed, in this order: the simulated venues match what waits for the bar (orders
placed on the previous bar fill at this bar's open; stops and targets trigger inside it), market time moves
to the bar's close, pnl_reconciler journals what the brokers reported, the strategies act on the bar's close,
and the bar is marked processed. A status line is reported every ``status_interval`` seconds of wall time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import final

import attrs
import trio

from app.domain.values import AccountSnapshot, Asset, Candle
from app.ports.broker import MarketDriven
from app.ports.market_data import MarketData
from app.ports.storage import Storage
from app.services.market_clock import MarketClock
from app.services.order_router import OrderRouter
from app.services.pnl_reconciler import PnlReconciler
from app.services.trade_executor import TradeExecutor

__all__ = ["AppRuntime", "RunStatus"]

log = logging.getLogger("app.runtime")

LAST_BAR_KEY = "last_bar_ts"


@final
@attrs.frozen
class RunStatus:
    """What the status line shows."""

    bars: int
    market_time: datetime | None
    accounts: tuple[AccountSnapshot, ...]
    open_positions: int
    trades: int
    finished: bool = False

    def line(self) -> str:
        when = self.market_time.strftime("%Y-%m-%d %H:%M") if self.market_time else "-"
        equity = " ".join(f"{a.asset.value}={a.equity:.2f}" for a in self.accounts)
        total = sum((a.equity for a in self.accounts), Decimal(0))
        state = "done" if self.finished else "running"
        return (
            f"[{state}] bar {when} UTC | bars {self.bars} | equity {equity} total={total:.2f} | "
            f"open {self.open_positions} | trades {self.trades}"
        )


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
        self._bars = 0
        self._router = router
        self._resume_after: datetime | None = None
        self._accounts: tuple[AccountSnapshot, ...] = ()

    @property
    def assets(self) -> list[Asset]:
        return sorted({e.asset for e in self._executors}, key=list(Asset).index)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> RunStatus:
        """Consume the feed until it ends, ``max_bars`` is reached or the run is cancelled."""
        last = self._storage.get_meta(LAST_BAR_KEY)
        self._resume_after = datetime.fromisoformat(last) if last else None
        self._storage.append_event(
            self._clock.now(), "run_started", {"max_bars": self._max_bars, "resume_after": last}
        )
        if self._router is not None:
            await self._router.resolve_in_flight()
        for executor in self._executors:
            executor.recover_working_order()
        self._accounts = tuple(await self._reconciler.pull_accounts())
        task_status.started()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._report_periodically)
                await self._consume()
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await self._reconciler.process_events()
                self._accounts = tuple(await self._reconciler.pull_accounts())
                self._storage.append_event(self._clock.now(), "run_stopped", {"bars": self._bars})
        final = self.status(finished=True)
        self._on_status(final)
        return final

    async def on_candle(self, candle: Candle) -> None:
        """Process one closed bar through venues, journal and strategies."""
        for venue in self._venues:
            await venue.on_candle(candle)
        self._clock.advance_to(candle.close_time)
        await self._reconciler.process_events()
        for executor in self._executors:
            await executor.on_candle(candle)
        await self._reconciler.process_events()
        self._storage.set_meta(LAST_BAR_KEY, candle.ts.isoformat())
        self._bars += 1

    def status(self, *, finished: bool = False) -> RunStatus:
        return RunStatus(
            bars=self._bars,
            market_time=self._clock.now() if self._bars else None,
            accounts=self._accounts,
            open_positions=len(self._storage.positions()),
            trades=len(self._storage.trades()),
            finished=finished,
        )

    async def _consume(self) -> None:
        async for candle in self._feed.stream():
            if self._resume_after is not None and candle.ts <= self._resume_after:
                self._warm_up(candle)
                continue
            await self.on_candle(candle)
            if self._max_bars is not None and self._bars >= self._max_bars:
                return

    def _warm_up(self, candle: Candle) -> None:
        """A bar processed before a restart: teach venues and strategies its prices, trade nothing."""
        for venue in self._venues:
            venue.observe(candle)
        for executor in self._executors:
            executor.warm_up(candle)
        self._clock.advance_to(candle.close_time)

    async def _report_periodically(self) -> None:
        while True:
            await trio.sleep(self._status_interval)
            self._accounts = tuple(await self._reconciler.pull_accounts())
            self._on_status(self.status())
