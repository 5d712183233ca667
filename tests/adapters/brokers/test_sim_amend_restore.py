"""Amended orders across a restart: a venue rebuilt from its journal (orders, fills, intents) queues and
fills exactly like the one that was never interrupted; and amendments are deterministic."""

import contextlib
from datetime import timedelta
from decimal import Decimal as D

import pytest
import trio

from app.adapters.brokers.sim import SimBroker
from app.domain.values import Asset, Fill, Order, OrderIntent, OrderType, Side
from app.ports.errors import BrokerRejected
from tests.adapters.brokers.sim_kit import T0, bar, flat, intent, sim

LIMIT, STOP, STOP_LIMIT = OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT
SYMBOL = "BTCUSDT"


def _limit(cid: str, side: Side, qty: str, price: str, **kw: object) -> OrderIntent:
    return intent(cid, side, qty, order_type=LIMIT, price=price, **kw)


class Journal:
    """What the journal keeps of one venue: intents, the last state of every order, every fill once."""

    def __init__(self) -> None:
        self.intents: dict[str, OrderIntent] = {}
        self.orders: dict[str, Order] = {}
        self.fills: dict[str, Fill] = {}

    async def place(self, broker: SimBroker, order: OrderIntent) -> None:
        self.intents[order.client_order_id] = order
        with contextlib.suppress(BrokerRejected):
            self.orders[order.client_order_id] = await broker.place_order(order)

    async def amend(self, broker: SimBroker, cid: str, **terms: D) -> None:
        with contextlib.suppress(BrokerRejected):
            self.orders[cid] = await broker.amend_order(SYMBOL, cid, **terms)

    async def absorb(self, broker: SimBroker) -> None:
        for event in await broker.drain_events():
            if isinstance(event, Order):
                self.orders[event.client_order_id] = event
            elif isinstance(event, Fill):
                self.fills.setdefault(event.fill_id, event)

    def restore(self, broker: SimBroker) -> tuple[SimBroker, "Journal"]:
        """``broker`` (fresh) rebuilt from this journal, and a copy of the journal to go on with it."""
        broker.restore(list(self.orders.values()), list(self.fills.values()), [], intents=self.intents.get)
        twin = Journal()
        twin.intents, twin.orders, twin.fills = dict(self.intents), dict(self.orders), dict(self.fills)
        return broker, twin


def _crash_and_compare(make, before, after, act):
    """Run ``act`` after each bar of ``before`` on one venue, rebuild a fresh one from its journal, then run
    both over ``after`` (acting alike); returns (uninterrupted, restored) as (fills, orders, open orders)."""

    async def scenario():
        original, journal = make(), Journal()
        for i, candle in enumerate(before):
            await original.on_candle(candle)
            await act(original, journal, i)
            await journal.absorb(original)
        restored, twin = journal.restore(make())
        for candle in before:
            restored.observe(candle)
        for i, candle in enumerate(after, start=len(before)):
            for broker, book in ((original, journal), (restored, twin)):
                await broker.on_candle(candle)
                await act(broker, book, i)
                await book.absorb(broker)
        cids = sorted(journal.orders)
        return [
            (list(await b.fills()), [await b.get_order(c) for c in cids], list(await b.open_orders()))
            for b in (original, restored)
        ]

    return trio.run(scenario)


def test_an_amended_stop_limit_fills_on_its_amended_terms_after_a_restart():
    async def act(broker, journal, i):
        if i == 0:
            order = intent("c1", Side.BUY, "2", order_type=STOP_LIMIT, stop_price="105", price="106")
            await journal.place(broker, order)
        if i == 1:  # at T0+2m, effective T0+2m30: applied on the bar opening at T0+3m, before the restart
            await journal.amend(broker, "c1", stop_price=D(102), price=D(103), qty=D(1))

    before = [flat(0, 100), flat(1, 100), flat(2, 100), flat(3, 100)]
    after = [bar(4, 100, 103, 99, 102), flat(5, 100)]
    uninterrupted, restored = _crash_and_compare(
        lambda: sim(latency=timedelta(seconds=30)), before, after, act
    )

    fills, orders, _ = uninterrupted
    assert [(f.qty, f.price) for f in fills] == [(D(1), D(102))]  # the amended trigger, limit and size
    assert "amended at 2024-01-01T00:02:30+00:00, stop 102" in orders[0].reason
    assert restored == uninterrupted


def test_an_amendment_pending_at_the_restart_still_takes_effect_on_time():
    async def act(broker, journal, i):
        if i == 0:
            await journal.place(broker, _limit("c1", Side.BUY, "1", "97"))
        if i == 1:
            await journal.amend(broker, "c1", price=D(99))  # at T0+2m, effective T0+3m

    before = [flat(0, 100), flat(1, 100)]
    after = [bar(2, 100, 100, 98.5, 99), bar(3, 100, 100, 98.5, 99)]
    uninterrupted, restored = _crash_and_compare(
        lambda: sim(latency=timedelta(minutes=1)), before, after, act
    )

    assert [(f.price, f.ts) for f in uninterrupted[0]] == [(D(99), T0 + timedelta(minutes=4))]
    assert restored == uninterrupted


def test_a_re_queued_order_keeps_its_place_in_the_queue_after_a_restart():
    async def act(broker, journal, i):
        if i == 0:
            await journal.place(broker, _limit("first", Side.BUY, "5", "99"))
            await journal.place(broker, _limit("second", Side.BUY, "5", "99"))
            await journal.amend(broker, "first", price=D("99.5"))
            await journal.place(broker, _limit("third", Side.BUY, "5", "99"))  # same instant: before "first"

    make = lambda: sim(max_volume_share=D("0.1"))  # noqa: E731
    before = [flat(0, 100), flat(1, 100)]
    after = [bar(2, 100, 100, 98, 99, volume=100), bar(3, 100, 100, 98, 99, volume=50)]
    uninterrupted, restored = _crash_and_compare(make, before, after, act)

    assert [(f.client_order_id, f.qty) for f in uninterrupted[0]] == [
        ("second", D(5)),
        ("third", D(5)),
        ("first", D(5)),
    ]
    assert restored == uninterrupted


_PRICES = [100 + ((i * 7) % 11) - 5 for i in range(40)]
_BARS = [bar(i, p, p + 2.5, p - 2.5, p + 0.5, volume=80) for i, p in enumerate(_PRICES)]
_FUT = {"asset": Asset.FUTURES}


def _busy_account() -> SimBroker:
    return sim(asset=Asset.FUTURES, margin=True, latency=timedelta(seconds=40), max_volume_share=D("0.05"))


async def _busy_trader(broker: SimBroker, journal: Journal, i: int) -> None:
    """After every bar: a new order of some kind, and an amendment of the one placed two bars earlier."""
    price, cid = D(_PRICES[i]), f"o{i}"
    kinds = [
        _limit(cid, Side.BUY, "3", str(price - 1), **_FUT),
        _limit(cid, Side.SELL, "2", str(price + 1), **_FUT),
        intent(cid, Side.BUY, "2", order_type=STOP_LIMIT, stop_price=price + 6, price=price + 7, **_FUT),
        intent(cid, Side.SELL, "1", order_type=STOP, stop_price=price - 4, **_FUT),
        intent(cid, Side.BUY, "4", **_FUT),
    ]
    await journal.place(broker, kinds[i % len(kinds)])
    changes = [
        {"price": price - 2},
        {"qty": D(1)},
        {"stop_price": price + 5, "price": price + 6},
        {"stop_price": price - 6},
        {"qty": D(6)},
    ]
    target = f"o{i - 2}"
    if target in journal.orders:
        await journal.amend(broker, target, **changes[(i - 2) % len(changes)])


@pytest.mark.parametrize("cut", [5, 12, 16, 22, 27, 33])
def test_a_busy_account_with_amendments_restores_like_the_uninterrupted_one(cut):
    """Latency and a volume share, so fills, time priority and pending amendments all matter."""
    uninterrupted, restored = _crash_and_compare(_busy_account, _BARS[:cut], _BARS[cut:], _busy_trader)

    assert len(uninterrupted[0]) > 10
    assert restored == uninterrupted


def test_amendments_are_deterministic():
    async def run() -> list[object]:
        broker, journal, events = _busy_account(), Journal(), []
        for i, candle in enumerate(_BARS):
            await broker.on_candle(candle)
            await _busy_trader(broker, journal, i)
            events += await broker.drain_events()
        return events

    first, second = trio.run(run), trio.run(run)

    assert first == second
    assert any(isinstance(e, Order) and e.reason.startswith("amended at") for e in first)
