"""restore(): a fresh SimBroker rebuilt from the journal (orders, fills, positions, intents) continues
exactly like the account that was never interrupted."""

from datetime import timedelta
from decimal import Decimal as D

import attrs
import pytest
import trio

from app.adapters.brokers.sim import SimBroker, load_funding_rates
from app.domain.fills import FillCosts
from app.domain.values import (
    Asset,
    Fill,
    FundingPayment,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from app.ports.errors import BrokerRejected
from tests.adapters.brokers.sim_kit import FUTURES, T0, bar, fine_rules, flat, intent, read_candles, sim

FUT = Asset.FUTURES


class Journal:
    """What order_router and pnl_reconciler keep: intents, every order state seen, every fill and funding
    payment once."""

    def __init__(self) -> None:
        self.intents: dict[str, OrderIntent] = {}
        self.orders: dict[str, Order] = {}
        self.fills: dict[str, Fill] = {}
        self.funding: dict[str, FundingPayment] = {}

    async def place(self, broker: SimBroker, order: OrderIntent, **bracket: object) -> None:
        self.intents[order.client_order_id] = order
        try:
            if bracket:
                acks = await broker.place_bracket(order, **bracket)  # type: ignore[arg-type]
            else:
                acks = (await broker.place_order(order),)
        except BrokerRejected:
            return
        for ack in acks:
            self.orders[ack.client_order_id] = ack

    def copy(self) -> "Journal":
        twin = Journal()
        twin.intents, twin.orders, twin.fills = dict(self.intents), dict(self.orders), dict(self.fills)
        twin.funding = dict(self.funding)
        return twin

    async def absorb(self, broker: SimBroker) -> None:
        for event in await broker.drain_events():
            if isinstance(event, Order):
                self.orders[event.client_order_id] = event
            elif isinstance(event, Fill):
                self.fills.setdefault(event.fill_id, event)
            else:
                self.funding.setdefault(event.funding_id, event)


def _price(value: float, factor: str) -> D:
    return (D(str(value)) * D(factor)).quantize(D("0.0001"))


def _order_of_the_bar(i: int, close: float) -> OrderIntent:
    cid, base = f"o{i:03d}", {"symbol": "XRPUSDT", "asset": FUT}
    limit, stop, stop_limit = OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT
    kinds = [
        lambda: intent(cid, Side.BUY, "2000", **base),
        lambda: intent(
            cid, Side.SELL, "3000", **base, order_type=limit, price=_price(close, "1.004"),
            time_in_force=TimeInForce.POST_ONLY,
        ),
        lambda: intent(cid, Side.BUY, "1000", **base, order_type=stop, stop_price=_price(close, "1.005")),
        lambda: intent(
            cid, Side.SELL, "1000", **base, order_type=stop_limit, stop_price=_price(close, "0.995"),
            price=_price(close, "0.993"),
        ),
        lambda: intent(
            cid, Side.BUY, "1500", **base, order_type=limit, price=_price(close, "1"),
            time_in_force=TimeInForce.IOC,
        ),
        lambda: intent(cid, Side.SELL, "1000", **base, reduce_only=True),
    ]  # fmt: skip
    return kinds[i % 6]()


async def _act(broker: SimBroker, journal: Journal, i: int, close: float) -> None:
    """A busy trader: every order kind, time in force, brackets, trading stops and cancels."""
    if i % 7 == 6:
        entry = intent(f"o{i:03d}", Side.BUY, "1000", "XRPUSDT", asset=FUT)
        await journal.place(broker, entry, stop_loss=_price(close, "0.99"), take_profit=_price(close, "1.01"))
    else:
        await journal.place(broker, _order_of_the_bar(i, close))
    earlier = f"o{i - 3:03d}"
    if i % 5 == 0 and earlier in journal.orders:
        journal.orders[earlier] = await broker.cancel_order("XRPUSDT", earlier)
    if i % 11 == 0 and await broker.positions():
        await broker.set_trading_stop("XRPUSDT", _price(close, "0.98"), _price(close, "1.03"))
    await journal.absorb(broker)


def _busy_futures_account() -> SimBroker:
    return sim(
        cash="20000",
        asset=FUT,
        margin=True,
        instruments=fine_rules,
        costs=FillCosts(taker_fee=D("0.00055"), maker_fee=D("0.0002"), slippage_bps=D(1)),
        max_volume_share=D("0.0005"),
        latency=timedelta(minutes=90),
        leverage=D(3),
        funding_rates={"XRPUSDT": load_funding_rates(FUTURES / "XRPUSDT_8h_funding.csv")},
        trigger_by="mark",
    )


async def _state(broker: SimBroker, cids: list[str]) -> dict[str, object]:
    return {
        "fills": list(await broker.fills()),
        "orders": [await broker.get_order(cid) for cid in cids],
        "open": list(await broker.open_orders()),
        "positions": list(await broker.positions()),
        "balances": list(await broker.balances()),
        "account": await broker.account(),
        "funding": broker.funding_payments(),
    }


@pytest.mark.parametrize("cut", range(3, 100, 8))
def test_an_account_restored_from_its_journal_continues_like_the_uninterrupted_one(cut):
    candles = read_candles(FUTURES / "XRPUSDT_1h.csv", "XRPUSDT")
    marks = {m.ts: m for m in read_candles(FUTURES / "XRPUSDT_1h_mark.csv", "XRPUSDT")}

    async def scenario():
        original, journal = _busy_futures_account(), Journal()
        for i, candle in enumerate(candles[:cut]):
            if candle.ts in marks:
                original.on_mark_candle(marks[candle.ts])
            await original.on_candle(candle)
            await _act(original, journal, i, candle.close)
        restored = _busy_futures_account()
        restored.restore(
            list(journal.orders.values()),
            list(journal.fills.values()),
            list(await original.positions()),
            intents=journal.intents.get,
        )
        for candle in candles[:cut]:  # the runtime's warm-up
            if candle.ts in marks:
                restored.on_mark_candle(marks[candle.ts])
            restored.observe(candle)
        twin = journal.copy()
        for i, candle in enumerate(candles[cut:], start=cut):
            for broker, book in ((original, journal), (restored, twin)):
                if candle.ts in marks:
                    broker.on_mark_candle(marks[candle.ts])
                await broker.on_candle(candle)
                await _act(broker, book, i, candle.close)
        cids = list(journal.orders)
        journals = list(journal.funding.values()), list(twin.funding.values())
        return await _state(original, cids), await _state(restored, cids), journals

    uninterrupted, resumed, (journaled, journaled_twin) = trio.run(scenario)

    assert resumed == uninterrupted
    # Every payment was reported, once per funding time in either journal (the restored account reports the
    # times it re-charged while observing again, with the same ids).
    assert journaled == journaled_twin == uninterrupted["funding"]
    kinds = {
        f.client_order_id.split("-")[1]
        for f in uninterrupted["fills"]
        if f.client_order_id.startswith("sim-")
    }
    assert len(uninterrupted["fills"]) > 100
    assert uninterrupted["funding"]
    assert kinds  # server-side exits happened


# --- focused cases -------------------------------------------------------------------------------------


def _restore(orders, fills, positions=(), intents=None) -> SimBroker:
    broker = sim()
    broker.restore(orders, fills, list(positions), intents=intents)
    return broker


def test_a_part_filled_order_resumes_with_its_remainder():
    async def scenario():
        original = sim(max_volume_share=D("0.1"))
        await original.on_candle(flat(0, 100))
        await original.place_order(intent("c1", Side.BUY, "5"))
        await original.on_candle(flat(1, 100, volume=20))
        restored = sim(max_volume_share=D("0.1"))
        restored.restore([await original.get_order("c1")], list(await original.fills()), [])
        restored.observe(flat(1, 100))
        await restored.on_candle(flat(2, 101, volume=20))
        return await restored.fills(), await restored.get_order("c1")

    fills, order = trio.run(scenario)

    assert [(f.fill_id, f.qty) for f in fills] == [("c1-1", D(2)), ("c1-2", D(2))]
    assert (order.status, order.filled_qty) == (OrderStatus.PARTIALLY_FILLED, D(4))


def test_an_order_whose_last_update_was_lost_resumes_from_its_fills():
    async def scenario():
        original = sim(max_volume_share=D("0.1"))
        await original.on_candle(flat(0, 100))
        ack = await original.place_order(intent("c1", Side.BUY, "5"))
        await original.on_candle(flat(1, 100, volume=20))
        restored = sim(max_volume_share=D("0.1"))
        restored.restore([ack], list(await original.fills()), [])  # the journal still says "accepted"
        return await restored.get_order("c1")

    order = trio.run(scenario)

    assert (order.status, order.filled_qty, order.avg_price) == (OrderStatus.PARTIALLY_FILLED, D(2), D(100))


def test_an_intent_the_venue_never_answered_is_placed_on_restore():
    new = Order("c1", "s1", Asset.SPOT, "BTCUSDT", Side.BUY, D(1), OrderType.MARKET, OrderStatus.NEW, T0, T0)

    async def scenario():
        broker = _restore([new], [])
        await broker.on_candle(flat(1, 100))
        return await broker.get_order("c1")

    order = trio.run(scenario)

    assert (order.status, order.broker_order_id) == (OrderStatus.FILLED, "sim-00000001")


def test_a_pending_cancel_survives_the_restart():
    async def scenario():
        original = sim(latency=timedelta(seconds=30))
        await original.on_candle(flat(0, 100))
        await original.place_order(intent("c1", Side.BUY, "1", order_type=OrderType.LIMIT, price="99"))
        await original.on_candle(flat(1, 100))
        pending = await original.cancel_order("BTCUSDT", "c1")  # at T0+2m: effective T0+2m30
        restored = sim(latency=timedelta(seconds=30))
        restored.restore([pending], [], [])
        await restored.on_candle(flat(2, 100))  # opens T0+2m: still working
        working = await restored.get_order("c1")
        await restored.on_candle(bar(3, 100, 100, 98, 99))  # reaches the limit after the cancel took effect
        return working, await restored.get_order("c1")

    working, final = trio.run(scenario)

    assert working.status is OrderStatus.ACCEPTED
    assert final.status is OrderStatus.CANCELLED


def test_a_stop_limit_needs_its_intent_to_come_back():
    stop_limit = intent("c1", Side.BUY, "1", order_type=OrderType.STOP_LIMIT, stop_price="102", price="103")

    async def scenario():
        original = sim()
        await original.on_candle(flat(0, 100))
        ack = await original.place_order(stop_limit)
        blind = _restore([ack], [])
        informed = _restore([ack], [], intents={"c1": stop_limit}.get)
        await informed.on_candle(bar(1, 100, 103, 99, 102))
        return await blind.get_order("c1"), await informed.get_order("c1")

    blind, informed = trio.run(scenario)

    assert blind.status is OrderStatus.CANCELLED
    assert "trigger is unknown" in blind.reason
    assert (informed.status, informed.avg_price) == (OrderStatus.FILLED, D(102))


def test_restored_positions_get_the_journaled_protection():
    async def scenario():
        original = sim()
        await original.on_candle(flat(0, 100))
        ack = await original.place_order(intent("c1", Side.BUY, "1"))
        await original.on_candle(flat(1, 100))
        journaled = attrs.evolve((await original.positions())[0], stop_loss=D(95))
        restored = sim()
        restored.restore(
            [attrs.evolve(ack, status=OrderStatus.FILLED)], list(await original.fills()), [journaled]
        )
        await restored.on_candle(bar(2, 100, 100, 94, 96))
        return await restored.positions()

    assert trio.run(scenario) == []


def test_restore_refuses_an_account_that_already_traded():
    async def scenario():
        broker = sim()
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("c1", Side.BUY, "1"))
        broker.restore([], [], [])

    with pytest.raises(RuntimeError, match="fresh"):
        trio.run(scenario)
