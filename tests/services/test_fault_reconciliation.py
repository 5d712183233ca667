"""The services against the sim exchange's injected faults (issue 4, "Fault tests").

Real wiring: order_router, pnl_reconciler, sl_tp_manager and strategy_registry over a SimBroker and a SQLite
journal in the test's folder. Each case ends with the journal equal to the broker's truth (orders, fills,
positions), one position of the size ordered and no order placed twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import trio

from app.adapters.brokers.sim import SimBroker, SimConfig, SimFaults
from app.adapters.storage.sqlite import SqliteStorage
from app.domain.fills import FillCosts
from app.domain.registry import StrategyCounter, StrategyFlag
from app.domain.symbols import generic_instrument
from app.domain.values import Asset, Candle, Fill, Order, OrderIntent, OrderStatus, Position, Side
from app.services.budget_manager import BudgetManager
from app.services.config_manager import load_config
from app.services.exposure_manager import ExposureManager
from app.services.market_clock import MarketClock
from app.services.order_requests import OrderRequest, RouteResult
from app.services.order_router import OrderRouter
from app.services.pnl_reconciler import PnlReconciler
from app.services.risk_manager import RiskManager
from app.services.rules_config import budget_from, clusters_from, exposure_limits_from, risk_limits_from
from app.services.sl_tp_manager import SlTpManager
from app.services.strategy_registry import StrategyRegistry

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SYMBOL = "XYZUSD"
START = {"USD": D(1000)}


class Rig:
    """The order path as the paper runtime wires it, one sim venue, one strategy (``s1``)."""

    def __init__(self, home: Path, *, volume_share: D | None = None, seed: int = 0) -> None:
        config = load_config(None)
        self.storage = SqliteStorage.open(home / "journal.db")
        self.clock = MarketClock(T0)
        self.broker = SimBroker(
            SimConfig(
                asset=Asset.SPOT,
                currency="USD",
                starting_cash=START["USD"],
                instruments=lambda s: generic_instrument(s, Asset.SPOT),
                costs=FillCosts(taker_fee=D("0.001")),
                max_volume_share=volume_share,
                faults=SimFaults(seed=seed),
            )
        )
        brokers = {Asset.SPOT: self.broker}
        self.registry = StrategyRegistry(self.storage, self.clock)
        self.registry.create("s1", Asset.SPOT, reason="fault tests")
        budget = BudgetManager(budget_from(config, [Asset.SPOT]), storage=self.storage, clock=self.clock)
        self.router = OrderRouter(
            brokers=brokers,
            storage=self.storage,
            clock=self.clock,
            risk=RiskManager({Asset.SPOT: risk_limits_from(config, Asset.SPOT)}),
            budget=budget,
            exposure=ExposureManager(exposure_limits_from(config), clusters_from(config)),
            registry=self.registry,
        )
        sl_tp = SlTpManager(brokers=brokers, storage=self.storage)
        self.reconciler = PnlReconciler(
            brokers=brokers,
            storage=self.storage,
            clock=self.clock,
            sl_tp=sl_tp,
            budget=budget,
            registry=self.registry,
        )
        self.reconciler.expect_cash_balances(Asset.SPOT, START)
        self.bar_no = 0

    async def bar(self, price: float = 100, volume: float = 1e9) -> None:
        """The next 1-minute bar at ``price``; the feed time moves to its close."""
        candle = Candle(SYMBOL, "1m", T0 + timedelta(minutes=self.bar_no), price, price, price, price, volume)
        self.bar_no += 1
        await self.broker.on_candle(candle)
        self.clock.advance_to(candle.ts + timedelta(minutes=1))

    async def buy(self, qty: str = "2") -> RouteResult:
        return await self.router.place_order(
            OrderRequest("s1", Asset.SPOT, SYMBOL, Side.BUY, D(qty), D(100), D(95))
        )

    async def sell_to_close(self, qty: str = "2") -> RouteResult:
        return await self.router.place_order(
            OrderRequest("s1", Asset.SPOT, SYMBOL, Side.SELL, D(qty), D(100), None, reduce_only=True)
        )

    def flags(self) -> frozenset[StrategyFlag]:
        record = self.registry.get("s1")
        assert record is not None
        return frozenset(record.flags)


def view(position: Position) -> tuple[str, D, D]:
    return position.symbol, position.qty, position.avg_price


def fill_view(fill: Fill) -> tuple[str, str, Side, D, D, D]:
    return fill.fill_id, fill.client_order_id, fill.side, fill.qty, fill.price, fill.fee


def order_view(order: Order) -> tuple[str, OrderStatus, D, D]:
    return order.client_order_id, order.status, order.qty, order.filled_qty


async def assert_journal_is_broker_truth(rig: Rig) -> None:
    """Orders, fills and positions in the journal are exactly the broker's, and no order exists twice."""
    journal_positions = sorted(view(p) for p in rig.storage.positions())
    broker_positions = sorted(view(p) for p in await rig.broker.positions())
    assert journal_positions == broker_positions
    assert sorted(fill_view(f) for f in rig.storage.fills()) == sorted(
        fill_view(f) for f in await rig.broker.fills()
    )
    stored = rig.storage.orders()
    assert len({o.client_order_id for o in stored}) == len(stored)
    for order in stored:
        truth = await rig.broker.get_order(order.client_order_id)
        if truth is None:  # refused before the venue created anything
            assert order.status is OrderStatus.REJECTED
            continue
        assert order_view(order) == order_view(truth)
    broker_ids = {f.client_order_id for f in await rig.broker.fills()} | {
        o.client_order_id for o in await rig.broker.open_orders()
    }
    assert broker_ids <= {o.client_order_id for o in stored}
    assert await rig.reconciler.reconcile() == {Asset.SPOT: []}
    assert StrategyFlag.BROKER_DESYNC not in rig.flags()


def test_a_rejected_order_is_journaled_rejected_and_the_retry_opens_one_position(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> tuple[RouteResult, RouteResult]:
        await rig.bar()
        rig.broker.faults.reject_next("venue says no")
        refused = await rig.buy()
        retried = await rig.buy()
        await rig.bar()
        await rig.reconciler.process_events()
        assert await rig.router.resolve_in_flight() == []
        await assert_journal_is_broker_truth(rig)
        return refused, retried

    refused, retried = trio.run(scenario)

    assert refused.order.status is OrderStatus.REJECTED
    assert "venue says no" in refused.order.reason
    stored = rig.storage.get_order(refused.order.client_order_id)
    assert stored is not None
    assert stored.status is OrderStatus.REJECTED
    assert rig.storage.fills(refused.order.client_order_id) == []
    assert [view(p) for p in rig.storage.positions()] == [(SYMBOL, D(2), D(100))]
    assert [f.client_order_id for f in rig.storage.fills()] == [retried.order.client_order_id]


def test_a_timeout_after_accepting_is_resolved_by_asking_the_broker_never_by_resending(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> tuple[RouteResult, list[Order], int]:
        await rig.bar()
        rig.broker.faults.timeout_next()
        sent = await rig.buy()
        resolved = await rig.router.resolve_in_flight()
        on_book = len(await rig.broker.open_orders())
        await rig.bar()
        await rig.reconciler.process_events()
        await assert_journal_is_broker_truth(rig)
        return sent, resolved, on_book

    sent, resolved, on_book = trio.run(scenario)

    cid = sent.order.client_order_id
    assert sent.order.status is OrderStatus.IN_FLIGHT_UNKNOWN
    assert [(o.client_order_id, o.status) for o in resolved] == [(cid, OrderStatus.ACCEPTED)]
    assert on_book == 1
    assert [order_view(o) for o in rig.storage.orders()] == [(cid, OrderStatus.FILLED, D(2), D(2))]
    assert [view(p) for p in rig.storage.positions()] == [(SYMBOL, D(2), D(100))]


def test_an_in_flight_order_that_filled_before_it_was_resolved_ends_filled_once(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> list[Order]:
        await rig.bar()
        rig.broker.faults.timeout_next()
        await rig.buy()
        await rig.bar()  # it fills at the venue while the journal still calls it unknown
        resolved = await rig.router.resolve_in_flight()
        await rig.reconciler.process_events()
        await assert_journal_is_broker_truth(rig)
        return resolved

    resolved = trio.run(scenario)

    assert [o.status for o in resolved] == [OrderStatus.FILLED]
    assert len(rig.storage.fills()) == 1
    assert [view(p) for p in rig.storage.positions()] == [(SYMBOL, D(2), D(100))]


def test_a_dropped_fill_event_is_pulled_in_by_reconcile_with_its_protection(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> tuple[int, dict[Asset, list[str]]]:
        await rig.bar()
        await rig.buy()
        rig.broker.faults.drop_next_fill()
        await rig.bar()
        await rig.reconciler.process_events()
        journaled_before = len(rig.storage.fills())
        report = await rig.reconciler.reconcile()
        await assert_journal_is_broker_truth(rig)
        return journaled_before, report

    journaled_before, report = trio.run(scenario)

    assert journaled_before == 0
    assert report == {Asset.SPOT: []}
    assert [view(p) for p in rig.storage.positions()] == [(SYMBOL, D(2), D(100))]
    (held,) = rig.storage.positions()
    assert held.stop_loss == D(95)
    assert StrategyFlag.BROKER_DESYNC not in rig.flags()


def test_duplicated_fill_events_are_counted_once_in_position_trade_and_counters(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> None:
        await rig.bar()
        await rig.buy()
        rig.broker.faults.duplicate_next_event()
        await rig.bar(100)
        assert len(await rig.reconciler.process_events()) == 0
        await rig.sell_to_close()
        rig.broker.faults.duplicate_next_event()
        await rig.bar(110)
        assert len(await rig.reconciler.process_events()) == 1
        await assert_journal_is_broker_truth(rig)

    trio.run(scenario)

    assert rig.broker.faults.injected.count("duplicate") == 2
    assert len(rig.storage.fills()) == 2
    assert rig.storage.positions() == []
    (trade,) = rig.storage.trades()
    assert trade.qty == D(2)
    record = rig.registry.get("s1")
    assert record is not None
    assert record.counters[StrategyCounter.TRADES] == 1


def test_events_drained_out_of_order_leave_the_true_final_states(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> None:
        await rig.bar()
        await rig.buy()
        await rig.bar(100)
        await rig.sell_to_close()
        await rig.bar(110)
        # Seeded: this drain comes back with the exit's fill ahead of the entry's.
        rig.broker.faults.reorder_next_drain()
        await rig.reconciler.process_events()
        await assert_journal_is_broker_truth(rig)

    trio.run(scenario)

    assert "reorder" in rig.broker.faults.injected
    assert [o.status for o in rig.storage.orders()] == [OrderStatus.FILLED, OrderStatus.FILLED]
    assert rig.storage.positions() == []
    (trade,) = rig.storage.trades()
    assert (trade.side, trade.qty, trade.entry_price, trade.exit_price) == (Side.BUY, D(2), D(100), D(110))


def test_a_balance_desync_is_flagged_blocks_entries_and_a_clean_reconcile_clears_it(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    async def scenario() -> tuple[dict[Asset, list[str]], RouteResult, dict[Asset, list[str]], RouteResult]:
        await rig.bar()
        await rig.buy()
        await rig.bar()
        await rig.reconciler.process_events()
        assert await rig.reconciler.reconcile() == {Asset.SPOT: []}
        rig.broker.faults.desync_balance("USD", D(5))
        desynced = await rig.reconciler.reconcile()
        assert StrategyFlag.BROKER_DESYNC in rig.flags()
        blocked = await rig.buy()
        rig.broker.faults.desync_balance("USD", D(-5))
        clean = await rig.reconciler.reconcile()
        assert StrategyFlag.BROKER_DESYNC not in rig.flags()
        after = await rig.buy()
        await rig.bar()
        await rig.reconciler.process_events()
        await assert_journal_is_broker_truth(rig)
        return desynced, blocked, clean, after

    desynced, blocked, clean, after = trio.run(scenario)

    assert len(desynced[Asset.SPOT]) == 1
    assert desynced[Asset.SPOT][0].startswith("USD balance")
    assert not blocked.accepted
    assert blocked.decision.code == "flag_broker_desync"
    assert blocked.order.status is OrderStatus.REJECTED
    assert "broker_desync" in blocked.order.reason
    assert trio.run(rig.broker.get_order, blocked.order.client_order_id) is None
    assert clean == {Asset.SPOT: []}
    assert after.accepted
    assert [view(p) for p in rig.storage.positions()] == [(SYMBOL, D(4), D(100))]


def test_partial_fill_updates_drained_out_of_order_end_at_the_final_fill(tmp_path: Path) -> None:
    rig = Rig(tmp_path, volume_share=D("0.1"), seed=1)

    async def scenario() -> None:
        await rig.bar()
        await rig.buy()
        await rig.bar(volume=10)  # 1 of 2 fills: partially filled
        await rig.bar(volume=10)  # the rest: filled
        # Seed 1: this drain reports the order filled, then (stale) partially filled.
        rig.broker.faults.reorder_next_drain()
        await rig.reconciler.process_events()
        await assert_journal_is_broker_truth(rig)

    trio.run(scenario)

    assert "reorder" in rig.broker.faults.injected
    assert [order_view(o)[1:] for o in rig.storage.orders()] == [(OrderStatus.FILLED, D(2), D(2))]
    assert len(rig.storage.fills()) == 2
    assert [view(p) for p in rig.storage.positions()] == [(SYMBOL, D(2), D(100))]


def test_an_order_resolved_as_never_received_takes_the_state_the_broker_reports_later(tmp_path: Path) -> None:
    """resolve_in_flight rejects an intent the broker does not know (no broker order id: the journal's own
    inference). When the broker reports that order after all (it arrived late), its report is the truth: the
    order ends filled with its fill, not rejected beside a fill."""
    rig = Rig(tmp_path)

    async def scenario() -> tuple[list[Order], dict[Asset, list[str]]]:
        await rig.bar()
        intent = OrderIntent(
            client_order_id="s1-00000001",
            strategy_id="s1",
            asset=Asset.SPOT,
            symbol=SYMBOL,
            side=Side.BUY,
            qty=D(2),
            created_at=rig.clock.now(),
        )
        rig.storage.record_intent(intent)  # written ahead; the process died before the broker answered
        resolved = await rig.router.resolve_in_flight()
        await rig.broker.place_order(intent)  # ... and the order reaches the venue only now
        await rig.bar()
        await rig.reconciler.process_events()
        report = await rig.reconciler.reconcile()
        await assert_journal_is_broker_truth(rig)
        return resolved, report

    resolved, report = trio.run(scenario)

    assert [(o.status, o.reason) for o in resolved] == [
        (OrderStatus.REJECTED, "the broker never received it")
    ]
    assert [order_view(o) for o in rig.storage.orders()] == [("s1-00000001", OrderStatus.FILLED, D(2), D(2))]
    assert [view(p) for p in rig.storage.positions()] == [(SYMBOL, D(2), D(100))]
    assert report == {Asset.SPOT: []}
