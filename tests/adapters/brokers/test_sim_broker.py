from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
import trio

from app.adapters.brokers.sim import SimBroker, SimConfig
from app.domain.fills import FillCosts
from app.domain.symbols import generic_instrument
from app.domain.values import Asset, Candle, Fill, Order, OrderIntent, OrderStatus, Side
from app.ports.broker import Broker, MarketDriven
from app.ports.errors import BrokerRejected, DuplicateClientOrderId

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def sim(cash: str = "1000", fee: str = "0.001", rates: dict[str, D] | None = None) -> SimBroker:
    return SimBroker(
        SimConfig(
            asset=Asset.SPOT,
            currency="USD",
            starting_cash=D(cash),
            instruments=lambda s: generic_instrument(s, Asset.SPOT),
            costs=FillCosts(taker_fee=D(fee), maker_fee=D(fee)),
            reference_rates=rates or {},
        )
    )


def bar(i: int, o: float, h: float, low: float, c: float, symbol: str = "BTCUSDT") -> Candle:
    return Candle(symbol, "1m", T0 + timedelta(minutes=i), o, h, low, c, 10.0)


def intent(cid: str, side: Side, qty: str, symbol: str = "BTCUSDT", **kw: object) -> OrderIntent:
    return OrderIntent(cid, "s1", Asset.SPOT, symbol, side, D(qty), created_at=T0, **kw)  # type: ignore[arg-type]


def test_the_sim_broker_implements_the_ports():
    broker = sim()
    assert isinstance(broker, Broker)
    assert isinstance(broker, MarketDriven)


def test_a_market_order_fills_at_the_next_bars_open_with_the_taker_fee():
    async def scenario() -> tuple[list[object], D]:
        broker = sim()
        await broker.on_candle(bar(0, 100, 101, 99, 100))
        ack = await broker.place_order(intent("c1", Side.BUY, "2"))
        assert ack.status is OrderStatus.ACCEPTED
        await broker.on_candle(bar(1, 102, 103, 101, 102))
        events = list(await broker.drain_events())
        return events, (await broker.account()).cash

    events, cash = trio.run(scenario)

    fills = [e for e in events if isinstance(e, Fill)]
    orders = [e for e in events if isinstance(e, Order)]
    assert len(fills) == 1
    assert fills[0].price == D("102")
    assert fills[0].fee == D("0.204")  # 2 x 102 x 0.001
    assert orders[-1].status is OrderStatus.FILLED
    assert cash == D("1000") - D("204") - D("0.204")


def test_a_duplicate_client_id_is_refused_as_such():
    async def scenario() -> None:
        broker = sim()
        await broker.on_candle(bar(0, 100, 101, 99, 100))
        await broker.place_order(intent("c1", Side.BUY, "1"))
        await broker.place_order(intent("c1", Side.BUY, "1"))

    with pytest.raises(DuplicateClientOrderId):
        trio.run(scenario)


def test_an_order_that_cannot_be_paid_is_rejected_at_fill_time():
    async def scenario() -> Order | None:
        broker = sim(cash="100")
        await broker.on_candle(bar(0, 100, 101, 99, 100))
        await broker.place_order(intent("c1", Side.BUY, "2"))
        await broker.on_candle(bar(1, 100, 101, 99, 100))
        return await broker.get_order("c1")

    order = trio.run(scenario)

    assert order is not None
    assert order.status is OrderStatus.REJECTED
    assert "insufficient funds" in order.reason


def test_spot_cannot_sell_what_it_does_not_hold():
    async def scenario() -> Order | None:
        broker = sim()
        await broker.on_candle(bar(0, 100, 101, 99, 100))
        await broker.place_order(intent("c1", Side.SELL, "1"))
        await broker.on_candle(bar(1, 100, 101, 99, 100))
        return await broker.get_order("c1")

    order = trio.run(scenario)

    assert order is not None
    assert order.status is OrderStatus.REJECTED
    assert "no shorting" in order.reason


def test_a_quantity_off_the_lot_step_is_rejected_before_anything_is_created():
    async def scenario() -> None:
        broker = sim()
        await broker.on_candle(bar(0, 100, 101, 99, 100))
        await broker.place_order(intent("c1", Side.BUY, "0.0000001"))

    with pytest.raises(BrokerRejected, match="lot step"):
        trio.run(scenario)


async def _long_with_protection(broker: SimBroker, sl: str, tp: str) -> None:
    await broker.on_candle(bar(0, 100, 101, 99, 100))
    await broker.place_order(intent("c1", Side.BUY, "1"))
    await broker.on_candle(bar(1, 100, 101, 99, 100))
    await broker.set_trading_stop("BTCUSDT", D(sl), D(tp))
    await broker.drain_events()


def test_when_one_bar_touches_both_stop_and_target_the_stop_fills_first():
    async def scenario() -> list[Fill]:
        broker = sim()
        await _long_with_protection(broker, sl="95", tp="110")
        await broker.on_candle(bar(2, 100, 112, 90, 100))
        return [e for e in await broker.drain_events() if isinstance(e, Fill)]

    fills = trio.run(scenario)

    assert len(fills) == 1
    assert fills[0].side is Side.SELL
    assert fills[0].price == D("95")


def test_a_gap_through_the_stop_fills_at_the_open():
    async def scenario() -> list[Fill]:
        broker = sim()
        await _long_with_protection(broker, sl="95", tp="110")
        await broker.on_candle(bar(2, 90, 91, 88, 89))
        return [e for e in await broker.drain_events() if isinstance(e, Fill)]

    fills = trio.run(scenario)

    assert fills[0].price == D("90")


def test_a_take_profit_closes_the_position_and_books_the_gain():
    async def scenario() -> tuple[list[Fill], int, D]:
        broker = sim(fee="0")
        await _long_with_protection(broker, sl="95", tp="110")
        await broker.on_candle(bar(2, 105, 111, 104, 110))
        fills = [e for e in await broker.drain_events() if isinstance(e, Fill)]
        return fills, len(await broker.positions()), (await broker.account()).equity

    fills, open_positions, equity = trio.run(scenario)

    assert fills[0].price == D("110")
    assert open_positions == 0
    assert equity == D("1010")


def test_a_pair_quoted_in_another_currency_is_valued_through_the_reference_rate():
    async def scenario() -> tuple[D, dict[str, str]]:
        broker = sim(fee="0", rates={"BTC": D("20000")})
        await broker.on_candle(bar(0, 0.05, 0.05, 0.05, 0.05, symbol="ETHBTC"))
        await broker.place_order(intent("c1", Side.BUY, "1", symbol="ETHBTC"))
        await broker.on_candle(bar(1, 0.05, 0.06, 0.05, 0.06, symbol="ETHBTC"))
        return (await broker.account()).equity, broker.rate_sources()

    equity, sources = trio.run(scenario)

    # paid 0.05 BTC (= 1000 USD at 20000) for 1 ETH now worth 0.06 BTC (= 1200 USD): 1000 - 1000 + 1200
    assert equity == D("1200")
    assert sources["BTC"] == "reference"


def test_cancelling_a_working_order_leaves_nothing_to_fill():
    async def scenario() -> tuple[Order, list[object]]:
        broker = sim()
        await broker.on_candle(bar(0, 100, 101, 99, 100))
        await broker.place_order(intent("c1", Side.BUY, "1"))
        cancelled = await broker.cancel_order("BTCUSDT", "c1")
        await broker.drain_events()
        await broker.on_candle(bar(1, 100, 101, 99, 100))
        return cancelled, list(await broker.drain_events())

    cancelled, later = trio.run(scenario)

    assert cancelled.status is OrderStatus.CANCELLED
    assert later == []
