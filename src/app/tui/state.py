"""What the screens show, kept up to date from the runtime's snapshot and events. It only records; it decides
nothing (each number is one a service published)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

from app.domain.values import AccountSnapshot, Asset, ClosedTrade, Order, Position
from app.ports.storage import JournalEvent
from app.services.runtime_events import (
    AccountUpdated,
    BarProcessed,
    ControlsChanged,
    Delivery,
    Killed,
    LogEvent,
    OrderUpdated,
    PositionsChanged,
    RunFinished,
    RuntimeSnapshot,
    TradeClosed,
)

__all__ = ["ALL_AREAS", "EquityHistory", "OperatorState", "Quote"]

ALL_AREAS = frozenset({"accounts", "positions", "trades", "log", "controls", "bar", "run", "message"})
LOG_CAPACITY = 5000


class EquityHistory:
    """Each asset's equity over the session, a point per valuation, thinned by halves past ``capacity``."""

    def __init__(self, capacity: int = 2048) -> None:
        self.capacity = capacity
        self.times: list[datetime] = []
        self.values: dict[Asset, list[Decimal | None]] = {asset: [] for asset in Asset}
        self._stride = 1
        self._skipped = 0

    def add(self, accounts: Sequence[AccountSnapshot]) -> None:
        if not accounts:
            return
        when = max(a.ts for a in accounts)
        equity = {a.asset: a.equity for a in accounts}
        if self.times and when == self.times[-1]:
            for asset in Asset:
                self.values[asset][-1] = equity.get(asset, self.values[asset][-1])
            return
        self._skipped += 1
        if self._skipped < self._stride:
            return
        self._skipped = 0
        self.times.append(when)
        for asset in Asset:
            self.values[asset].append(equity.get(asset))
        if len(self.times) > self.capacity:
            self.times = self.times[::2]
            self.values = {asset: series[::2] for asset, series in self.values.items()}
            self._stride *= 2

    def totals(self) -> list[Decimal | None]:
        """The sum over the assets that have a value at each point."""
        totals: list[Decimal | None] = []
        for i in range(len(self.times)):
            present = [v for s in self.values.values() if (v := s[i]) is not None]
            totals.append(sum(present, Decimal(0)) if present else None)
        return totals


class Quote:
    """The last close of a watched symbol and the close before it."""

    __slots__ = ("last", "previous", "ts")

    def __init__(self, last: Decimal, ts: datetime, previous: Decimal | None = None) -> None:
        self.last = last
        self.ts = ts
        self.previous = previous


class OperatorState:
    def __init__(self) -> None:
        self.seq = 0
        self.ready = False
        self.services = "starting"
        self.bars = 0
        self.market_time: datetime | None = None
        self.finished = False
        self.assets: tuple[Asset, ...] = ()
        self.symbols: tuple[str, ...] = ()
        self.accounts: dict[Asset, AccountSnapshot] = {}
        self.positions: tuple[Position, ...] = ()
        self.open_orders: tuple[Order, ...] = ()
        self.quotes: dict[str, Quote] = {}
        self.controls = ControlsChanged(False, frozenset(), {})
        self.rewards: dict[Asset, Decimal] = {}
        self.epochs: dict[Asset, int] = {}
        self.live_reasons: dict[Asset, str] = {}
        self.trades: list[ClosedTrade] = []
        self.trades_version = 0
        self.equity = EquityHistory()
        self.log: deque[LogEvent] = deque(maxlen=LOG_CAPACITY)
        self.log_version = 0
        self.dropped = 0
        self.message = ""
        self.last_bar_ns: int | None = None

    def load(
        self, snapshot: RuntimeSnapshot, trades: Sequence[ClosedTrade], journal: Iterable[JournalEvent]
    ) -> frozenset[str]:
        """Start over from a snapshot (the first one, or after the subscription dropped events)."""
        self.ready = True
        self.seq = snapshot.seq
        self.services = "finished" if snapshot.finished else "running"
        self.bars, self.market_time, self.finished = snapshot.bars, snapshot.market_time, snapshot.finished
        self.assets, self.symbols = snapshot.assets, snapshot.symbols
        self.accounts = {a.asset: a for a in snapshot.accounts}
        if snapshot.market_time is not None:  # before the first bar the venues have no valuation time
            self.equity.add(snapshot.accounts)
        self.positions, self.open_orders = snapshot.positions, snapshot.open_orders
        for symbol, mark in snapshot.marks.items():
            if symbol not in self.quotes and snapshot.market_time is not None:
                self.quotes[symbol] = Quote(mark, snapshot.market_time)
        self.controls = snapshot.controls
        self.rewards, self.epochs = dict(snapshot.rewards), dict(snapshot.epochs)
        self.trades = list(trades)
        self.trades_version += 1
        self.log.clear()
        self.log.extend(LogEvent(seq, ts, kind, fields) for seq, ts, kind, fields in journal)
        self.log_version += 1
        return ALL_AREAS

    def apply(self, batch: Sequence[Delivery]) -> set[str]:
        """Record a batch of events; returns the areas of the screen that changed."""
        dirty: set[str] = set()
        for seq, event in batch:
            if seq <= self.seq:
                continue  # already in the snapshot
            self.seq = seq
            dirty.add(self._apply_one(event))
        return dirty

    def _apply_one(self, event: object) -> str:
        if isinstance(event, BarProcessed):
            self.bars, self.market_time, self.last_bar_ns = event.bars, event.market_time, event.published_ns
            quote = self.quotes.get(event.symbol)
            self.quotes[event.symbol] = Quote(event.close, event.ts, quote.last if quote else None)
            return "bar"
        if isinstance(event, AccountUpdated):
            self.accounts.update({a.asset: a for a in event.accounts})
            self.rewards.update(event.rewards)
            self.epochs.update(event.epochs)
            self.equity.add(event.accounts)
            return "accounts"
        if isinstance(event, PositionsChanged):
            self.positions, self.open_orders = event.positions, event.open_orders
            return "positions"
        if isinstance(event, TradeClosed):
            self.trades.append(event.trade)
            return "trades"
        if isinstance(event, LogEvent):
            self.log.append(event)
            self.log_version += 1
            return "log"
        if isinstance(event, ControlsChanged):
            self.controls = event
            return "controls"
        if isinstance(event, Killed):
            self.message = event.summary()
            return "message"
        if isinstance(event, RunFinished):
            self.finished, self.services = True, "finished"
            self.bars = event.bars
            return "run"
        if isinstance(event, OrderUpdated):
            return "positions"
        return "message"

    def total_equity(self) -> Decimal | None:
        if not self.accounts:
            return None
        return sum((a.equity for a in self.accounts.values()), Decimal(0))
