"""The placement path of the simulated venue against straightforward recomputations: the validation in one
pass, the Order built field by field, the book's time priority and the fault dice."""

import random
from datetime import timedelta
from decimal import Decimal as D

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from app.adapters.brokers.sim import SimFaults
from app.adapters.brokers.sim.book import OrderBook, Working
from app.adapters.brokers.sim.orders import validate_intent
from app.domain.ids import is_valid_client_order_id
from app.domain.values import Asset, Instrument, Order, OrderIntent, OrderStatus, OrderType, Side, TimeInForce
from app.ports.errors import BrokerRejected, OrderOutcomeUnknown
from tests.adapters.brokers.sim_kit import T0, flat, sim

STEPS = (D("0.001"), D("0.01"), D("0.25"), D(1), D(5))
NOTIONALS = (D(0), D(10), D(1000))


def reference_problem(intent: OrderIntent, instrument: Instrument, last: D | None) -> str:
    """The venue's checks written one after the other, as plainly as possible."""
    if not is_valid_client_order_id(intent.client_order_id):
        return f"client order id {intent.client_order_id!r} is not 1-36 characters of [A-Za-z0-9_-]"
    if intent.qty <= 0:
        return f"quantity must be positive, got {intent.qty}"
    if instrument.round_qty(intent.qty) != intent.qty:
        return f"quantity {intent.qty} is not a multiple of the lot step {instrument.lot_step}"
    if intent.qty < instrument.min_qty:
        return f"quantity {intent.qty} is below the minimum {instrument.min_qty}"
    kind = intent.order_type
    limited = kind in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    if intent.time_in_force is TimeInForce.POST_ONLY and not limited:
        return f"post-only needs a limit price: a {kind.value} order always takes liquidity"
    levels = []
    if limited:
        levels.append(("limit price", intent.price))
    if kind in (OrderType.STOP, OrderType.STOP_LIMIT):
        levels.append(("stop price", intent.stop_price))
    for name, price in levels:
        if price is None or price <= 0:
            return f"a {kind.value} order needs a positive {name}, got {price}"
        if instrument.round_price(price) != price:
            return f"{name} {price} is not a multiple of the tick {instrument.tick_size}"
    if instrument.min_notional <= 0:
        return ""
    reference = intent.price
    if reference is None:
        reference = intent.stop_price if intent.stop_price is not None else last
    if reference is not None and intent.qty * reference < instrument.min_notional:
        return f"order value {intent.qty * reference} is below the minimum {instrument.min_notional}"
    return ""


@st.composite
def cases(draw: st.DrawFn) -> tuple[OrderIntent, Instrument, D | None]:
    """An intent, the instrument's rules and the last price; sizes and prices are mostly on the rules' steps
    so that every check is reached, with stray values among them."""
    tick, lot = draw(st.sampled_from(STEPS)), draw(st.sampled_from(STEPS))
    minimum = draw(st.sampled_from([D("0.001"), lot, D(3)]))
    instrument = Instrument(
        "BTCUSDT", Asset.SPOT, "BTC", "USDT", tick, lot, minimum, draw(st.sampled_from(NOTIONALS))
    )

    def amount(step: D, low: int) -> st.SearchStrategy[D | None]:
        return st.one_of(
            st.builds(lambda k: k * step, st.integers(min_value=low, max_value=400)),
            st.none(),
            st.sampled_from([D(0), D(-1), D("0.125"), D("99.99"), D("100.005")]),
            st.decimals(min_value=D("-1"), max_value=D(500), places=4, allow_nan=False),
        )

    qty = draw(amount(lot, -1).filter(lambda q: q is not None))
    intent = OrderIntent(
        draw(st.sampled_from(["c1", "c1", "c1", "a-b_C9", "", "x" * 36, "x" * 37, "bad id", "tail\n"])),
        "s1",
        Asset.SPOT,
        "BTCUSDT",
        Side.BUY,
        qty,
        draw(st.sampled_from(OrderType)),
        draw(amount(tick, 1)),
        draw(amount(tick, 1)),
        draw(st.sampled_from(TimeInForce)),
        created_at=T0,
    )
    return intent, instrument, draw(amount(tick, 1))


@settings(max_examples=400, deadline=None)
@given(cases())
def test_validation_finds_the_same_problem_as_the_checks_one_by_one(case):
    intent, instrument, last = case
    assert validate_intent(intent, instrument, last) == reference_problem(intent, instrument, last)


def expected_order(intent: OrderIntent, status: OrderStatus, broker_id: str, reason: str) -> Order:
    return Order(
        client_order_id=intent.client_order_id,
        strategy_id=intent.strategy_id,
        asset=intent.asset,
        symbol=intent.symbol,
        side=intent.side,
        qty=intent.qty,
        order_type=intent.order_type,
        status=status,
        created_at=T0,
        updated_at=T0,
        price=intent.stop_price if intent.order_type is OrderType.STOP else intent.price,
        broker_order_id=broker_id,
        reason=reason,
        reduce_only=intent.reduce_only,
    )


placements = st.lists(
    st.tuples(
        st.sampled_from(Side),
        st.sampled_from(OrderType),
        st.sampled_from([TimeInForce.GTC, TimeInForce.IOC, TimeInForce.POST_ONLY]),
        st.booleans(),
        st.sampled_from(["1", "0.5", "0.0005", "-1"]),
        st.sampled_from([None, "99", "101.5", "100.001"]),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(placements)
def test_each_answer_and_each_refusal_is_the_order_built_field_by_field(steps):
    async def scenario():
        broker = sim(latency=timedelta(minutes=1))
        accepted = 0
        for n, (side, kind, tif, reduce_only, qty, level) in enumerate(steps):
            price = D(level) if level is not None else None
            stop = price + 1 if price is not None and kind is OrderType.STOP_LIMIT else price
            intent = OrderIntent(
                f"c{n}",
                "s1",
                Asset.SPOT,
                "BTCUSDT",
                side,
                D(qty),
                kind,
                price,
                stop,
                tif,
                reduce_only,
                created_at=T0,
            )
            try:
                answer = await broker.place_order(intent)
            except BrokerRejected as e:
                refused, answer = str(e), None
            stored = await broker.get_order(intent.client_order_id)
            if answer is None:
                assert stored == expected_order(intent, OrderStatus.REJECTED, "", refused)
                continue
            accepted += 1
            assert answer == expected_order(intent, OrderStatus.ACCEPTED, f"sim-{accepted:08d}", "")
            assert stored == answer

    trio.run(scenario)


TIMES = [T0 + timedelta(seconds=s) for s in range(3)]
book_steps = st.lists(
    st.tuples(
        st.sampled_from(["add", "add", "add", "remove", "requeue", "walk"]),
        st.integers(min_value=0, max_value=7),  # which order
        st.sampled_from(TIMES),  # when it reaches the book, or the requeue time
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(book_steps)
def test_the_book_walks_its_orders_in_time_priority_whatever_the_adds_removes_and_requeues(steps):
    book = OrderBook()
    live: dict[str, Working] = {}
    placed = 0
    for action, which, at in steps:
        cid = f"c{which}"
        if action == "add" and cid not in live:
            placed += 1
            live[cid] = Working(cid, "BTCUSDT", TimeInForce.GTC, at, None, placed)
            book.add(live[cid])
        elif action == "remove":
            book.remove(cid)
            live.pop(cid, None)
        elif action == "requeue" and cid in live:
            book.requeue(live[cid], at)
        elif action == "walk":
            assert [w.cid for w in book] == [w.cid for w in sorted(live.values(), key=lambda w: w.priority)]
    assert [w.cid for w in book] == [w.cid for w in sorted(live.values(), key=lambda w: w.priority)]


@pytest.mark.parametrize(("reject_rate", "timeout_rate"), [(0.0, 0.0), (0.3, 0.0), (0.0, 0.4), (0.3, 0.4)])
def test_placements_roll_the_fault_dice_exactly_when_a_rate_is_set(reject_rate, timeout_rate):
    dice = random.Random(7)  # the venue's dice, replayed
    expected = []
    for _ in range(40):
        if reject_rate > 0 and dice.random() < reject_rate:
            expected.append("reject")
        elif timeout_rate > 0 and dice.random() < timeout_rate:
            expected.append("timeout")
        else:
            expected.append("ok")

    async def scenario():
        broker = sim(faults=SimFaults(seed=7, reject_rate=reject_rate, timeout_rate=timeout_rate))
        await broker.on_candle(flat(0, 100))
        seen = []
        for n in range(40):
            intent = OrderIntent(f"c{n}", "s1", Asset.SPOT, "BTCUSDT", Side.BUY, D(1), created_at=T0)
            try:
                await broker.place_order(intent)
                seen.append("ok")
            except BrokerRejected:
                seen.append("reject")
            except OrderOutcomeUnknown:
                seen.append("timeout")
        return seen, broker.faults._rng.getstate()

    seen, state = trio.run(scenario)
    assert seen == expected
    assert state == dice.getstate()
