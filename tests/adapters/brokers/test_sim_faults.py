"""Fault injection on the simulated venue, and determinism: the same seed and inputs give the same run."""

from decimal import Decimal as D

import pytest
import trio

from app.adapters.brokers.sim import SimFaults
from app.domain.fills import FillCosts
from app.domain.values import Asset, Fill, Order, OrderStatus, OrderType, Side, TimeInForce
from app.ports.errors import BrokerRejected, OrderOutcomeUnknown
from tests.adapters.brokers.sim_kit import FUTURES, fine_rules, flat, intent, read_candles, sim, split


def test_an_injected_rejection_creates_nothing_and_the_next_order_goes_through():
    async def scenario():
        broker = sim()
        await broker.on_candle(flat(0, 100))
        broker.faults.reject_next()
        with pytest.raises(BrokerRejected) as refused:
            await broker.place_order(intent("c1", Side.BUY, "1"))
        after = await broker.place_order(intent("c2", Side.BUY, "1"))
        return refused.value.code, await broker.get_order("c1"), after

    code, lost, after = trio.run(scenario)

    assert code == "injected"
    assert lost is None
    assert after.status is OrderStatus.ACCEPTED


def test_a_timeout_after_accepting_leaves_the_order_on_the_book():
    async def scenario():
        broker = sim()
        await broker.on_candle(flat(0, 100))
        broker.faults.timeout_next()
        with pytest.raises(OrderOutcomeUnknown):
            await broker.place_order(intent("c1", Side.BUY, "1"))
        known = await broker.get_order("c1")
        await broker.on_candle(flat(1, 100))
        return known, await broker.get_order("c1")

    known, later = trio.run(scenario)

    assert known.status is OrderStatus.ACCEPTED
    assert later.status is OrderStatus.FILLED


def test_a_dropped_fill_event_still_happened():
    async def scenario():
        broker = sim()
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("c1", Side.BUY, "1"))
        broker.faults.drop_next_fill()
        await broker.on_candle(flat(1, 100))
        return split(await broker.drain_events()), await broker.fills(), await broker.get_order("c1")

    (orders, fills), truth, order = trio.run(scenario)

    assert fills == []
    assert orders[-1].status is OrderStatus.FILLED
    assert [f.fill_id for f in truth] == ["c1-1"]
    assert order.filled_qty == D(1)


def test_a_duplicated_event_is_reported_twice():
    async def scenario():
        broker = sim()
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("c1", Side.BUY, "1"))
        broker.faults.duplicate_next_event()
        await broker.on_candle(flat(1, 100))
        return list(await broker.drain_events())

    events = trio.run(scenario)

    assert isinstance(events[0], Fill)
    assert events[0] == events[1]
    assert len(events) == 3


async def _two_fills(broker):
    await broker.on_candle(flat(0, 100))
    await broker.place_order(intent("c1", Side.BUY, "1"))
    await broker.place_order(intent("c2", Side.BUY, "1"))
    await broker.on_candle(flat(1, 100))


def test_events_can_be_delivered_out_of_order():
    async def scenario():
        calm, shuffled = sim(), sim(faults=SimFaults(seed=3))
        await _two_fills(calm)
        await _two_fills(shuffled)
        shuffled.faults.reorder_next_drain()
        return list(await calm.drain_events()), list(await shuffled.drain_events())

    natural, delivered = trio.run(scenario)

    assert delivered != natural
    assert sorted(map(repr, delivered)) == sorted(map(repr, natural))


def test_a_desynced_balance_moves_silently():
    async def scenario():
        broker = sim(cash="1000")
        broker.faults.desync_balance("USD", D("-25"))
        return await broker.balances(), list(await broker.drain_events())

    balances, events = trio.run(scenario)

    assert [(b.currency, b.total) for b in balances] == [("USD", D(975))]
    assert events == []


def _chaos_run(seed: int) -> tuple[list[str], list[object]]:
    async def scenario():
        faults = SimFaults(
            seed=seed, reject_rate=0.2, timeout_rate=0.2, drop_fill_rate=0.3, duplicate_rate=0.3
        )
        broker = sim(faults=faults, max_volume_share=D("0.5"))
        seen: list[object] = []
        for i in range(30):
            await broker.on_candle(flat(i, 100 + i % 5, volume=4))
            try:
                await broker.place_order(intent(f"c{i}", Side.BUY if i % 2 else Side.SELL, "1"))
            except (BrokerRejected, OrderOutcomeUnknown) as e:
                seen.append(type(e).__name__)
            seen.extend(await broker.drain_events())
        return broker.faults.injected, seen

    return trio.run(scenario)


def test_random_faults_repeat_exactly_for_the_same_seed():
    assert _chaos_run(7) == _chaos_run(7)
    assert _chaos_run(7)[0] != _chaos_run(8)[0]


def _real_run() -> tuple[list[Fill], list[Order]]:
    candles = read_candles(FUTURES / "XRPUSDT_1h.csv", "XRPUSDT")

    async def scenario():
        costs = FillCosts(taker_fee=D("0.00055"), maker_fee=D("0.0002"), volatility_slippage=D("0.1"))
        broker = sim(
            asset=Asset.FUTURES,
            margin=True,
            instruments=fine_rules,
            costs=costs,
            max_volume_share=D("0.0001"),
        )
        for i, candle in enumerate(candles):
            await broker.on_candle(candle)
            side = Side.BUY if i % 3 else Side.SELL
            price = D(str(candle.close)).quantize(D("0.0001"))
            kw = (
                {"order_type": OrderType.LIMIT, "price": price}
                if i % 2
                else {"time_in_force": TimeInForce.IOC}
            )
            await broker.place_order(intent(f"o{i}", side, "500", "XRPUSDT", asset=Asset.FUTURES, **kw))
        return list(await broker.fills()), list(await broker.open_orders())

    return trio.run(scenario)


def test_the_same_inputs_give_identical_fills():
    first, second = _real_run(), _real_run()

    assert first == second
    assert len(first[0]) > 50
    assert any(f.fill_id.endswith("-2") for f in first[0])  # volume-limited partial fills happened
