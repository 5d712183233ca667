"""Amending working orders on the simulated venue: validation, latency, time priority, brackets."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
import trio

from app.domain.values import OrderIntent, OrderStatus, OrderType, Side, TimeInForce
from app.ports.errors import BrokerRejected
from tests.adapters.brokers.sim_kit import T0, bar, flat, intent, sim, split

LIMIT, STOP, STOP_LIMIT = OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT
SYMBOL = "BTCUSDT"


def _limit(cid: str, side: Side, qty: str, price: str, **kw: object) -> OrderIntent:
    return intent(cid, side, qty, order_type=LIMIT, price=price, **kw)


# --- at once (no latency) ------------------------------------------------------------------------------


def test_an_amended_limit_fills_at_its_new_price_and_the_change_is_reported():
    async def scenario():
        broker = sim()
        await broker.on_candle(flat(0, 100))
        await broker.place_order(_limit("c1", Side.BUY, "1", "97"))
        await broker.drain_events()
        answer = await broker.amend_order(SYMBOL, "c1", price=D(99))
        reported = split(await broker.drain_events())[0]
        await broker.on_candle(bar(1, 100, 100, 98.5, 99))
        return answer, reported, await broker.fills()

    answer, reported, fills = trio.run(scenario)

    assert (answer.price, answer.status, answer.broker_order_id) == (
        D(99),
        OrderStatus.ACCEPTED,
        "sim-00000001",
    )
    assert reported == [answer]
    assert [(f.price, f.qty) for f in fills] == [(D(99), D(1))]


def test_a_part_filled_order_keeps_what_filled_and_works_the_new_remainder():
    async def scenario():
        broker = sim(max_volume_share=D("0.1"))
        await broker.on_candle(flat(0, 100))
        await broker.place_order(_limit("c1", Side.BUY, "5", "99"))
        await broker.on_candle(bar(1, 100, 100, 98, 99, volume=20))  # 2 of 5 fill
        answer = await broker.amend_order(SYMBOL, "c1", qty=D(3))
        await broker.on_candle(bar(2, 100, 100, 98, 99, volume=20))
        return answer, await broker.get_order("c1"), await broker.fills()

    answer, final, fills = trio.run(scenario)

    assert (answer.qty, answer.filled_qty, answer.remaining_qty) == (D(3), D(2), D(1))
    assert (final.status, final.filled_qty) == (OrderStatus.FILLED, D(3))
    assert [f.qty for f in fills] == [D(2), D(1)]


def test_an_amended_stop_limit_triggers_at_its_new_stop():
    async def scenario():
        broker = sim()
        await broker.on_candle(flat(0, 100))
        await broker.place_order(
            intent("c1", Side.BUY, "1", order_type=STOP_LIMIT, stop_price="105", price="106")
        )
        answer = await broker.amend_order(SYMBOL, "c1", stop_price=D(102), price=D(103))
        await broker.on_candle(bar(1, 100, 103, 99, 102))
        return answer, await broker.get_order("c1")

    answer, final = trio.run(scenario)

    assert answer.price == D(103)
    assert "stop 102" in answer.reason  # the Order value has no trigger field: the venue writes it there
    assert (final.status, final.avg_price) == (OrderStatus.FILLED, D(102))


def test_an_amended_stop_shows_its_new_trigger_as_its_price():
    async def scenario():
        broker = sim()
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("c1", Side.SELL, "1", order_type=STOP, stop_price="90"))
        await broker.place_order(intent("buy", Side.BUY, "1"))
        answer = await broker.amend_order(SYMBOL, "c1", stop_price=D(95))
        await broker.on_candle(flat(1, 100))
        await broker.on_candle(bar(2, 100, 100, 94, 96))
        return answer, await broker.get_order("c1")

    answer, final = trio.run(scenario)

    assert answer.price == D(95)
    assert (final.status, final.avg_price) == (OrderStatus.FILLED, D(95))


@pytest.mark.parametrize(
    ("order", "change", "message"),
    [
        ("limit", {}, "nothing to amend"),
        ("limit", {"price": D("99.005")}, "not a multiple of the tick"),
        ("limit", {"qty": D("1.0005")}, "not a multiple of the lot step"),
        ("limit", {"qty": D(0)}, "must stay above the 0 already filled"),
        ("limit", {"price": D(-1)}, "needs a positive limit price"),
        ("limit", {"stop_price": D(101)}, "has no stop price to amend"),
        ("limit", {"price": D(97)}, "changes nothing"),
        ("stop", {"price": D(101)}, "amend its stop price"),
        ("market", {"price": D(101)}, "market order has no limit price"),
    ],
)
def test_an_invalid_amendment_is_refused_and_changes_nothing(order, change, message):
    kinds = {
        "limit": _limit("c1", Side.BUY, "1", "97"),
        "stop": intent("c1", Side.BUY, "1", order_type=STOP, stop_price="105"),
        "market": intent("c1", Side.BUY, "1"),
    }

    async def scenario():
        broker = sim(latency=timedelta(minutes=5))  # the market order is still on its way to the book
        await broker.on_candle(flat(0, 100))
        before = await broker.place_order(kinds[order])
        await broker.drain_events()
        with pytest.raises(BrokerRejected) as refused:
            await broker.amend_order(SYMBOL, "c1", **change)
        return before, await broker.get_order("c1"), await broker.drain_events(), refused.value

    before, after, events, error = trio.run(scenario)

    assert message in str(error)
    assert error.code == "invalid_amendment"
    assert (after, events) == (before, [])


def test_unknown_and_final_orders_cannot_be_amended():
    async def scenario():
        broker = sim()
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("c1", Side.BUY, "1"))
        await broker.on_candle(flat(1, 100))
        errors = []
        for symbol, cid in ((SYMBOL, "ghost"), ("ETHUSDT", "c1"), (SYMBOL, "c1")):
            with pytest.raises(BrokerRejected) as refused:
                await broker.amend_order(symbol, cid, qty=D(2))
            errors.append((refused.value.code, str(refused.value)))
        return errors

    errors = trio.run(scenario)

    assert errors == [
        ("unknown_order", "no order ghost on BTCUSDT"),
        ("unknown_order", "no order c1 on ETHUSDT"),
        ("order_final", "order c1 is filled: nothing is left to amend"),
    ]


# --- latency ---------------------------------------------------------------------------------------------


def test_an_amendment_takes_effect_after_the_latency_and_the_old_terms_work_until_then():
    async def scenario():
        broker = sim(latency=timedelta(seconds=30))
        await broker.on_candle(flat(0, 100))
        await broker.place_order(_limit("c1", Side.BUY, "1", "97"))
        await broker.on_candle(flat(1, 100))
        answer = await broker.amend_order(SYMBOL, "c1", price=D(99))  # at T0+2m: effective T0+2m30
        await broker.on_candle(bar(2, 100, 100, 98.5, 99))  # opens T0+2m: still at 97, untouched
        middle = await broker.get_order("c1")
        await broker.on_candle(bar(3, 100, 100, 98.5, 99))  # the amendment came first: fills at 99
        return answer, middle, await broker.get_order("c1"), await broker.fills()

    answer, middle, final, fills = trio.run(scenario)

    assert answer.price == D(97)
    assert "amend pending until 2024-01-01T00:02:30+00:00: price 99" in answer.reason
    assert middle.price == D(97)
    assert "amend pending" in middle.reason
    assert (final.status, final.price) == (OrderStatus.FILLED, D(99))
    assert [(f.price, f.ts) for f in fills] == [(D(99), T0 + timedelta(minutes=4))]


def test_an_order_that_fills_before_its_amendment_takes_effect_rejects_it_with_an_event():
    async def scenario():
        broker = sim(latency=timedelta(seconds=30))
        await broker.on_candle(flat(0, 100))
        await broker.place_order(_limit("c1", Side.BUY, "1", "99"))
        await broker.on_candle(flat(1, 100))
        await broker.amend_order(SYMBOL, "c1", price=D(97))  # effective T0+2m30
        await broker.drain_events()
        await broker.on_candle(bar(2, 100, 100, 98, 99))  # touches the old 99 first
        return split(await broker.drain_events()), await broker.get_order("c1")

    (orders, fills), final = trio.run(scenario)

    assert [(f.price, f.qty) for f in fills] == [(D(99), D(1))]
    assert orders[-1] == final
    assert (final.status, final.price) == (OrderStatus.FILLED, D(99))
    assert final.reason == "amend rejected: the order filled before the amendment took effect"


def test_an_amendment_below_what_filled_meanwhile_is_rejected_when_it_arrives():
    async def scenario():
        broker = sim(latency=timedelta(seconds=30), max_volume_share=D("0.1"))
        await broker.on_candle(flat(0, 100))
        await broker.place_order(_limit("c1", Side.BUY, "5", "99"))
        await broker.on_candle(flat(1, 100))
        await broker.amend_order(SYMBOL, "c1", qty=D(2))  # valid now (nothing filled), effective T0+2m30
        await broker.on_candle(bar(2, 100, 100, 98, 99, volume=30))  # 3 fill before it arrives
        await broker.on_candle(flat(3, 100))  # opens T0+3m: the amendment arrives, too late
        return await broker.get_order("c1")

    order = trio.run(scenario)

    assert (order.status, order.qty, order.filled_qty) == (OrderStatus.PARTIALLY_FILLED, D(5), D(3))
    assert order.reason == "amend rejected: the new quantity 2 must stay above the 3.000 already filled"


def test_an_order_still_on_its_way_to_the_book_can_be_amended():
    async def scenario():
        broker = sim(latency=timedelta(seconds=90))
        await broker.on_candle(flat(0, 100))  # the order reaches the book at T0+2m30
        await broker.place_order(intent("c1", Side.BUY, "3"))
        await broker.amend_order(SYMBOL, "c1", qty=D(2))  # reaches it at the same time
        await broker.on_candle(flat(1, 101))
        await broker.on_candle(flat(2, 102))
        await broker.on_candle(flat(3, 103))
        return await broker.fills()

    fills = trio.run(scenario)

    assert [(f.qty, f.price) for f in fills] == [(D(2), D(103))]


def test_an_order_being_cancelled_or_amended_refuses_another_amendment():
    async def scenario():
        broker = sim(latency=timedelta(seconds=30))
        await broker.on_candle(flat(0, 100))
        await broker.place_order(_limit("a", Side.BUY, "1", "97"))
        await broker.place_order(_limit("b", Side.BUY, "1", "97"))
        await broker.amend_order(SYMBOL, "a", price=D(98))
        await broker.cancel_order(SYMBOL, "b")
        errors = []
        for cid in ("a", "b"):
            with pytest.raises(BrokerRejected) as refused:
                await broker.amend_order(SYMBOL, cid, price=D(96))
            errors.append((refused.value.code, str(refused.value)))
        return errors

    errors = trio.run(scenario)

    assert errors == [
        ("order_busy", "order a is already being amended: try again once that took effect"),
        ("order_busy", "order b is being cancelled: try again once that took effect"),
    ]


def test_a_cancel_requested_while_an_amendment_is_pending_wins():
    async def scenario():
        broker = sim(latency=timedelta(seconds=30))
        await broker.on_candle(flat(0, 100))
        await broker.place_order(_limit("c1", Side.BUY, "1", "97"))
        await broker.on_candle(flat(1, 100))
        await broker.amend_order(SYMBOL, "c1", price=D(99))
        pending = await broker.cancel_order(SYMBOL, "c1")
        await broker.on_candle(bar(2, 100, 100, 98, 99))
        await broker.on_candle(bar(3, 100, 100, 98, 99))
        return pending, await broker.get_order("c1"), await broker.fills()

    pending, final, fills = trio.run(scenario)

    assert pending.reason.endswith("cancel pending until 2024-01-01T00:02:30+00:00")  # the cancel stays last
    assert "amend pending until" in pending.reason
    assert (final.status, final.price, fills) == (OrderStatus.CANCELLED, D(97), [])


# --- time priority ---------------------------------------------------------------------------------------


async def _two_bids(amend: dict[str, D]) -> list[tuple[str, D]]:
    """Two bids at 99 (``first`` placed first) share a bar that allows 5 of their 10; ``first`` is amended."""
    broker = sim(max_volume_share=D("0.1"))
    await broker.on_candle(flat(0, 100))
    await broker.place_order(_limit("first", Side.BUY, "5", "99"))
    await broker.place_order(_limit("second", Side.BUY, "5", "99"))
    await broker.amend_order(SYMBOL, "first", **amend)
    await broker.on_candle(bar(1, 100, 100, 98, 99, volume=50))
    return [(f.client_order_id, f.qty) for f in await broker.fills()]


def test_a_price_change_loses_time_priority():
    assert trio.run(_two_bids, {"price": D("99.5")}) == [("second", D(5))]


def test_a_larger_quantity_loses_time_priority():
    assert trio.run(_two_bids, {"qty": D(6)}) == [("second", D(5))]


def test_a_smaller_quantity_keeps_time_priority():
    assert trio.run(_two_bids, {"qty": D(4)}) == [("first", D(4)), ("second", D(1))]


def test_a_re_priced_limit_that_crosses_the_market_takes_liquidity_and_post_only_is_rejected():
    async def scenario():
        broker = sim(taker="0.001", maker="0.0002")
        await broker.on_candle(flat(0, 100))
        await broker.place_order(_limit("gtc", Side.BUY, "1", "97"))
        post_only = _limit("po", Side.BUY, "1", "97", time_in_force=TimeInForce.POST_ONLY)
        await broker.place_order(post_only)
        await broker.on_candle(flat(1, 100))  # both rest on the book now
        await broker.amend_order(SYMBOL, "gtc", price=D(101))
        await broker.amend_order(SYMBOL, "po", price=D(101))
        await broker.on_candle(flat(2, 100))
        return await broker.fills(), await broker.get_order("po")

    fills, post_only = trio.run(scenario)

    assert [(f.client_order_id, f.liquidity.value, f.fee) for f in fills] == [("gtc", "taker", D("0.100"))]
    assert (post_only.status, post_only.reason) == (
        OrderStatus.REJECTED,
        "post-only order would take liquidity",
    )


# --- brackets --------------------------------------------------------------------------------------------


def test_a_bracket_stop_loss_can_be_moved_but_its_quantity_follows_the_entry():
    async def scenario():
        broker = sim()
        await broker.on_candle(flat(0, 100))
        entry = intent("e1", Side.BUY, "1")
        await broker.place_bracket(entry, stop_loss=D(95), take_profit=D(110), stop_loss_id="sl1")
        with pytest.raises(BrokerRejected, match="follows what its entry filled"):
            await broker.amend_order(SYMBOL, "sl1", qty=D("0.5"))
        await broker.amend_order(SYMBOL, "sl1", stop_price=D(98))
        await broker.on_candle(flat(1, 100))
        await broker.on_candle(bar(2, 100, 100, 97, 98))
        return await broker.get_order("sl1"), await broker.positions()

    stop_loss, positions = trio.run(scenario)

    assert (stop_loss.status, stop_loss.avg_price) == (OrderStatus.FILLED, D(98))
    assert positions == []
