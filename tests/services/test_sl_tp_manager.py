"""sl_tp_manager: an entry's stop loss and take profit, computed at the signal's price, are attached at the same
distance (or share) from the entry's fill, rounded to the tick, recorded on the journal's position with the
fill, and re-attached the same after a restart."""

from __future__ import annotations

from decimal import Decimal as D

import attrs
import trio

from app.adapters.brokers.sim import SimBroker
from app.domain.fills import FillCosts
from app.domain.values import Asset, Candle, OrderIntent, Side, SlTpAnchor
from app.ports.errors import BrokerRejected
from app.services.market_clock import MarketClock
from app.services.pnl_reconciler import PnlReconciler
from app.services.sl_tp_manager import SlTpManager
from tests.adapters.brokers.sim_kit import T0, bar, flat, rules, sim
from tests.fakes.memory_storage import MemoryStorage

FUT = Asset.FUTURES


class Desk:
    """A futures sim venue, the journal and the two services that act on fills."""

    def __init__(self, broker: SimBroker | None = None, storage: MemoryStorage | None = None) -> None:
        self.broker = broker or sim(
            asset=FUT, margin=True, costs=FillCosts(taker_fee=D(0), slippage_bps=D(10)), max_volume_share=None
        )
        self.storage = storage or MemoryStorage()
        brokers = {FUT: self.broker}
        self.sl_tp = SlTpManager(brokers=brokers, storage=self.storage)
        self.reconciler = PnlReconciler(
            brokers=brokers, storage=self.storage, clock=MarketClock(T0), sl_tp=self.sl_tp
        )

    async def enter(self, entry: OrderIntent, fill_bar: Candle) -> None:
        self.storage.record_intent(entry)
        await self.broker.place_order(entry)
        await self.broker.on_candle(fill_bar)
        await self.reconciler.process_events()


def entry(
    side: Side = Side.BUY,
    stop: str | None = "95",
    target: str | None = "110",
    anchor: SlTpAnchor | None = None,
    qty: str = "2",
    cid: str = "e1",
) -> OrderIntent:
    return OrderIntent(
        cid, "s1", FUT, "BTCUSDT", side, D(qty), stop_loss=D(stop) if stop else None,
        take_profit=D(target) if target else None, created_at=T0, note="signal", anchor=anchor,
    )  # fmt: skip


def attached(storage: MemoryStorage) -> list[dict]:
    return [dict(fields) for _, _, _, fields in storage.events(kind="sl_tp_attached")]


def test_the_levels_move_from_the_signal_price_to_the_fill_and_are_recorded_where_a_restart_finds_them():
    desk = Desk()
    # Signal at 100: an ATR stop 5 below, a 10% target. The entry fills at the next open, 102 + 10 bps slippage.
    anchor = SlTpAnchor(D(100), stop_loss_relative=False, take_profit_relative=True)

    async def scenario():
        await desk.broker.on_candle(flat(0, 100))
        await desk.enter(entry(anchor=anchor), flat(1, 102))
        return (await desk.broker.positions())[0], desk.reconciler.position(FUT, "BTCUSDT")

    at_broker, journaled = trio.run(scenario)

    fill = D("102.10")  # 102 x 1.001, on the 0.01 tick
    assert desk.storage.fills("e1")[0].price == fill
    assert (at_broker.stop_loss, at_broker.take_profit) == (D("97.10"), D("112.31"))  # 112.31 = 102.10 x 1.1
    assert (journaled.stop_loss, journaled.take_profit) == (at_broker.stop_loss, at_broker.take_profit)
    [event] = attached(desk.storage)
    assert event == {
        "client_order_id": "e1",
        "asset": "futures",
        "symbol": "BTCUSDT",
        "stop_loss": "97.10",
        "take_profit": "112.31",
        "reference_price": "100",
        "fill_price": "102.10",
    }


def test_a_short_keeps_its_levels_on_the_right_sides_of_its_fill():
    desk = Desk()
    anchor = SlTpAnchor(D(100), stop_loss_relative=True, take_profit_relative=False)

    async def scenario():
        await desk.broker.on_candle(flat(0, 100))
        await desk.enter(entry(Side.SELL, stop="102", target="93", anchor=anchor), flat(1, 98))
        return (await desk.broker.positions())[0]

    held = trio.run(scenario)

    fill = D("97.90")  # 98 less 10 bps against the seller
    assert (held.stop_loss, held.take_profit) == ((fill * D("1.02")).quantize(D("0.01")), fill - 7)


def test_an_intent_without_an_anchor_is_attached_as_it_was_stored():
    desk = Desk()

    async def scenario():
        await desk.broker.on_candle(flat(0, 100))
        await desk.enter(entry(), flat(1, 102))
        return (await desk.broker.positions())[0]

    held = trio.run(scenario)

    assert (held.stop_loss, held.take_profit) == (D(95), D(110))
    assert attached(desk.storage)[0]["fill_price"] is None


def test_an_entry_filling_in_parts_is_re_anchored_at_its_average_fill_price():
    broker = sim(asset=FUT, margin=True, max_volume_share=D("0.5"), instruments=lambda s: rules(s, FUT))
    desk = Desk(broker)
    anchor = SlTpAnchor(D(100))

    async def scenario():
        await broker.on_candle(flat(0, 100, volume=2))
        await desk.enter(entry(anchor=anchor), flat(1, 101, volume=2))  # 1 of 2 fills at 101
        first = (await broker.positions())[0]
        await broker.on_candle(flat(2, 104, volume=2))  # the other at 104
        await desk.reconciler.process_events()
        return first, (await broker.positions())[0]

    first, second = trio.run(scenario)

    assert (first.stop_loss, first.take_profit) == (D(96), D(111))
    assert second.avg_price == D("102.5")
    assert (second.stop_loss, second.take_profit) == (D("97.50"), D("112.50"))
    assert [D(e["fill_price"]) for e in attached(desk.storage)] == [D(101), D("102.5")]


def test_after_a_restart_sync_re_attaches_the_same_fill_anchored_levels():
    desk = Desk()
    anchor = SlTpAnchor(D(100), take_profit_relative=True)

    async def scenario():
        await desk.broker.on_candle(flat(0, 100))
        await desk.enter(entry(anchor=anchor), bar(1, 102, 103, 101, 102))
        before = (await desk.broker.positions())[0]
        # The restart: a fresh venue rebuilt from the journal's orders and fills, its protection not given back.
        restored = sim(asset=FUT, margin=True, costs=FillCosts(taker_fee=D(0), slippage_bps=D(10)))
        orders = [o for o in desk.storage.orders() if o.client_order_id == "e1"]
        restored.restore(orders, desk.storage.fills(), [], intents=desk.storage.intent)
        bare = (await restored.positions())[0]
        again = Desk(restored, desk.storage)
        repaired = await again.sl_tp.sync(FUT, {p.symbol: p for p in desk.storage.positions()})
        recomputed = await again.sl_tp.levels(FUT, "BTCUSDT", "e1")
        return before, bare, repaired, (await restored.positions())[0], recomputed

    before, bare, repaired, after, recomputed = trio.run(scenario)

    assert (bare.stop_loss, bare.take_profit) == (None, None)
    assert repaired == ["BTCUSDT"]
    assert (
        (after.stop_loss, after.take_profit)
        == (before.stop_loss, before.take_profit)
        == (D("97.10"), D("112.31"))
    )
    assert recomputed is not None
    assert (recomputed.stop_loss, recomputed.take_profit) == (before.stop_loss, before.take_profit)


class RefusingBroker:
    """A venue that fills but refuses trading stops (a connection drop at the wrong moment)."""

    def __init__(self, inner: SimBroker) -> None:
        self._inner = inner

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    async def set_trading_stop(self, symbol: str, stop_loss: D | None, take_profit: D | None) -> None:
        msg = "trading stop refused"
        raise BrokerRejected(msg, code="down")


def test_levels_the_broker_refused_stay_on_the_journals_position_for_sync_to_repair():
    inner = sim(asset=FUT, margin=True)
    desk = Desk(RefusingBroker(inner))  # type: ignore[arg-type]
    anchor = SlTpAnchor(D(100))

    async def scenario():
        await inner.on_candle(flat(0, 100))
        await desk.enter(entry(anchor=anchor), flat(1, 101))
        return (await inner.positions())[0], desk.reconciler.position(FUT, "BTCUSDT")

    held, journaled = trio.run(scenario)

    assert (held.stop_loss, held.take_profit) == (None, None)
    assert (journaled.stop_loss, journaled.take_profit) == (D(96), D(111))
    assert attached(desk.storage) == []


def test_a_level_the_move_pushes_below_zero_is_left_out():
    desk = Desk()
    anchor = SlTpAnchor(D(100))  # a stop 99 below the signal price; the entry fills 2 lower

    async def scenario():
        await desk.broker.on_candle(flat(0, 100))
        await desk.enter(entry(stop="1", anchor=anchor), flat(1, 98))
        return (await desk.broker.positions())[0]

    held = trio.run(scenario)

    assert held.stop_loss is None
    assert held.take_profit == D("108.10")  # 98.10 + 10


def test_protection_carries_over_when_a_position_shrinks():
    desk = Desk()
    anchor = SlTpAnchor(D(100))

    async def scenario():
        await desk.broker.on_candle(flat(0, 100))
        await desk.enter(entry(anchor=anchor), flat(1, 100))
        part = attrs.evolve(entry(), client_order_id="x1", side=Side.SELL, qty=D(1), reduce_only=True)
        part = attrs.evolve(part, stop_loss=None, take_profit=None, anchor=None)
        await desk.enter(part, flat(2, 100))
        return desk.reconciler.position(FUT, "BTCUSDT")

    left = trio.run(scenario)

    assert left.qty == D(1)
    assert (left.stop_loss, left.take_profit) == (D("95.10"), D("110.10"))
