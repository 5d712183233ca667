"""pnl_reconciler: the broker is the truth. It journals every order update and fill the brokers report,
keeps the local position book and closed trades from those fills, and stores the brokers' account values.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal

import attrs

from app.domain.positions import PositionChange, apply_fill
from app.domain.registry import StrategyCounter
from app.domain.values import AccountSnapshot, Asset, ClosedTrade, Fill, Order, Position
from app.ports.broker import Broker
from app.ports.clock import Clock
from app.ports.storage import Storage
from app.services.bankroll_manager import BankrollManager
from app.services.budget_manager import BudgetManager
from app.services.sl_tp_manager import SlTpManager
from app.services.strategy_registry import StrategyRegistry

__all__ = ["PnlReconciler"]

log = logging.getLogger("app.pnl_reconciler")


class PnlReconciler:
    def __init__(
        self,
        *,
        brokers: Mapping[Asset, Broker],
        storage: Storage,
        clock: Clock,
        sl_tp: SlTpManager,
        budget: BudgetManager | None = None,
        bankroll: BankrollManager | None = None,
        registry: StrategyRegistry | None = None,
    ) -> None:
        self._brokers = dict(brokers)
        self._storage = storage
        self._clock = clock
        self._sl_tp = sl_tp
        self._budget = budget
        self._bankroll = bankroll
        self._registry = registry

    async def process_events(self) -> list[ClosedTrade]:
        """Journal what every broker reported since the last call. Returns the round trips that closed."""
        closed: list[ClosedTrade] = []
        for asset, broker in self._brokers.items():
            for event in await broker.drain_events():
                if isinstance(event, Order):
                    self._storage.save_order(self._merge(event))
                elif isinstance(event, Fill):
                    trade = await self._on_fill(asset, event)
                    if trade is not None:
                        closed.append(trade)
                        await self._after_close(broker, trade)
        return closed

    async def _after_close(self, broker: Broker, trade: ClosedTrade) -> None:
        """Book a round trip into the budget, the registry counters and the paper bankroll."""
        if self._budget is not None:
            quote = (await broker.instrument(trade.symbol)).quote
            rate = await broker.rate(quote) or Decimal(0)
            self._budget.apply_pnl(trade.asset, trade.pnl * rate)
        if self._registry is not None and self._registry.get(trade.strategy_id) is not None:
            self._registry.inc_counter(trade.strategy_id, StrategyCounter.TRADES)
            outcome = StrategyCounter.WINS if trade.pnl > 0 else StrategyCounter.LOSSES
            self._registry.inc_counter(trade.strategy_id, outcome)
        if self._bankroll is not None:
            await self._bankroll.ensure_min_equity(await broker.account())

    async def pull_accounts(self) -> list[AccountSnapshot]:
        """Store each broker's valuation of its account (the authoritative balances)."""
        snapshots = []
        for broker in self._brokers.values():
            snapshot = await broker.account()
            self._storage.save_account(snapshot)
            snapshots.append(snapshot)
        return snapshots

    async def pull_positions(self) -> dict[Asset, Sequence[Position]]:
        return {asset: await broker.positions() for asset, broker in self._brokers.items()}

    def position(self, asset: Asset, symbol: str) -> Position | None:
        """The local journal's open position for (asset, symbol)."""
        for held in self._storage.positions():
            if held.asset == asset and held.symbol == symbol:
                return held
        return None

    def _merge(self, order: Order) -> Order:
        stored = self._storage.get_order(order.client_order_id)
        if stored is None or order.strategy_id:
            return order
        return attrs.evolve(order, strategy_id=stored.strategy_id)

    async def _on_fill(self, asset: Asset, fill: Fill) -> ClosedTrade | None:
        with self._storage.transaction():
            change = self._book_fill(asset, fill)
        if change is None:
            return None
        opened = change.position is not None and change.closed is None
        if opened:
            await self._sl_tp.attach(asset, fill.symbol, fill.client_order_id)
        return change.closed

    def _book_fill(self, asset: Asset, fill: Fill) -> PositionChange | None:
        """Journal the fill with the position and trade it produces, in one transaction (all or nothing)."""
        if not self._storage.add_fill(fill):
            return None  # already journaled: fills are idempotent by id
        intent = self._storage.intent(fill.client_order_id)
        order = self._storage.get_order(fill.client_order_id)
        reason = intent.note if intent is not None else (order.reason if order else "") or "signal"
        strategy_id = intent.strategy_id if intent else (order.strategy_id if order else "")
        before = self.position(asset, fill.symbol)
        change = apply_fill(before, fill, strategy_id=strategy_id, exit_reason=reason)
        if change.position is None:
            self._storage.delete_position(asset, fill.symbol)
        else:
            position = change.position
            if intent is not None and (before is None or change.closed is None):
                position = attrs.evolve(position, stop_loss=intent.stop_loss, take_profit=intent.take_profit)
            elif before is not None:
                position = attrs.evolve(position, stop_loss=before.stop_loss, take_profit=before.take_profit)
            self._storage.save_position(position)
        if change.closed is not None:
            self._storage.add_trade(change.closed)
            self._storage.append_event(fill.ts, "trade_closed", attrs.asdict(change.closed))
            log.info("trade closed", extra={"symbol": fill.symbol, "pnl": str(change.closed.pnl)})
        return change
