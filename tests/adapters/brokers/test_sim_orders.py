"""Order types, time in force, partial fills, fees, slippage and latency on the simulated venue."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
import trio

from app.domain.fills import FillCosts
from app.domain.values import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from app.ports.errors import BrokerRejected
from tests.adapters.brokers.sim_kit import T0, bar, flat, intent, sim, split

LIMIT = OrderType.LIMIT


# --- limits: maker and taker ---------------------------------------------------------------------------


def test_a_resting_limit_fills_as_a_maker_on_the_bar_that_reaches_it():
    async def scenario():
        broker = sim(taker="0.001", maker="0.0002")
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("c1", Side.BUY, "1", order_type=LIMIT, price="99"))
        await broker.on_candle(bar(1, 100, 100.5, 99.5, 100))
        untouched = split(await broker.drain_events())[1]
        await broker.on_candle(bar(2, 100, 100, 98.5, 99))
        return untouched, split(await broker.drain_events())[1]

    untouched, fills = trio.run(scenario)

    assert untouched == []
    assert [(f.price, f.liquidity, f.fee) for f in fills] == [(D(99), Liquidity.MAKER, D("0.0198"))]
    assert fills[0].ts == T0 + timedelta(minutes=3)  # inside the bar: stamped at its close


def test_a_limit_marketable_on_arrival_takes_liquidity_at_the_open():
    async def scenario():
        broker = sim(taker="0.001", maker="0.0002")
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("c1", Side.BUY, "1", order_type=LIMIT, price="101"))
        await broker.on_candle(bar(1, 100, 100.5, 99.5, 100))
        return split(await broker.drain_events())[1]

    fills = trio.run(scenario)

    assert [(f.price, f.liquidity, f.fee) for f in fills] == [(D(100), Liquidity.TAKER, D("0.100"))]
    assert fills[0].ts == T0 + timedelta(minutes=1)  # at the open


def test_a_post_only_order_that_would_cross_is_rejected_on_arrival():
    async def scenario():
        broker = sim()
        await broker.on_candle(flat(0, 100))
        tif = TimeInForce.POST_ONLY
        await broker.place_order(
            intent("c1", Side.BUY, "1", order_type=LIMIT, price="101", time_in_force=tif)
        )
        await broker.on_candle(flat(1, 100))
        return await broker.get_order("c1"), split(await broker.drain_events())

    order, (orders, fills) = trio.run(scenario)

    assert order is not None
    assert order.status is OrderStatus.REJECTED
    assert "post-only" in order.reason
    assert fills == []
    assert orders[-1].status is OrderStatus.REJECTED


def test_a_post_only_market_order_is_refused_at_once():
    async def scenario():
        broker = sim()
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("c1", Side.BUY, "1", time_in_force=TimeInForce.POST_ONLY))

    with pytest.raises(BrokerRejected, match="post-only"):
        trio.run(scenario)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"order_type": LIMIT}, "needs a positive limit price"),
        ({"order_type": LIMIT, "price": "99.999"}, "not a multiple of the tick"),
        ({"order_type": OrderType.STOP}, "needs a positive stop price"),
        ({"order_type": OrderType.STOP_LIMIT, "price": "101"}, "needs a positive stop price"),
    ],
)
def test_an_order_without_valid_prices_is_refused_at_once(kw, message):
    async def scenario():
        broker = sim()
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("c1", Side.BUY, "1", **kw))

    with pytest.raises(BrokerRejected, match=message):
        trio.run(scenario)


# --- time in force and partial fills -------------------------------------------------------------------


def test_ioc_fills_what_the_next_bar_allows_and_cancels_the_rest():
    async def scenario():
        broker = sim(max_volume_share=D("0.1"))
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("c1", Side.BUY, "5", time_in_force=TimeInForce.IOC))
        await broker.on_candle(flat(1, 100, volume=20))
        return await broker.get_order("c1")

    order = trio.run(scenario)

    assert order is not None
    assert (order.status, order.filled_qty) == (OrderStatus.CANCELLED, D(2))


def test_fok_without_the_volume_for_all_of_it_fills_nothing():
    async def scenario():
        broker = sim(max_volume_share=D("0.1"))
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("c1", Side.BUY, "5", time_in_force=TimeInForce.FOK))
        await broker.on_candle(flat(1, 100, volume=20))
        return await broker.get_order("c1"), await broker.fills()

    order, fills = trio.run(scenario)

    assert order is not None
    assert (order.status, order.filled_qty) == (OrderStatus.CANCELLED, D(0))
    assert fills == []


def test_fok_with_the_volume_for_all_of_it_fills_it_whole():
    async def scenario():
        broker = sim(max_volume_share=D("0.1"))
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("c1", Side.BUY, "5", time_in_force=TimeInForce.FOK))
        await broker.on_candle(flat(1, 100, volume=50))
        return await broker.get_order("c1")

    order = trio.run(scenario)

    assert order is not None
    assert (order.status, order.filled_qty) == (OrderStatus.FILLED, D(5))


def test_a_gtc_order_larger_than_the_volume_share_fills_across_bars():
    async def scenario():
        broker = sim(max_volume_share=D("0.1"))
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("c1", Side.BUY, "5"))
        statuses = []
        for i, price in enumerate((100, 101, 102), start=1):
            await broker.on_candle(flat(i, price, volume=20))
            statuses.append((await broker.get_order("c1")).status)
        return statuses, await broker.fills(), await broker.get_order("c1")

    statuses, fills, order = trio.run(scenario)

    assert [(f.fill_id, f.qty, f.price) for f in fills] == [
        ("c1-1", D(2), D(100)),
        ("c1-2", D(2), D(101)),
        ("c1-3", D(1), D(102)),
    ]
    assert statuses == [OrderStatus.PARTIALLY_FILLED, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED]
    assert order.avg_price == D("100.8")  # (200 + 202 + 102) / 5


def test_orders_of_one_symbol_share_the_bars_volume_in_time_priority():
    async def scenario():
        broker = sim(max_volume_share=D("0.1"))
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("first", Side.BUY, "3"))
        await broker.place_order(intent("second", Side.BUY, "3"))
        await broker.on_candle(flat(1, 100, volume=40))
        return [(f.client_order_id, f.qty) for f in await broker.fills()]

    assert trio.run(scenario) == [("first", D(3)), ("second", D(1))]


# --- stops ---------------------------------------------------------------------------------------------


def test_a_buy_stop_triggers_inside_the_bar_and_fills_at_the_stop_plus_slippage():
    async def scenario():
        broker = sim(costs=FillCosts(taker_fee=D(0), maker_fee=D(0), slippage_bps=D(10)))
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("c1", Side.BUY, "1", order_type=OrderType.STOP, stop_price="102"))
        await broker.on_candle(bar(1, 100, 101, 99, 100))
        quiet = await broker.fills()
        await broker.on_candle(bar(2, 100, 103, 99, 102))
        return quiet, await broker.fills(), await broker.get_order("c1")

    quiet, fills, order = trio.run(scenario)

    assert quiet == []
    assert [f.price for f in fills] == [D("102.10")]  # 102 + 10 bps
    assert order.order_type is OrderType.MARKET  # a triggered stop works as a market order


def test_a_stop_limit_below_its_trigger_rests_then_fills_as_a_maker():
    async def scenario():
        broker = sim(taker="0.001", maker="0.0002")
        await broker.on_candle(flat(0, 100))
        stop_limit = intent(
            "c1", Side.BUY, "1", order_type=OrderType.STOP_LIMIT, stop_price="102", price="101.50"
        )
        await broker.place_order(stop_limit)
        await broker.on_candle(bar(1, 100, 103, 99, 102))  # triggers at 102 > 101.50: rests
        after_trigger = await broker.get_order("c1")
        await broker.on_candle(bar(2, 102, 102.5, 101, 101.8))
        return after_trigger, await broker.fills()

    after_trigger, fills = trio.run(scenario)

    assert after_trigger.order_type is OrderType.LIMIT
    assert after_trigger.filled_qty == 0
    assert [(f.price, f.liquidity) for f in fills] == [(D("101.50"), Liquidity.MAKER)]


# --- reduce-only ---------------------------------------------------------------------------------------


def test_a_reduce_only_order_is_clipped_to_the_position_and_the_rest_cancelled():
    async def scenario():
        broker = sim()
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("open", Side.BUY, "2"))
        await broker.on_candle(flat(1, 100))
        await broker.place_order(intent("close", Side.SELL, "5", reduce_only=True))
        await broker.on_candle(flat(2, 101))
        return await broker.get_order("close"), await broker.positions()

    order, positions = trio.run(scenario)

    assert (order.status, order.filled_qty) == (OrderStatus.CANCELLED, D(2))
    assert "clipped" in order.reason
    assert positions == []


def test_a_reduce_only_order_never_flips_a_margin_position():
    async def scenario():
        broker = sim(margin=True)
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("open", Side.SELL, "2"))
        await broker.on_candle(flat(1, 100))
        await broker.place_order(intent("close", Side.BUY, "3", reduce_only=True))
        await broker.on_candle(flat(2, 99))
        return await broker.positions(), await broker.get_order("close")

    positions, order = trio.run(scenario)

    assert positions == []
    assert order.filled_qty == D(2)


def test_a_reduce_only_order_that_would_grow_the_position_is_rejected():
    async def scenario():
        broker = sim()
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("open", Side.BUY, "1"))
        await broker.on_candle(flat(1, 100))
        await broker.place_order(intent("more", Side.BUY, "1", reduce_only=True))
        await broker.on_candle(flat(2, 100))
        return await broker.get_order("more")

    order = trio.run(scenario)

    assert order.status is OrderStatus.REJECTED
    assert "reduce-only" in order.reason


# --- slippage and latency ------------------------------------------------------------------------------


def test_volatility_slippage_charges_a_share_of_the_bars_range():
    async def scenario():
        costs = FillCosts(taker_fee=D(0), maker_fee=D(0), slippage_bps=D(10), volatility_slippage=D("0.1"))
        broker = sim(costs=costs)
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("c1", Side.BUY, "1"))
        await broker.on_candle(bar(1, 100, 110, 90, 100))
        return await broker.fills()

    fills = trio.run(scenario)

    assert fills[0].price == D("102.10")  # 100 x (1 + 0.001 + 0.1 x 20 / 100)


def test_an_order_works_only_on_bars_opening_after_the_latency():
    async def scenario():
        broker = sim(latency=timedelta(seconds=90))
        await broker.on_candle(flat(0, 100))  # closes at T0+1m: the order reaches the book at T0+2m30
        await broker.place_order(intent("c1", Side.BUY, "1"))
        await broker.on_candle(flat(1, 101))
        await broker.on_candle(flat(2, 102))
        await broker.on_candle(flat(3, 103))
        return await broker.fills()

    fills = trio.run(scenario)

    assert [(f.price, f.ts) for f in fills] == [(D(103), T0 + timedelta(minutes=3))]


def test_an_order_can_fill_before_its_cancel_takes_effect():
    async def scenario():
        broker = sim(latency=timedelta(seconds=30))
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("c1", Side.BUY, "1", order_type=LIMIT, price="99"))
        await broker.on_candle(flat(1, 100))  # live from T0+1m30: not yet
        await broker.on_candle(flat(2, 100))  # on the book now, untouched
        answer = await broker.cancel_order("BTCUSDT", "c1")  # at T0+3m: effective T0+3m30
        await broker.on_candle(bar(3, 100, 100, 98, 99))  # opens T0+3m: the order still works
        return answer, await broker.get_order("c1")

    answer, final = trio.run(scenario)

    assert answer.status is OrderStatus.ACCEPTED
    assert "cancel pending until" in answer.reason
    assert final.status is OrderStatus.FILLED


def test_a_cancel_takes_effect_once_its_latency_has_passed():
    async def scenario():
        broker = sim(latency=timedelta(seconds=30))
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("c1", Side.BUY, "1", order_type=LIMIT, price="99"))
        await broker.on_candle(flat(1, 100))
        await broker.cancel_order("BTCUSDT", "c1")  # at T0+2m: effective T0+2m30
        await broker.on_candle(flat(2, 100))  # opens T0+2m: still working, untouched
        working = await broker.get_order("c1")
        await broker.on_candle(bar(3, 100, 100, 98, 99))  # would fill, but the cancel came first
        return working, await broker.get_order("c1"), await broker.fills()

    working, final, fills = trio.run(scenario)

    assert working.status is OrderStatus.ACCEPTED
    assert final.status is OrderStatus.CANCELLED
    assert fills == []


# --- queries -------------------------------------------------------------------------------------------


def test_open_orders_and_balances_answer_like_a_broker():
    async def scenario():
        broker = sim(cash="1000")
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("buy", Side.BUY, "2"))
        await broker.place_order(intent("rest", Side.SELL, "1", order_type=LIMIT, price="120"))
        await broker.on_candle(flat(1, 100))
        return await broker.open_orders(), await broker.balances()

    open_orders, balances = trio.run(scenario)

    assert [o.client_order_id for o in open_orders] == ["rest"]
    # settled in the pair's quote currency: the USD bucket owes 200 USDT (cross-collateral)
    assert {b.currency: b.total for b in balances} == {"BTC": D(2), "USD": D(1000), "USDT": D(-200)}
