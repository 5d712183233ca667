"""pnl_reconciler: the broker is the truth. It journals every order update, fill and funding payment the
brokers report, keeps the local position book and closed trades from those fills, and stores the brokers'
account values.

Fills are journaled once by fill id (the store refuses a second), funding payments once by ``funding_id``
(a ``funding`` journal entry per settlement: what moved the cash of a perpetual between its fills). Both are
realised P&L for the budget. A broker that reports a payment again (a duplicated event, a paper venue
re-charging past funding times while it warms up after a restart) changes nothing.

A payment is also booked into the journal's position it was settled on (``Position.funding``), in the same
transaction as its journal entry, so the trade that closes the position carries it in its ``pnl`` as the
backtester's trades do. That position is the one held at the funding time: the fills and payments of a batch
are journaled in time order (a fill at the funding time counts, as at the venue), and when the journal's
position is not the one the broker settled (a fill event the broker dropped), the broker's missing fills up to
the funding time are journaled first. ``app status --rebuild`` books payments into positions by the same rule.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

import attrs

from app.domain.positions import PositionChange, apply_fill, book_funding
from app.domain.registry import StrategyCounter, StrategyFlag
from app.domain.values import (
    AccountSnapshot,
    Asset,
    ClosedTrade,
    Fill,
    FundingPayment,
    Order,
    OrderStatus,
    Position,
)
from app.ports.broker import Broker, BrokerEvent
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
        self._expected_balances: dict[Asset, dict[str, Decimal]] = {}
        # (asset, funding id) of every payment journaled; read from the journal on first use.
        self._funding_ids: set[tuple[str, str]] | None = None

    async def process_events(self) -> list[ClosedTrade]:
        """Journal what every broker reported since the last call. Returns the round trips that closed."""
        closed: list[ClosedTrade] = []
        for asset, broker in self._brokers.items():
            events = await broker.drain_events()
            if not events:
                continue
            try:
                with self._storage.transaction():
                    closed += await self._journal_events(asset, broker, events)
            except BaseException:
                self._funding_ids = None  # the rollback undid what this batch journaled: read it again
                raise
        return closed

    async def _journal_events(
        self, asset: Asset, broker: Broker, events: Sequence[BrokerEvent]
    ) -> list[ClosedTrade]:
        """One broker's batch of events, journaled in one transaction (all of it survives a crash, or none)."""
        closed: list[ClosedTrade] = []
        for event in in_time_order(events):
            if isinstance(event, Order):
                stored = self._storage.get_order(event.client_order_id)
                if not _is_stale(event, stored):
                    self._storage.save_order(_merged(event, stored))
            elif isinstance(event, FundingPayment):
                closed += await self._on_funding(asset, broker, event)
            elif isinstance(event, Fill):
                # The fill's journal entry, position, trade, budget, counters and any top-up go together.
                trade = await self._on_fill(asset, event)
                if trade is not None:
                    closed.append(trade)
                    await self._after_close(broker, trade)
        return closed

    async def _after_close(self, broker: Broker, trade: ClosedTrade) -> None:
        """Book a round trip into the budget (less its funding, booked when it was paid), the registry counters
        (a win or a loss by its ``pnl``, funding included, as the backtester counts) and the paper bankroll."""
        if self._budget is not None:
            quote = (await broker.instrument(trade.symbol)).quote
            rate = await broker.rate(quote) or Decimal(0)
            self._budget.apply_pnl(trade.asset, (trade.pnl - trade.funding) * rate)
        if self._registry is not None and self._registry.get(trade.strategy_id) is not None:
            self._registry.inc_counter(trade.strategy_id, StrategyCounter.TRADES)
            outcome = StrategyCounter.WINS if trade.pnl > 0 else StrategyCounter.LOSSES
            self._registry.inc_counter(trade.strategy_id, outcome)
        if self._bankroll is not None:
            await self._bankroll.ensure_min_equity(await broker.account())

    async def _on_funding(self, asset: Asset, broker: Broker, payment: FundingPayment) -> list[ClosedTrade]:
        """Journal one funding settlement, once per ``funding_id``, book it into the journal's position it was
        settled on and into the budget as realised P&L. ``value`` is the amount in the bucket's currency at the
        broker's rate then (None without one). Returns the round trips that fills the broker had not reported
        closed (journaled first: see the module docstring); nothing for a payment already journaled."""
        journaled = self._journaled_funding()
        key = (asset.value, payment.funding_id)
        if key in journaled:
            return []
        closed: list[ClosedTrade] = []
        held = self.position(asset, payment.symbol)
        if (held.qty if held is not None else Decimal(0)) != payment.position_qty:
            closed = await self._pull_missing_fills(asset, broker, payment.symbol, until=payment.ts)
            held = self.position(asset, payment.symbol)
            if (held.qty if held is not None else Decimal(0)) != payment.position_qty:
                log.warning(
                    "funding settled on a position the journal does not hold",
                    extra={
                        "funding_id": payment.funding_id,
                        "broker_qty": str(payment.position_qty),
                        "journal_qty": str(held.qty) if held is not None else "0",
                    },
                )
        if held is not None:
            self._storage.save_position(book_funding(held, payment.amount))
        rate = await broker.rate(payment.currency)
        value = payment.amount * rate if rate is not None else None
        self._storage.append_event(
            payment.ts,
            "funding",
            {
                "id": payment.funding_id,
                "asset": asset.value,
                "symbol": payment.symbol,
                "ts": payment.ts,
                "rate": payment.rate,
                "position_qty": payment.position_qty,
                "mark": payment.mark,
                "amount": payment.amount,
                "currency": payment.currency,
                "value": value,
            },
        )
        journaled.add(key)
        if self._budget is not None and value is not None:
            self._budget.apply_pnl(asset, -value)
        return closed

    def _journaled_funding(self) -> set[tuple[str, str]]:
        if self._funding_ids is None:
            self._funding_ids = {
                (str(fields["asset"]), str(fields["id"]))
                for _, _, _, fields in self._storage.events(kind="funding")
            }
        return self._funding_ids

    async def pull_accounts(self) -> list[AccountSnapshot]:
        """Store each broker's valuation of its account (the authoritative balances)."""
        snapshots = []
        for broker in self._brokers.values():
            snapshot = await broker.account()
            self._storage.save_account(snapshot)
            snapshots.append(snapshot)
        return snapshots

    async def sync_protection(self) -> dict[Asset, list[str]]:
        """After a restart or a reconnect: have sl_tp_manager re-attach the SL/TP the brokers' positions lack,
        measured against the journal's positions (which keep the fill-anchored levels). Each repair is
        journaled; returns the repaired symbols per asset."""
        journal = self._storage.positions()
        repaired: dict[Asset, list[str]] = {}
        for asset in self._brokers:
            wanted = {p.symbol: p for p in journal if p.asset == asset}
            symbols = await self._sl_tp.sync(asset, wanted)
            if symbols:
                repaired[asset] = symbols
                fields = {"asset": asset.value, "symbols": symbols}
                self._storage.append_event(self._clock.now(), "sl_tp_resynced", fields)
                log.warning("re-attached missing SL/TP", extra=fields)
        return repaired

    async def pull_positions(self) -> dict[Asset, Sequence[Position]]:
        return {asset: await broker.positions() for asset, broker in self._brokers.items()}

    async def pull_fills(self) -> list[ClosedTrade]:
        """Journal every execution the brokers know that the journal lacks (a dropped fill event)."""
        closed: list[ClosedTrade] = []
        for asset, broker in self._brokers.items():
            closed += await self._pull_missing_fills(asset, broker)
        return closed

    async def _pull_missing_fills(
        self, asset: Asset, broker: Broker, symbol: str | None = None, until: datetime | None = None
    ) -> list[ClosedTrade]:
        """Journal ``broker``'s executions the journal lacks (of ``symbol`` and at or before ``until`` when
        given), each with its order's state in one transaction."""
        closed: list[ClosedTrade] = []
        known = {f.fill_id for f in self._storage.fills()}
        for fill in await broker.fills():
            if fill.fill_id in known or (symbol is not None and fill.symbol != symbol):
                continue
            if until is not None and fill.ts > until:
                continue
            log.warning("fill missing from the journal", extra={"fill_id": fill.fill_id})
            truth = await broker.get_order(fill.client_order_id)
            with self._storage.transaction():
                if truth is not None:
                    self._storage.save_order(_merged(truth, self._storage.get_order(truth.client_order_id)))
                trade = await self._on_fill(asset, fill)
                if trade is not None:
                    closed.append(trade)
                    await self._after_close(broker, trade)
        return closed

    async def reconcile(self, tolerance: Decimal = Decimal("0.00000001")) -> dict[Asset, list[str]]:
        """Broker truth against the journal. Missing fills and order states are pulled in first; a position
        that still differs beyond ``tolerance`` sets ``broker_desync`` on every strategy of the asset (no new
        entries there) until a clean reconcile clears it. Returns each asset's divergences."""
        await self.pull_fills()
        report: dict[Asset, list[str]] = {}
        for asset, broker in self._brokers.items():
            for stored in self._storage.orders(open_only=True):
                if stored.asset == asset:
                    truth = await broker.get_order(stored.client_order_id)
                    if truth is not None and truth.status != stored.status:
                        self._storage.save_order(_merged(truth, stored))
            held = {p.symbol: p.qty for p in await broker.positions()}
            local = {p.symbol: p.qty for p in self._storage.positions() if p.asset == asset}
            problems = [
                f"{symbol}: broker {held.get(symbol, 0)} vs journal {local.get(symbol, 0)}"
                for symbol in sorted(held.keys() | local.keys())
                if abs(held.get(symbol, Decimal(0)) - local.get(symbol, Decimal(0))) > tolerance
            ]
            problems += await self._balance_problems(asset, broker, tolerance)
            report[asset] = problems
            self._flag(asset, problems)
        return report

    async def _balance_problems(self, asset: Asset, broker: Broker, tolerance: Decimal) -> list[str]:
        """Cash accounts (spot): every currency's balance must equal what the journal's fills imply."""
        expected = self._expected_balances.get(asset)
        if expected is None:
            return []
        implied = dict(expected)
        for fill in self._storage.fills():
            if fill.asset != asset:
                continue
            instrument = await broker.instrument(fill.symbol)
            implied[instrument.quote] = implied.get(instrument.quote, Decimal(0)) - (
                fill.qty * fill.price * fill.side.sign + fill.fee
            )
            implied[instrument.base] = implied.get(instrument.base, Decimal(0)) + fill.qty * fill.side.sign
        actual = {b.currency: b.total for b in await broker.balances()}
        return [
            f"{ccy} balance: broker {actual.get(ccy, 0)} vs journal {implied.get(ccy, 0)}"
            for ccy in sorted(actual.keys() | implied.keys())
            if abs(actual.get(ccy, Decimal(0)) - implied.get(ccy, Decimal(0))) > tolerance
        ]

    def expect_cash_balances(self, asset: Asset, starting: Mapping[str, Decimal]) -> None:
        """Check ``asset``'s balances in ``reconcile``: ``starting`` plus deposits, moved by journaled fills."""
        self._expected_balances[asset] = dict(starting)

    def _flag(self, asset: Asset, problems: list[str]) -> None:
        if self._registry is None:
            return
        flagged = [r for r in self._registry.get_for(asset) if StrategyFlag.BROKER_DESYNC in r.flags]
        if problems:
            reason = "; ".join(problems)
            log.error("broker desync", extra={"asset": asset.value, "problems": reason})
            if len(flagged) < len(self._registry.get_for(asset)):
                self._registry.flag_asset(asset, StrategyFlag.BROKER_DESYNC, reason)
        elif flagged:
            self._registry.clear_asset_flag(asset, StrategyFlag.BROKER_DESYNC, "clean reconcile")

    def position(self, asset: Asset, symbol: str) -> Position | None:
        """The local journal's open position for (asset, symbol)."""
        for held in self._storage.positions():
            if held.asset == asset and held.symbol == symbol:
                return held
        return None

    async def _on_fill(self, asset: Asset, fill: Fill) -> ClosedTrade | None:
        """Journal ``fill``; an entry's fill also gets its SL/TP attached, in the same transaction."""
        with self._storage.transaction():
            change = self._book_fill(asset, fill)
            if change is None:
                return None
            if change.position is not None and change.closed is None:
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
            # Protection carries over; an entry's own levels are sl_tp_manager's to set (``_on_fill``).
            position = change.position
            if before is not None:
                position = attrs.evolve(position, stop_loss=before.stop_loss, take_profit=before.take_profit)
            self._storage.save_position(position)
        if change.closed is not None:
            self._storage.add_trade(change.closed)
            self._storage.append_event(fill.ts, "trade_closed", attrs.asdict(change.closed))
            log.info(
                "trade closed",
                extra={
                    "symbol": fill.symbol,
                    "pnl": str(change.closed.pnl),
                    "funding": str(change.closed.funding),
                },
            )
        return change


def in_time_order(events: Sequence[BrokerEvent]) -> list[BrokerEvent]:
    """``events`` with the fills and funding payments of each symbol in time order, in the places they held:
    a payment after every fill at or before its funding time (the venue settles it on the position those fills
    leave) and before every later fill, an exit's fill after its entry's (booked first, it would open a phantom
    position of the other side). A broker reports them so; this restores that order when a batch comes
    shuffled. Order updates, other symbols' events and fills of one time keep their places and order."""
    timed: dict[str, list[tuple[int, Fill | FundingPayment]]] = {}
    for i, event in enumerate(events):
        if isinstance(event, Fill | FundingPayment):
            timed.setdefault(event.symbol, []).append((i, event))
    ordered = list(events)
    for entries in timed.values():
        places = [i for i, _ in entries]
        by_time = sorted((e for _, e in entries), key=lambda e: (e.ts, isinstance(e, FundingPayment)))
        for i, event in zip(places, by_time, strict=True):
            ordered[i] = event
    return ordered


def _is_stale(update: Order, stored: Order | None) -> bool:
    """An order update older than the journal's (a shuffled batch): the journal has the order final in another
    state, or further filled. Saving it would undo the later state.

    A rejection the broker never acknowledged (no broker order id: the pipeline's denial, or resolve_in_flight's
    "never received") is the journal's inference, not the broker's word: a report of the order from the broker
    (it carries the broker's id; the order arrived late) is the truth and replaces it."""
    if stored is None:
        return False
    if stored.status is OrderStatus.REJECTED and not stored.broker_order_id and update.broker_order_id:
        return False
    reopened = stored.status.is_terminal and update.status != stored.status
    return reopened or update.filled_qty < stored.filled_qty


def _merged(order: Order, stored: Order | None) -> Order:
    """The broker's view of an order, keeping the strategy the journal knows when the broker has none."""
    if stored is None or order.strategy_id:
        return order
    return attrs.evolve(order, strategy_id=stored.strategy_id)
