"""The paper account order_router reads before every order: one snapshot serves while nothing changes, and
every change of the account (a price, a fill, funding, a deposit, an injected desync, the venue's clock) shows
in the next one."""

from __future__ import annotations

from decimal import Decimal as D

import trio

from app.domain.values import AccountSnapshot, Asset, Side
from tests.adapters.brokers.sim_kit import flat, intent, sim


def snapshot(broker) -> AccountSnapshot:
    return trio.run(broker.account)


def valued_again(broker) -> AccountSnapshot:
    """What the account is worth computed from scratch, as the snapshot must show it."""
    account = broker._venue.account
    return AccountSnapshot(
        asset=broker.asset,
        currency=broker.config.currency,
        cash=account.cash(),
        equity=account.equity(),
        realized_pnl=account.realized,
        ts=broker._venue.now,
    )


def test_an_unchanged_account_gives_the_same_snapshot():
    broker = sim()
    trio.run(broker.on_candle, flat(0, 100))

    first = snapshot(broker)

    assert snapshot(broker) is first
    assert first == valued_again(broker)


def test_a_new_price_moves_the_equity_of_a_held_coin():
    broker = sim()
    trio.run(broker.on_candle, flat(0, 100))
    trio.run(broker.place_order, intent("c1", Side.BUY, "1"))
    trio.run(broker.on_candle, flat(1, 100))
    held = snapshot(broker)

    broker.observe(flat(2, 120))

    assert snapshot(broker).equity == held.equity + 20
    assert snapshot(broker) == valued_again(broker)


def test_a_fill_moves_cash_at_once():
    broker = sim(taker="0.001")
    trio.run(broker.on_candle, flat(0, 100))
    before = snapshot(broker)
    trio.run(broker.place_order, intent("c1", Side.BUY, "1"))

    trio.run(broker.on_candle, flat(1, 100))

    after = snapshot(broker)
    assert after.cash < before.cash
    assert after == valued_again(broker)


def test_a_deposit_and_an_injected_desync_show_in_the_next_snapshot():
    broker = sim()
    trio.run(broker.on_candle, flat(0, 100))
    before = snapshot(broker)

    broker.deposit("USD", D(500))
    deposited = snapshot(broker)
    broker.faults.desync_balance("USD", D(-7))

    assert deposited.cash == before.cash + 500
    assert snapshot(broker).cash == deposited.cash - 7
    assert snapshot(broker) == valued_again(broker)


def test_funding_paid_on_a_perpetual_shows_in_realised_pnl_and_cash():
    broker = sim(asset=Asset.FUTURES, margin=True)
    trio.run(broker.on_candle, flat(0, 100))
    trio.run(broker.place_order, intent("c1", Side.BUY, "2", asset=Asset.FUTURES))
    trio.run(broker.on_candle, flat(1, 100))
    before = snapshot(broker)

    payment = broker.on_funding("BTCUSDT", flat(2, 100).ts, D("0.001"))

    assert payment is not None
    after = snapshot(broker)
    assert after.realized_pnl == before.realized_pnl - payment.amount
    assert after.cash == before.cash - payment.amount
    assert after == valued_again(broker)


def test_the_snapshot_carries_the_venue_time_of_each_bar():
    broker = sim()
    trio.run(broker.on_candle, flat(0, 100))
    first = snapshot(broker)

    trio.run(broker.on_candle, flat(1, 100))

    assert snapshot(broker).ts > first.ts
    assert snapshot(broker) == valued_again(broker)
