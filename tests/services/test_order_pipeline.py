"""order_router's full pipeline against the sim broker and the in-memory store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import trio

from app.adapters.brokers.sim import SimBroker, SimConfig
from app.domain.fills import FillCosts
from app.domain.registry import StrategyFlag
from app.domain.symbols import generic_instrument
from app.domain.values import Asset, Candle, OrderStatus, Side
from app.ports.broker import Broker
from app.ports.storage import Storage
from app.services.budget_manager import BudgetManager
from app.services.config_manager import load_config
from app.services.exposure_manager import ExposureManager
from app.services.market_clock import MarketClock
from app.services.order_requests import OrderRequest
from app.services.order_router import OrderRouter
from app.services.reports import trades_report
from app.services.risk_manager import RiskManager
from app.services.rules_config import budget_from, clusters_from, exposure_limits_from, risk_limits_from
from app.services.strategy_registry import StrategyRegistry
from tests.fakes.memory_storage import MemoryStorage

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class Rig:
    def __init__(
        self,
        rates: dict[str, D] | None = None,
        *,
        storage: Storage | None = None,
        wrap: Callable[[SimBroker], Broker] | None = None,
    ) -> None:
        """``storage`` (default: in memory) and ``wrap``, which may put the sim broker behind another."""
        config = load_config(None)
        self.storage = storage if storage is not None else MemoryStorage()
        self.clock = MarketClock(T0)
        self.broker = SimBroker(
            SimConfig(
                asset=Asset.SPOT,
                currency="USD",
                starting_cash=D(1000),
                instruments=lambda s: generic_instrument(s, Asset.SPOT),
                costs=FillCosts(taker_fee=D("0.001")),
                reference_rates=rates or {},
            )
        )
        self.registry = StrategyRegistry(self.storage, self.clock)
        self.registry.create("s1", Asset.SPOT, reason="test")
        self.budget = BudgetManager(budget_from(config, [Asset.SPOT]), storage=self.storage, clock=self.clock)
        self.router = OrderRouter(
            brokers={Asset.SPOT: wrap(self.broker) if wrap is not None else self.broker},
            storage=self.storage,
            clock=self.clock,
            risk=RiskManager({Asset.SPOT: risk_limits_from(config, Asset.SPOT)}),
            budget=self.budget,
            exposure=ExposureManager(exposure_limits_from(config), clusters_from(config)),
            registry=self.registry,
        )

    async def market(self, price: float, symbol: str = "XYZUSDT") -> None:
        await self.broker.on_candle(
            Candle(symbol, "1m", T0 - timedelta(minutes=1), price, price, price, price, 1e9)
        )
        self.clock.advance_to(T0)


def entry(
    qty: str | None, stop: str | None = None, strategy: str = "s1", symbol: str = "XYZUSDT"
) -> OrderRequest:
    return OrderRequest(
        strategy_id=strategy,
        asset=Asset.SPOT,
        symbol=symbol,
        side=Side.BUY,
        qty=D(qty) if qty is not None else None,
        price=D(100),
        stop_loss=D(stop) if stop is not None else None,
    )


def test_an_entry_without_a_stop_gets_the_default_protective_stop_recorded_on_the_intent():
    rig = Rig()

    async def go():
        await rig.market(100)
        return await rig.router.place_order(entry("1"))

    result = trio.run(go)

    intent = rig.storage.intent(result.order.client_order_id)
    assert result.accepted
    # spot default stop 2% below entry 100 -> 98
    assert intent.stop_loss == D("98.00000000")
    assert "default stop" in intent.note


def test_risk_sizing_risks_at_most_the_risk_fraction_of_equity():
    rig = Rig()

    async def go():
        await rig.market(100)
        return await rig.router.place_order(entry(None, stop="95"))

    result = trio.run(go)

    # equity 1000 x 2% = 20 at risk; stop distance 5 -> 4 units (notional 400 is within every cap)
    assert result.order.qty == D("4")
    assert result.order.qty * 5 <= D(20)


def test_a_request_above_a_cap_is_reduced_and_the_reduction_journaled():
    rig = Rig()

    async def go():
        await rig.market(100)
        return await rig.router.place_order(entry("15", stop="99"))

    result = trio.run(go)

    # 15 units x 100 = 1500 > the spot band's one-position cap of 1 x equity 1000: reduced to 10, not denied
    assert result.accepted
    assert result.order.qty == D("10")
    kinds = [kind for _, _, kind, _ in rig.storage.events()]
    assert "order_reduced" in kinds


def test_a_cluster_cap_reduces_rather_than_denies():
    rig = Rig(rates={"BTC": D(20000)})

    async def go():
        await rig.market(0.05, symbol="ETHBTC")
        request = OrderRequest(
            "s1", Asset.SPOT, "ETHBTC", Side.BUY, D("0.4"), D("0.05"), stop_loss=D("0.049")
        )
        return await rig.router.place_order(request)

    result = trio.run(go)

    # the default cluster of BTC-quoted pairs holds at most 30% of the 1000 allocation = 300 USD
    notional = result.order.qty * D("0.05") * 20000
    assert result.accepted
    assert notional <= D(300)
    assert "reduced by exposure" in rig.storage.intent(result.order.client_order_id).note


def test_a_blocking_flag_denies_entries_and_the_denial_is_a_rejected_intent_with_its_reason():
    rig = Rig()
    rig.registry.add_flag("s1", StrategyFlag.KILLED, "operator kill")

    async def go():
        await rig.market(100)
        return await rig.router.place_order(entry("1", stop="95"))

    result = trio.run(go)

    assert not result.accepted
    [row] = trades_report(rig.storage)["orders"]
    assert row["status"] == OrderStatus.REJECTED.value
    assert "killed" in row["reason"]


def test_an_unregistered_strategy_cannot_enter():
    rig = Rig()

    async def go():
        await rig.market(100)
        return await rig.router.place_order(entry("1", stop="95", strategy="ghost"))

    result = trio.run(go)

    assert result.decision.code == "unregistered"


def test_exits_pass_even_when_the_strategy_is_blocked():
    rig = Rig()

    async def go():
        await rig.market(100)
        await rig.router.place_order(entry("1", stop="95"))
        await rig.broker.on_candle(Candle("XYZUSDT", "1m", T0, 100, 100, 100, 100, 1e9))
        rig.registry.add_flag("s1", StrategyFlag.KILLED, "kill")
        close = OrderRequest("s1", Asset.SPOT, "XYZUSDT", Side.SELL, D("1"), D(100), reduce_only=True)
        return await rig.router.place_order(close)

    result = trio.run(go)

    assert result.accepted


def test_budget_adjustments_move_in_steps_and_never_below_what_is_used():
    rig = Rig()

    assert rig.budget.adjust(Asset.SPOT, D(100)).allowed
    assert rig.budget.get_alloc(Asset.SPOT) == D(1100)
    assert not rig.budget.adjust(Asset.SPOT, D(50)).allowed  # not a multiple of the $100 step
    assert not rig.budget.adjust(Asset.SPOT, D(-5000)).allowed
    reloaded = BudgetManager(rig.budget.budget, storage=rig.storage, clock=rig.clock)
    assert reloaded.get_alloc(Asset.SPOT) == D(1100)


def test_the_registry_survives_a_restart_with_its_flags_and_history(tmp_path):
    from app.adapters.storage.sqlite import SqliteStorage

    clock = MarketClock(T0)
    with SqliteStorage.open(tmp_path / "p.db") as store:
        registry = StrategyRegistry(store, clock)
        registry.create("s1", Asset.SPOT, reason="test")
        registry.add_flag("s1", StrategyFlag.DATA_STALE, "no bars")
    with SqliteStorage.open(tmp_path / "p.db") as store:
        record = StrategyRegistry(store, clock).get("s1")

    assert record is not None
    assert StrategyFlag.DATA_STALE in record.flags
    assert record.history[-1].reason == "test"
    assert not record.can_enter().allowed


def test_the_context_values_each_position_at_the_rate_of_its_own_quote():
    rig = Rig(rates={"BTC": D(20000)})

    async def go():
        await rig.market(100)
        await rig.market(0.005, symbol="ETHBTC")
        await rig.router.place_order(entry("1", stop="95"))
        eth = OrderRequest("s1", Asset.SPOT, "ETHBTC", Side.BUY, D(1), D("0.005"), stop_loss=D("0.0049"))
        await rig.router.place_order(eth)
        for symbol, price in (("XYZUSDT", 100), ("ETHBTC", 0.005)):
            await rig.broker.on_candle(Candle(symbol, "1m", T0, price, price, price, price, 1e9))
        return await rig.router.context(Asset.SPOT, "XYZUSDT")

    context = trio.run(go)

    assert {p.symbol for p in context.positions} == {"XYZUSDT", "ETHBTC"}
    assert context.position_rates == {"XYZUSDT": D(1), "ETHBTC": D(20000)}


def test_the_high_water_mark_keeps_the_best_equity_and_outlives_the_router():
    rig = Rig()

    async def go():
        await rig.market(100)
        await rig.router.place_order(entry("1", stop="95"))  # the mark is written with this intent
        await rig.broker.on_candle(Candle("XYZUSDT", "1m", T0, 100, 100, 90, 90, 1e9))
        after_loss = await rig.router.context(Asset.SPOT, "XYZUSDT")
        fresh = OrderRouter(
            brokers={Asset.SPOT: rig.broker},
            storage=rig.storage,
            clock=rig.clock,
            risk=RiskManager({}),
            budget=rig.budget,
            exposure=ExposureManager(exposure_limits_from(load_config(None))),
        )
        return after_loss, await fresh.context(Asset.SPOT, "XYZUSDT")

    after_loss, reopened = trio.run(go)

    # 1000 of cash at the start; 1 unit bought at 100 now marked at 90
    assert after_loss.equity < 1000
    assert after_loss.high_water_mark == D(1000)
    assert reopened.high_water_mark == D(1000)


def test_realised_pnl_today_counts_from_the_total_first_seen_that_day():
    rig = Rig()

    async def go():
        await rig.market(100)
        await rig.router.place_order(entry("1", stop="95"))
        await rig.broker.on_candle(Candle("XYZUSDT", "1m", T0, 100, 100, 100, 100, 1e9))
        close = OrderRequest("s1", Asset.SPOT, "XYZUSDT", Side.SELL, D(1), D(110), reduce_only=True)
        await rig.router.place_order(close)
        await rig.broker.on_candle(
            Candle("XYZUSDT", "1m", T0 + timedelta(minutes=1), 110, 110, 110, 110, 1e9)
        )
        today = await rig.router.context(Asset.SPOT, "XYZUSDT")
        rig.clock.advance_to(T0 + timedelta(days=1))
        tomorrow = await rig.router.context(Asset.SPOT, "XYZUSDT")
        return today, tomorrow, (await rig.broker.account()).realized_pnl

    today, tomorrow, realized = trio.run(go)

    assert realized > 0
    assert today.realized_today == realized
    assert tomorrow.realized_today == 0
