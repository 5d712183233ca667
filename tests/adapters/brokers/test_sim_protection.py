"""Server-side protection on the simulated venue: Bybit-style trading stop (by last or mark price) and
IBKR-style brackets with one-cancels-other exits."""

from decimal import Decimal as D

import trio

from app.domain.values import OrderStatus, OrderType, Side
from tests.adapters.brokers.sim_kit import bar, flat, intent, sim

# --- trading stop by last or mark ----------------------------------------------------------------------


async def _long_protected(broker, sl: str, tp: str | None = None) -> None:
    await broker.on_candle(flat(0, 100))
    await broker.place_order(intent("c1", Side.BUY, "1"))
    await broker.on_candle(flat(1, 100))
    await broker.set_trading_stop("BTCUSDT", D(sl), D(tp) if tp else None)


def test_a_last_price_wick_through_the_stop_closes_the_position_when_triggering_by_last():
    async def scenario():
        broker = sim(trigger_by="last")
        await _long_protected(broker, sl="95")
        broker.on_mark_candle(bar(2, 100, 101, 97, 99))
        await broker.on_candle(bar(2, 100, 101, 94, 99))
        return await broker.positions()

    assert trio.run(scenario) == []


def test_the_same_wick_leaves_the_position_open_when_triggering_by_mark():
    async def scenario():
        broker = sim(trigger_by="mark")
        await _long_protected(broker, sl="95")
        broker.on_mark_candle(bar(2, 100, 101, 97, 99))
        await broker.on_candle(bar(2, 100, 101, 94, 99))
        return await broker.positions()

    assert len(trio.run(scenario)) == 1


def test_a_mark_through_the_stop_closes_at_a_price_that_traded():
    async def scenario():
        broker = sim(trigger_by="mark")
        await _long_protected(broker, sl="95")
        broker.on_mark_candle(bar(2, 100, 101, 93, 96))
        await broker.on_candle(bar(2, 100, 101, 96, 97))  # trades never went below 96
        return await broker.fills(), await broker.positions()

    fills, positions = trio.run(scenario)

    assert positions == []
    assert fills[-1].price == D(96)
    assert fills[-1].client_order_id == "sim-sl-00000001"


def test_without_a_mark_bar_for_the_bar_the_stop_triggers_by_last():
    async def scenario():
        broker = sim(trigger_by="mark")
        await _long_protected(broker, sl="95")
        await broker.on_candle(bar(2, 100, 101, 94, 99))
        return await broker.positions()

    assert trio.run(scenario) == []


def test_a_take_profit_fill_reports_its_reason_on_the_sim_order():
    async def scenario():
        broker = sim()
        await _long_protected(broker, sl="95", tp="105")
        await broker.on_candle(bar(2, 100, 106, 99, 105))
        fill = (await broker.fills())[-1]
        return fill, await broker.get_order(fill.client_order_id)

    fill, order = trio.run(scenario)

    assert (fill.price, order.reason, order.status) == (D(105), "take_profit", OrderStatus.FILLED)


# --- brackets ------------------------------------------------------------------------------------------


async def _bracket(broker, entry_kw=None, sl="95", tp="110"):
    await broker.on_candle(flat(0, 100))
    return await broker.place_bracket(
        intent("entry", Side.BUY, "2", **(entry_kw or {})),
        stop_loss=D(sl) if sl else None,
        take_profit=D(tp) if tp else None,
    )


def test_a_bracket_places_an_entry_and_two_reduce_only_exits():
    async def scenario():
        return await _bracket(sim())

    entry, stop, target = trio.run(scenario)

    assert entry.client_order_id == "entry"
    assert (stop.client_order_id, stop.order_type, stop.price, stop.side) == (
        "sim-bsl-00000001",
        OrderType.STOP,
        D(95),
        Side.SELL,
    )
    assert (target.client_order_id, target.order_type, target.price) == (
        "sim-btp-00000002",
        OrderType.LIMIT,
        D(110),
    )
    assert stop.reduce_only
    assert target.reduce_only


def test_when_the_take_profit_fills_the_stop_loss_is_cancelled():
    async def scenario():
        broker = sim()
        _, stop, target = await _bracket(broker)
        await broker.on_candle(flat(1, 100))
        await broker.on_candle(bar(2, 105, 111, 104, 110))
        return (
            await broker.get_order(stop.client_order_id),
            await broker.get_order(target.client_order_id),
            await broker.positions(),
        )

    stop, target, positions = trio.run(scenario)

    assert target.status is OrderStatus.FILLED
    assert (stop.status, stop.reason) == (OrderStatus.CANCELLED, "oco: the other exit filled")
    assert positions == []


def test_when_one_bar_touches_both_exits_the_stop_loss_fills_first():
    async def scenario():
        broker = sim()
        _, stop, target = await _bracket(broker)
        await broker.on_candle(flat(1, 100))
        await broker.on_candle(bar(2, 100, 112, 90, 100))
        return await broker.get_order(stop.client_order_id), await broker.get_order(target.client_order_id)

    stop, target = trio.run(scenario)

    assert (stop.status, stop.avg_price) == (OrderStatus.FILLED, D(95))
    assert target.status is OrderStatus.CANCELLED


def test_exits_do_not_work_before_the_entry_fills():
    async def scenario():
        broker = sim()
        _, _, target = await _bracket(broker, {"order_type": OrderType.LIMIT, "price": "90"})
        await broker.on_candle(bar(1, 100, 111, 99, 105))  # the target's level, but no position yet
        return await broker.get_order(target.client_order_id), await broker.fills()

    target, fills = trio.run(scenario)

    assert target.status is OrderStatus.ACCEPTED
    assert fills == []


def test_the_take_profit_waits_a_bar_after_the_entry_but_the_stop_loss_does_not():
    async def scenario():
        a, b = sim(), sim()
        for broker in (a, b):
            await _bracket(broker)
        await a.on_candle(bar(1, 100, 111, 99, 105))  # entry at the open; the bar reaches the target
        await b.on_candle(bar(1, 100, 101, 94, 96))  # entry at the open; the bar reaches the stop
        return await a.positions(), await b.positions()

    after_target_bar, after_stop_bar = trio.run(scenario)

    assert len(after_target_bar) == 1
    assert after_stop_bar == []


def test_an_entry_cancelled_unfilled_takes_its_exits_with_it():
    async def scenario():
        broker = sim()
        _, stop, target = await _bracket(broker, {"order_type": OrderType.LIMIT, "price": "90"})
        await broker.cancel_order("BTCUSDT", "entry")
        return [(await broker.get_order(o.client_order_id)).status for o in (stop, target)]

    assert trio.run(scenario) == [OrderStatus.CANCELLED, OrderStatus.CANCELLED]


def test_exits_of_a_part_filled_entry_shrink_to_what_it_filled():
    async def scenario():
        broker = sim(max_volume_share=D("0.1"))
        _, stop, _ = await _bracket(broker)
        await broker.on_candle(flat(1, 100, volume=10))  # fills 1 of 2
        await broker.cancel_order("BTCUSDT", "entry")
        return await broker.get_order(stop.client_order_id)

    stop = trio.run(scenario)

    assert (stop.qty, stop.status) == (D(1), OrderStatus.ACCEPTED)


def test_bracket_exits_can_carry_the_callers_ids():
    async def scenario():
        broker = sim()
        await broker.on_candle(flat(0, 100))
        return await broker.place_bracket(
            intent("entry", Side.BUY, "1"), stop_loss=D(95), take_profit=None, stop_loss_id="entry-sl"
        )

    orders = trio.run(scenario)

    assert [o.client_order_id for o in orders] == ["entry", "entry-sl"]
