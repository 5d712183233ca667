"""Futures on the simulated venue: netting, leverage and initial margin, liquidation, and funding on the
real XRPUSDT perpetual series."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
import trio

from app.adapters.brokers.sim.account import MONEY_STEP
from app.adapters.brokers.sim.futures import load_funding_rates
from app.domain.values import Asset, Fill, FundingPayment, OrderStatus, Side
from app.ports.errors import DataError
from tests.adapters.brokers.sim_kit import FUTURES, bar, fine_rules, flat, intent, read_candles, sim

FUT = Asset.FUTURES


def futures(**kw):
    return sim(asset=FUT, margin=True, **kw)


def fut_intent(cid, side, qty, symbol="BTCUSDT", **kw):
    return intent(cid, side, qty, symbol, asset=FUT, **kw)


# --- netting, leverage, margin -------------------------------------------------------------------------


def test_opposite_orders_net_into_one_position():
    async def scenario():
        broker = futures()
        await broker.on_candle(flat(0, 100))
        await broker.place_order(fut_intent("a", Side.BUY, "3"))
        await broker.place_order(fut_intent("b", Side.SELL, "5"))
        await broker.on_candle(flat(1, 100))
        return await broker.positions()

    positions = trio.run(scenario)

    assert [(p.symbol, p.qty) for p in positions] == [("BTCUSDT", D(-2))]


def test_an_entry_beyond_the_leverage_is_rejected_for_margin():
    async def scenario():
        broker = futures(cash="1000", leverage=D(5))
        await broker.on_candle(flat(0, 100))
        await broker.place_order(fut_intent("big", Side.BUY, "60"))  # 6000 notional needs 1200 margin
        await broker.place_order(fut_intent("fits", Side.BUY, "40"))  # 4000 notional needs 800
        await broker.on_candle(flat(1, 100))
        return await broker.get_order("big"), await broker.get_order("fits")

    big, fits = trio.run(scenario)

    assert big.status is OrderStatus.REJECTED
    assert "insufficient margin" in big.reason
    assert fits.status is OrderStatus.FILLED


def test_a_symbol_can_carry_its_own_leverage():
    async def scenario():
        broker = futures(cash="1000", leverage=D(5), leverage_by_symbol={"BTCUSDT": D(10)})
        await broker.on_candle(flat(0, 100))
        await broker.place_order(fut_intent("big", Side.BUY, "60"))
        await broker.on_candle(flat(1, 100))
        return await broker.get_order("big")

    assert trio.run(scenario).status is OrderStatus.FILLED


def test_available_balance_excludes_the_margin_positions_hold():
    async def scenario():
        broker = futures(cash="1000", leverage=D(5), instruments=lambda s: fine_rules(s))
        await broker.on_candle(flat(0, 100, symbol="BTCUSD"))
        await broker.place_order(fut_intent("a", Side.BUY, "10", symbol="BTCUSD"))
        await broker.on_candle(flat(1, 100, symbol="BTCUSD"))
        return await broker.balances()

    (usd,) = trio.run(scenario)

    assert (usd.total, usd.available) == (D(1000), D(800))  # 10 x 100 / 5 held as margin


# --- liquidation ---------------------------------------------------------------------------------------


def test_a_bar_through_the_liquidation_price_closes_the_long_there():
    async def scenario():
        broker = futures(cash="1000", leverage=D(10), taker="0.001")
        await broker.on_candle(flat(0, 100))
        await broker.place_order(fut_intent("a", Side.BUY, "10"))
        await broker.on_candle(flat(1, 100))
        liquidation = broker.liquidation_price("BTCUSDT")
        await broker.on_candle(bar(2, 95, 96, 90, 91))
        fill = (await broker.fills())[-1]
        return (
            liquidation,
            fill,
            await broker.get_order(fill.client_order_id),
            await broker.positions(),
            broker,
        )

    liquidation, fill, order, positions, broker = trio.run(scenario)

    assert liquidation == D("90.50")  # 100 x (1 - 1/10 + 0.005)
    assert (fill.price, fill.qty, fill.side) == (D("90.50"), D(10), Side.SELL)
    assert (order.client_order_id, order.reason) == ("sim-liq-00000001", "liquidation")
    assert positions == []
    # paid 1 (entry fee) + 0.905 (exit fee), lost 95 on price
    assert broker.equity() == D(1000) - D(1) - D(95) - D("0.905")


def test_a_short_is_liquidated_when_the_high_reaches_its_price():
    async def scenario():
        broker = futures(cash="1000", leverage=D(10))
        await broker.on_candle(flat(0, 100))
        await broker.place_order(fut_intent("a", Side.SELL, "10"))
        await broker.on_candle(flat(1, 100))
        await broker.on_candle(bar(2, 105, 109.4, 104, 108))
        survived = len(await broker.positions())
        await broker.on_candle(bar(3, 108, 110, 107, 109))
        return survived, (await broker.fills())[-1]

    survived, fill = trio.run(scenario)

    assert survived == 1
    assert fill.price == D("109.50")


def test_without_a_leverage_there_is_no_margin_model():
    async def scenario():
        broker = futures(cash="100")
        await broker.on_candle(flat(0, 100))
        await broker.place_order(fut_intent("a", Side.BUY, "50"))
        await broker.on_candle(bar(1, 100, 100, 1, 2))
        return broker.liquidation_price("BTCUSDT"), len(await broker.positions())

    assert trio.run(scenario) == (None, 1)


# --- funding -------------------------------------------------------------------------------------------


def _xrp_funding_run(broker, candles, *, marks=None, qty="1000", side=Side.BUY):
    async def scenario():
        await broker.on_candle(candles[0])
        await broker.place_order(fut_intent("entry", side, qty, symbol="XRPUSDT"))
        for candle in candles[1:]:
            if marks is not None and candle.ts in marks:
                broker.on_mark_candle(marks[candle.ts])
            await broker.on_candle(candle)
        return broker.funding_payments(), (await broker.account()).cash

    return trio.run(scenario)


def test_funding_from_the_real_series_is_charged_every_8h_on_the_position_at_the_mark():
    rates = load_funding_rates(FUTURES / "XRPUSDT_8h_funding.csv")
    candles = read_candles(FUTURES / "XRPUSDT_1h.csv", "XRPUSDT")
    broker = futures(cash="10000", instruments=fine_rules, funding_rates={"XRPUSDT": rates})

    payments, cash = _xrp_funding_run(broker, candles)

    opens = {c.ts: D(str(c.open)) for c in candles}
    entry_ts, end = candles[1].ts, candles[-1].close_time
    expected = [
        (ts, (D(1000) * opens[ts] * rate).quantize(MONEY_STEP)) for ts, rate in rates if entry_ts <= ts < end
    ]
    assert len(expected) == 10
    assert [(p.ts, p.amount) for p in payments] == expected
    assert payments[6].rate == D("0.00013046")  # 2021-11-20 00:00, a real non-default rate
    assert cash == D(10000) - sum((amount for _, amount in expected), D(0))


def test_a_short_receives_positive_funding():
    rates = load_funding_rates(FUTURES / "XRPUSDT_8h_funding.csv")
    candles = read_candles(FUTURES / "XRPUSDT_1h.csv", "XRPUSDT")
    broker = futures(cash="10000", instruments=fine_rules, funding_rates={"XRPUSDT": rates})

    payments, cash = _xrp_funding_run(broker, candles, side=Side.SELL)

    assert all(p.amount < 0 for p in payments)
    assert cash > D(10000)


def test_funding_values_the_position_at_the_mark_when_mark_bars_are_given():
    rates = load_funding_rates(FUTURES / "XRPUSDT_8h_funding.csv")
    candles = read_candles(FUTURES / "XRPUSDT_1h.csv", "XRPUSDT")
    marks = {m.ts: m for m in read_candles(FUTURES / "XRPUSDT_1h_mark.csv", "XRPUSDT")}
    broker = futures(cash="10000", instruments=fine_rules, funding_rates={"XRPUSDT": rates})

    payments, _ = _xrp_funding_run(broker, candles, marks=marks)

    first = payments[0]
    assert first.ts == datetime(2021, 11, 18, tzinfo=UTC)
    assert first.mark == D(str(marks[first.ts].open))
    assert first.mark != D(str(next(c.open for c in candles if c.ts == first.ts)))


def test_a_funding_time_given_live_is_charged_once():
    async def scenario():
        broker = futures()
        await broker.on_candle(flat(0, 100))
        await broker.place_order(fut_intent("a", Side.BUY, "10"))
        await broker.on_candle(flat(1, 100))
        ts = datetime(2024, 1, 1, 8, tzinfo=UTC)
        first = broker.on_funding("BTCUSDT", ts, D("0.001"))
        again = broker.on_funding("BTCUSDT", ts, D("0.001"))
        return first, again, (await broker.account()).cash

    first, again, cash = trio.run(scenario)

    assert first is not None
    assert first.amount == D("1.000")  # 10 x 100 x 0.001
    assert again is None
    assert cash == D(100000) - D(1)


def test_funding_with_no_position_charges_nothing():
    broker = futures()
    assert broker.on_funding("BTCUSDT", datetime(2024, 1, 1, tzinfo=UTC), D("0.01")) is None


def test_an_unreadable_funding_file_names_the_line(tmp_path):
    path = tmp_path / "funding.csv"
    path.write_text("timestamp,funding_rate\n2021-11-18T00:00:00Z,0.0001\n2021-11-18T08:00:00Z,abc\n")

    with pytest.raises(DataError, match=r"funding\.csv:3"):
        load_funding_rates(path)


# --- funding events ------------------------------------------------------------------------------------


def test_each_funding_charge_is_reported_as_an_event_in_order_with_the_fills():
    rates = load_funding_rates(FUTURES / "XRPUSDT_8h_funding.csv")
    candles = read_candles(FUTURES / "XRPUSDT_1h.csv", "XRPUSDT")
    broker = futures(cash="10000", instruments=fine_rules, funding_rates={"XRPUSDT": rates})
    funding_bar = next(i for i, c in enumerate(candles) if c.ts == datetime(2021, 11, 18, tzinfo=UTC))

    async def scenario():
        for i, candle in enumerate(candles[: funding_bar + 1]):
            if i == funding_bar - 1:  # one market order fills an hour before the funding time, one at it
                await broker.place_order(fut_intent("held", Side.BUY, "1000", symbol="XRPUSDT"))
            if i == funding_bar:
                await broker.place_order(fut_intent("after", Side.BUY, "500", symbol="XRPUSDT"))
            await broker.on_candle(candle)
        return list(await broker.drain_events())

    events = trio.run(scenario)

    kinds = [type(e).__name__ for e in events]
    assert kinds.count("FundingPayment") == 1
    (payment,) = [e for e in events if isinstance(e, FundingPayment)]
    assert payment == broker.funding_payments()[0]
    # charged inside the funding bar on the position after its open (a fill at the funding time counts), so
    # reported after that fill
    assert payment.asset is FUT
    assert payment.position_qty == D(1500)
    fills = [e for e in events if isinstance(e, Fill)]
    assert fills[1].ts == payment.ts
    assert events.index(fills[0]) < events.index(fills[1]) < kinds.index("FundingPayment")


def test_a_duplicated_funding_event_is_reported_twice_with_one_id():
    async def scenario():
        broker = futures()
        await broker.on_candle(flat(0, 100))
        await broker.place_order(fut_intent("a", Side.BUY, "10"))
        await broker.on_candle(flat(1, 100))
        await broker.drain_events()
        broker.faults.duplicate_next_event()
        broker.on_funding("BTCUSDT", datetime(2024, 1, 1, 8, tzinfo=UTC), D("0.001"))
        return list(await broker.drain_events()), (await broker.account()).cash

    events, cash = trio.run(scenario)

    assert len(events) == 2
    assert events[0] == events[1]
    assert isinstance(events[0], FundingPayment)
    assert cash == D(100000) - D(1)  # charged once


def test_a_restored_account_reports_again_the_funding_it_recharges_while_observing_with_the_same_ids():
    rates = load_funding_rates(FUTURES / "XRPUSDT_8h_funding.csv")
    candles = read_candles(FUTURES / "XRPUSDT_1h.csv", "XRPUSDT")

    def account():
        return futures(cash="10000", instruments=fine_rules, funding_rates={"XRPUSDT": rates})

    async def scenario():
        original = account()
        await original.on_candle(candles[0])
        await original.place_order(fut_intent("entry", Side.BUY, "1000", symbol="XRPUSDT"))
        for candle in candles[1:60]:
            await original.on_candle(candle)
        reported = [e for e in await original.drain_events() if isinstance(e, FundingPayment)]
        restored = account()
        restored.restore(
            [await original.get_order("entry")],
            list(await original.fills()),
            list(await original.positions()),
        )
        for candle in candles[:60]:
            restored.observe(candle)
        again = [e for e in await restored.drain_events() if isinstance(e, FundingPayment)]
        return reported, again, (await original.account()).cash, (await restored.account()).cash

    reported, again, cash, restored_cash = trio.run(scenario)

    assert len(reported) >= 3
    assert [p.funding_id for p in again] == [p.funding_id for p in reported]
    assert again == reported
    assert restored_cash == cash
