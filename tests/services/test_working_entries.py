"""Entries still working at the broker count against the limits as the positions they would be once filled:
a market entry on the paper venue fills at the next bar, so entries on other symbols at the same time must not
each see the whole budget and exposure."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal as D

import trio

from app.domain.values import Asset, Candle, OrderStatus, Side, SlTpAnchor
from app.services.order_requests import OrderRequest
from tests.services.test_order_pipeline import T0, Rig, entry


def anchored(qty: str, symbol: str, strategy: str = "s1") -> OrderRequest:
    """An entry as a strategy makes it: its stop computed from the bar's close, 100."""
    return OrderRequest(
        strategy_id=strategy,
        asset=Asset.SPOT,
        symbol=symbol,
        side=Side.BUY,
        qty=D(qty),
        price=D(100),
        stop_loss=D(99),
        anchor=SlTpAnchor(D(100)),
    )


async def prices(rig: Rig, *symbols: str, at: int = -1) -> None:
    for symbol in symbols:
        opened = T0 + timedelta(minutes=at)
        await rig.broker.on_candle(Candle(symbol, "1m", opened, 100, 100, 100, 100, 1e9))
    rig.clock.advance_to(T0 + timedelta(minutes=at + 1))


def test_an_entry_still_working_uses_budget_the_next_entry_cannot_spend():
    rig = Rig()
    rig.registry.create("s2", Asset.SPOT, reason="test")

    async def go():
        await prices(rig, "AAAUSDT", "BBBUSDT")
        first = await rig.router.place_order(entry("6", stop="99", symbol="AAAUSDT"))
        second = await rig.router.place_order(entry("6", stop="99", strategy="s2", symbol="BBBUSDT"))
        return first, second

    first, second = trio.run(go)

    # The bucket and the wallet hold 1,000: the first entry (600, not filled before the next bar) leaves 400.
    assert first.accepted
    assert first.order.qty == D(6)
    assert second.accepted
    assert (first.order.qty + second.order.qty) * 100 <= D(1000)
    assert second.order.qty < D(6)


def test_a_working_entry_is_in_the_context_as_its_position_with_its_cash_spent():
    rig = Rig()

    async def go():
        await prices(rig, "AAAUSDT", "BBBUSDT")
        placed = await rig.router.place_order(entry("3", stop="97", symbol="AAAUSDT"))
        return placed, await rig.router.context(Asset.SPOT, "BBBUSDT")

    placed, context = trio.run(go)

    (position,) = context.positions
    assert (position.symbol, position.qty, position.avg_price) == ("AAAUSDT", D(3), D(100))
    assert (position.strategy_id, position.stop_loss) == ("s1", D(97))
    assert position.opened_at == placed.order.created_at
    assert context.cash == D(1000) - D(300)
    assert context.unrealized == 0  # the entry's cost is taken off the cash: no loss appears


def test_a_filled_entry_counts_once_as_the_brokers_position():
    rig = Rig()

    async def go():
        await prices(rig, "AAAUSDT")
        placed = await rig.router.place_order(entry("3", stop="97", symbol="AAAUSDT"))
        await prices(rig, "AAAUSDT", at=0)  # the next bar fills it
        filled = await rig.broker.get_order(placed.order.client_order_id)
        return filled, await rig.router.context(Asset.SPOT, "AAAUSDT")

    filled, context = trio.run(go)

    assert filled is not None
    assert filled.status is OrderStatus.FILLED
    (position,) = context.positions
    assert position.qty == D(3)
    assert context.cash < D(1000) - D(299)  # the wallet's cash after paying 300 and the fee, spent once


def test_exits_working_at_the_broker_are_not_counted():
    rig = Rig()

    async def go():
        await prices(rig, "AAAUSDT")
        await rig.router.place_order(entry("3", stop="97", symbol="AAAUSDT"))
        await prices(rig, "AAAUSDT", at=0)
        exit_ = OrderRequest("s1", Asset.SPOT, "AAAUSDT", Side.SELL, D(3), D(100), reduce_only=True)
        await rig.router.place_order(exit_)
        return await rig.broker.open_orders(), await rig.router.context(Asset.SPOT, "AAAUSDT")

    working, context = trio.run(go)

    assert [o.reduce_only for o in working] == [True]
    assert [p.qty for p in context.positions] == [D(3)]  # the position, not the exit on its way


def test_after_a_restart_a_working_entry_is_counted_from_its_intent(caplog):
    rig = Rig()

    async def go():
        await prices(rig, "AAAUSDT", "BBBUSDT")
        await rig.router.place_order(anchored("4", "AAAUSDT"))
        await rig.router.place_order(entry("2", stop="99", symbol="BBBUSDT"))  # no anchor: price unknown
        before = await rig.router.context(Asset.SPOT, "AAAUSDT")
        restarted = Rig(storage=rig.storage)
        restarted.router._brokers = {Asset.SPOT: rig.broker}  # the same venue, still holding both
        with caplog.at_level(logging.WARNING, logger="app.order_router"):
            after = await restarted.router.context(Asset.SPOT, "AAAUSDT")
        return before, after

    before, after = trio.run(go)

    assert [(p.symbol, p.qty) for p in before.positions] == [("AAAUSDT", D(4)), ("BBBUSDT", D(2))]
    # After the restart the anchored entry is read back at its price and stop; the other is left out, said so.
    (position,) = after.positions
    assert (position.symbol, position.qty, position.avg_price, position.stop_loss) == (
        "AAAUSDT",
        D(4),
        D(100),
        D(99),
    )
    assert "price is unknown" in caplog.text
