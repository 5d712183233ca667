"""pnl_reconciler books each funding payment into the journal's position it was settled on, in the payment's
transaction, so the trade that closes the position carries it (``ClosedTrade.funding``, inside ``pnl``) as the
backtester's trades do: split pro rata on a partial close, booked into the budget once, rebuilt alike by
``app status --rebuild``, and still on the right position when a batch comes shuffled or a fill event was
dropped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import attrs
import trio

from app.adapters.brokers.sim import SimBroker
from app.domain.budget import Bucket, Budget
from app.domain.values import Asset, ClosedTrade, Fill, FundingPayment, Side
from app.ports.broker import BrokerEvent
from app.services.budget_manager import BudgetManager
from app.services.market_clock import MarketClock
from app.services.pnl_reconciler import PnlReconciler, in_time_order
from app.services.reports import rebuild_report
from app.services.sl_tp_manager import SlTpManager
from tests.adapters.brokers.sim_kit import T0, flat, intent, sim
from tests.fakes.memory_storage import MemoryStorage

FUT = Asset.FUTURES


def reconciler_for(broker: Any, storage: MemoryStorage, budget: BudgetManager | None = None) -> PnlReconciler:
    brokers = {FUT: broker}
    return PnlReconciler(
        brokers=brokers,
        storage=storage,
        clock=MarketClock(T0),
        sl_tp=SlTpManager(brokers=brokers, storage=storage),
        budget=budget,
    )


def venue() -> SimBroker:
    return sim(asset=FUT, margin=True, taker="0.001")


def minute(m: int, seconds: int = 0) -> Any:
    return T0 + timedelta(minutes=m, seconds=seconds)


async def place(broker: Any, storage: MemoryStorage, cid: str, side: Side, qty: str) -> None:
    """As order_router does: the intent is journaled, then placed."""
    wanted = intent(cid, side, qty, asset=FUT, reduce_only=cid != "a")
    storage.record_intent(wanted)
    await broker.place_order(wanted)


def test_funding_follows_the_position_into_the_trades_that_close_it_pro_rata():
    storage = MemoryStorage()
    budget = BudgetManager(Budget((Bucket(FUT, D(1000)),)), storage=storage, clock=MarketClock(T0))
    broker = venue()
    reconciler = reconciler_for(broker, storage, budget)

    async def scenario() -> tuple[list[ClosedTrade], D, D]:
        closed: list[ClosedTrade] = []
        await broker.on_candle(flat(0, 100))
        await place(broker, storage, "a", Side.BUY, "10")
        await broker.on_candle(flat(1, 100))
        closed += await reconciler.process_events()
        broker.on_funding("BTCUSDT", minute(1, 30), D("0.001"))  # pays 10 x 100 x 0.001 = 1
        closed += await reconciler.process_events()
        await place(broker, storage, "b", Side.SELL, "4")
        await broker.on_candle(flat(2, 110))
        closed += await reconciler.process_events()
        held = storage.positions()[0].funding
        broker.on_funding("BTCUSDT", minute(2, 30), D("-0.002"))  # receives 6 x 110 x 0.002 = 1.32
        closed += await reconciler.process_events()
        await place(broker, storage, "c", Side.SELL, "6")
        await broker.on_candle(flat(3, 120))
        closed += await reconciler.process_events()
        return closed, held, (await broker.account()).cash

    closed, held_after_partial, cash = trio.run(scenario)

    partial, rest = storage.trades()
    assert closed == [partial, rest]
    # 4 of 10 closed: 0.4 of the 1.0 paid; fees 0.4 of the 1.0 entry fee + 0.44 exit; 4 x 10 gross.
    assert (partial.qty, partial.funding, partial.fees) == (D(4), D("-0.4"), D("0.84"))
    assert partial.pnl == 40 - D("0.84") - D("0.4")
    assert held_after_partial == D("-0.6")
    # The 6 left: -0.6 of the first payment and the 1.32 received; fees 0.6 + 0.72; 6 x 20 gross.
    assert (rest.qty, rest.funding, rest.fees) == (D(6), D("0.72"), D("1.32"))
    assert rest.pnl == 120 - D("1.32") + D("0.72")
    assert storage.positions() == []
    # Booked once: the budget and the venue's cash moved by the trades' pnl, funding included, no more.
    assert budget.budget.bucket(FUT).realized_pnl == partial.pnl + rest.pnl
    assert cash == D(100_000) + partial.pnl + rest.pnl
    rebuilt = rebuild_report(storage)
    assert rebuilt["consistent"], rebuilt["problems"]
    assert rebuilt["funding"] == 2


def test_the_rebuild_tells_a_position_whose_funding_differs_from_its_payments():
    storage = MemoryStorage()
    broker = venue()
    reconciler = reconciler_for(broker, storage)

    async def scenario() -> None:
        await broker.on_candle(flat(0, 100))
        await place(broker, storage, "a", Side.BUY, "10")
        await broker.on_candle(flat(1, 100))
        broker.on_funding("BTCUSDT", minute(1, 30), D("0.001"))
        await reconciler.process_events()

    trio.run(scenario)
    [held] = storage.positions()
    storage.save_position(attrs.evolve(held, funding=2 * held.funding))  # the payment counted twice

    rebuilt = rebuild_report(storage)

    assert held.funding == D("-1.0000000000000000")
    assert not rebuilt["consistent"]
    assert rebuilt["problems"] == [
        "position futures BTCUSDT: rebuilt qty 10 at 100.00, funding -1.0000000000000000 vs stored qty 10 at 100.00, "
        "funding -2.0000000000000000"
    ]


class Reversed:
    """The venue's events of each batch delivered back to front (the worst shuffle of a reorder fault)."""

    def __init__(self, broker: SimBroker) -> None:
        self._broker = broker

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)

    async def drain_events(self) -> Sequence[BrokerEvent]:
        return list(reversed(await self._broker.drain_events()))


def round_trip_with_funding_between(broker: Any, storage: MemoryStorage) -> Any:
    async def trade() -> None:
        await broker.on_candle(flat(0, 100))
        await place(broker, storage, "a", Side.BUY, "10")
        await broker.on_candle(flat(1, 100))
        broker.on_funding("BTCUSDT", minute(1, 30), D("0.001"))
        await place(broker, storage, "b", Side.SELL, "10")
        await broker.on_candle(flat(2, 105))

    return trade


def test_a_shuffled_batch_books_its_payment_into_the_position_held_at_its_time():
    storage = MemoryStorage()
    inner = venue()
    broker = Reversed(inner)
    reconciler = reconciler_for(broker, storage)

    async def scenario() -> list[ClosedTrade]:
        await round_trip_with_funding_between(inner, storage)()
        return await reconciler.process_events()  # one batch: entry, payment, exit, back to front

    [trade] = trio.run(scenario)

    assert (trade.side, trade.qty, trade.funding) == (Side.BUY, D(10), D("-1.0000000000000000"))
    assert trade.pnl == 50 - D("2.05") - 1
    assert storage.trades() == [trade]
    assert storage.positions() == []
    rebuilt = rebuild_report(storage)
    assert rebuilt["consistent"], rebuilt["problems"]


def test_a_payment_on_a_position_whose_fill_event_was_dropped_waits_for_that_fill():
    storage = MemoryStorage()
    broker = venue()
    reconciler = reconciler_for(broker, storage)

    async def scenario() -> tuple[int, list[ClosedTrade]]:
        await broker.on_candle(flat(0, 100))
        await place(broker, storage, "a", Side.BUY, "10")
        broker.faults.drop_next_fill()
        await broker.on_candle(flat(1, 100))
        await reconciler.process_events()
        journaled_before = len(storage.fills())
        broker.on_funding("BTCUSDT", minute(1, 30), D("0.001"))  # settled on the 10 the journal lacks
        closed = await reconciler.process_events()
        await place(broker, storage, "b", Side.SELL, "10")
        await broker.on_candle(flat(2, 105))
        return journaled_before, closed + await reconciler.process_events()

    journaled_before, closed = trio.run(scenario)

    assert [fault.split()[0] for fault in broker.faults.injected] == ["drop"]
    assert journaled_before == 0
    [trade] = closed
    assert trade.funding == D("-1.0000000000000000")
    assert [f.client_order_id for f in storage.fills()] == ["a", "b"]
    rebuilt = rebuild_report(storage)
    assert rebuilt["consistent"], rebuilt["problems"]


def fill_at(m: int, fid: str, symbol: str = "BTCUSDT") -> Fill:
    return Fill(fid, fid, FUT, symbol, Side.BUY, D(1), D(100), D(0), "USDT", minute(m))


def payment_at(m: int, symbol: str = "BTCUSDT") -> FundingPayment:
    return FundingPayment(FUT, symbol, minute(m), D("0.001"), D(100), D(1), D("0.1"), "USDT")


def test_time_order_puts_a_payment_after_the_fills_at_its_time_and_before_later_ones():
    early, at, later = fill_at(1, "f1"), fill_at(2, "f2"), fill_at(3, "f3")
    payment, elsewhere = payment_at(2), payment_at(0, "ETHUSDT")
    unsettled = [fill_at(5, "s5", "SOLUSDT"), fill_at(4, "s4", "SOLUSDT")]

    ordered = in_time_order([later, unsettled[0], payment, elsewhere, at, unsettled[1], early])

    # Each symbol's events take that symbol's places in time order: BTCUSDT's, and SOLUSDT's fills though no
    # payment settles them; ETHUSDT's lone payment keeps its place.
    assert ordered == [early, unsettled[1], at, elsewhere, payment, unsettled[0], later]
