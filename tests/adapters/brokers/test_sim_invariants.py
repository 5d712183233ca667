"""Invariants of the simulated venue under random orders and bars (hypothesis)."""

import contextlib
from decimal import Decimal as D

import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.values import Asset, OrderType, Side, TimeInForce
from app.ports.errors import BrokerRejected
from tests.adapters.brokers.sim_kit import bar, intent, sim

actions = st.lists(
    st.tuples(
        st.sampled_from(Side),
        st.sampled_from(OrderType),
        st.sampled_from(TimeInForce),
        st.booleans(),  # reduce-only
        st.integers(min_value=1, max_value=5),  # quantity
        st.integers(min_value=-3, max_value=3),  # price offset
        st.integers(min_value=-3, max_value=3),  # bar move
        st.integers(min_value=0, max_value=30),  # bar volume
    ),
    min_size=1,
    max_size=25,
)


def _run(steps):
    async def scenario():
        broker = sim(asset=Asset.FUTURES, margin=True, max_volume_share=D("0.2"))
        price = 100
        await broker.on_candle(bar(0, price, price, price, price))
        for i, (side, kind, tif, reduce_only, qty, offset, move, volume) in enumerate(steps, start=1):
            level = D(price + offset)
            kw = {
                "order_type": kind,
                "time_in_force": tif,
                "reduce_only": reduce_only,
                "asset": Asset.FUTURES,
            }
            if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT):
                kw["price"] = level
            if kind in (OrderType.STOP, OrderType.STOP_LIMIT):
                kw["stop_price"] = level + side.sign
            with contextlib.suppress(BrokerRejected):
                await broker.place_order(intent(f"c{i}", side, str(qty), **kw))
            new = price + move
            await broker.on_candle(bar(i, price, max(price, new) + 1, min(price, new) - 1, new, volume))
            price = new
        orders = [await broker.get_order(f"c{i}") for i in range(1, len(steps) + 1)]
        return list(await broker.fills()), list(await broker.positions()), [o for o in orders if o]

    return trio.run(scenario)


@settings(max_examples=60, deadline=None)
@given(actions)
def test_positions_orders_and_fills_always_agree(steps):
    fills, positions, orders = _run(steps)

    net = D(0)
    reduce_only = {o.client_order_id for o in orders if o.reduce_only}
    for fill in fills:  # in execution order
        before, net = net, net + fill.qty * fill.side.sign
        if fill.client_order_id in reduce_only:
            assert before != 0  # reduce-only never opens ...
            assert net == 0 or (net > 0) == (before > 0)  # ... nor flips ...
            assert abs(net) < abs(before)  # ... nor grows
    assert net == (positions[0].qty if positions else D(0))
    for order in orders:
        own = [f for f in fills if f.client_order_id == order.client_order_id]
        assert order.filled_qty == sum((f.qty for f in own), D(0)) <= order.qty
        if order.order_type is OrderType.LIMIT and order.price is not None:
            assert all(f.price <= order.price if f.side is Side.BUY else f.price >= order.price for f in own)
