"""The pure fill model, with worked numbers: market at the open, limits, stops, time in force, volume,
slippage, protection, liquidation and funding."""

from datetime import UTC, datetime
from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from app.domain.fills import (
    FillCosts,
    WorkingOrder,
    fill_market_at_open,
    funding_payment,
    liquidation_price,
    liquidation_triggered,
    match_at_open,
    match_in_bar,
    protection_fill,
    protection_trigger,
    slippage_fraction,
    taker_price,
    volume_allowance,
)
from app.domain.values import Asset, Candle, Instrument, Liquidity, OrderStatus, OrderType, Side, TimeInForce

T0 = datetime(2024, 1, 1, tzinfo=UTC)
INST = Instrument("BTCUSDT", Asset.SPOT, "BTC", "USDT", D("0.01"), D("0.001"), D("0.001"))
FREE = FillCosts(taker_fee=D(0), maker_fee=D(0))
FEES = FillCosts(taker_fee=D("0.001"), maker_fee=D("0.0002"))


def bar(o: float, h: float, low: float, c: float, volume: float = 1000.0) -> Candle:
    return Candle("BTCUSDT", "1h", T0, o, h, low, c, volume)


def order(
    side: Side = Side.BUY,
    kind: OrderType = OrderType.LIMIT,
    qty: str = "1",
    limit: str | None = None,
    stop: str | None = None,
    tif: TimeInForce = TimeInForce.GTC,
    arriving: bool = True,
) -> WorkingOrder:
    return WorkingOrder(
        side, kind, D(qty), D(limit) if limit else None, D(stop) if stop else None, tif, arriving
    )


# --- costs ---------------------------------------------------------------------------------------------


def test_a_market_buy_fills_at_the_open_plus_slippage_with_the_taker_fee():
    fill = fill_market_at_open(Side.BUY, D(2), bar(100, 101, 99, 100), INST, FillCosts(slippage_bps=D(10)))

    assert fill.price == D("100.10")  # 100 + 10 bps
    assert fill.fee == D("0.20020")  # 2 x 100.10 x 0.001


def test_slippage_is_fixed_bps_plus_k_times_the_bars_range_over_its_close():
    costs = FillCosts(slippage_bps=D(10), volatility_slippage=D("0.5"))

    assert slippage_fraction(bar(100, 110, 90, 100), costs) == D("0.101")  # 0.001 + 0.5 x 20 / 100


def test_volatility_slippage_moves_a_buy_up_and_a_sell_down():
    costs = FillCosts(volatility_slippage=D("0.1"))
    wide = bar(100, 110, 90, 100)  # 0.1 x 20 / 100 = 2%

    assert taker_price(Side.BUY, D(100), wide, INST, costs) == D("102.00")
    assert taker_price(Side.SELL, D(100), wide, INST, costs) == D("98.00")


def test_a_taker_price_never_goes_past_the_limit():
    costs = FillCosts(slippage_bps=D(100))

    assert taker_price(Side.BUY, D(100), bar(100, 100, 100, 100), INST, costs, limit=D("100.50")) == D(
        "100.50"
    )


def test_maker_and_taker_fees_apply_their_own_rates():
    assert FEES.fee(D(2), D(100), Liquidity.MAKER) == D("0.0400")
    assert FEES.fee(D(2), D(100), Liquidity.TAKER) == D("0.200")


def test_the_volume_allowance_is_a_share_of_the_bar_rounded_down_to_the_lot():
    assert volume_allowance(bar(1, 1, 1, 1, volume=1234.5678), D("0.1"), INST) == D("123.456")
    assert volume_allowance(bar(1, 1, 1, 1), None, INST) is None


# --- market and limit ----------------------------------------------------------------------------------


def test_a_market_order_takes_only_what_the_volume_allows():
    match = match_at_open(order(kind=OrderType.MARKET, qty="5"), bar(100, 101, 99, 100), INST, FEES, D(2))

    assert (match.qty, match.price, match.liquidity, match.end) == (D(2), D(100), Liquidity.TAKER, None)


def test_a_limit_buy_arriving_below_the_open_is_not_marketable_and_waits_for_the_bar():
    assert match_at_open(order(limit="100"), bar(101, 102, 99.5, 101), INST, FEES, None).qty == 0


def test_a_resting_limit_buy_touched_inside_the_bar_fills_at_its_price_as_a_maker():
    match = match_in_bar(order(limit="100"), bar(101, 102, 99.5, 101), INST, FEES, None)

    assert (match.qty, match.price, match.liquidity) == (D(1), D(100), Liquidity.MAKER)
    assert match.fee == D("0.0200")  # 1 x 100 x 0.0002


def test_a_limit_buy_the_range_does_not_reach_does_not_fill():
    assert match_in_bar(order(limit="100"), bar(101, 102, 100.01, 101), INST, FEES, None).qty == 0


def test_a_limit_buy_marketable_on_arrival_crosses_as_a_taker_at_the_open_capped_at_its_limit():
    costs = FillCosts(taker_fee=D("0.001"), slippage_bps=D(100))

    match = match_at_open(order(limit="99.50"), bar(99, 100, 98, 99), INST, costs, None)

    assert match.liquidity is Liquidity.TAKER
    assert match.price == D("99.50")  # 99 + 1% = 99.99, capped at the limit


def test_a_resting_limit_the_market_gaps_through_fills_at_the_better_open_as_a_maker():
    match = match_at_open(order(limit="100", arriving=False), bar(97, 98, 96, 97), INST, FEES, None)

    assert (match.price, match.liquidity) == (D(97), Liquidity.MAKER)


def test_a_sell_limit_fills_when_the_high_reaches_it():
    match = match_in_bar(order(Side.SELL, limit="105"), bar(100, 106, 99, 104), INST, FREE, None)

    assert (match.qty, match.price) == (D(1), D(105))


def test_a_post_only_order_that_would_take_liquidity_is_rejected():
    match = match_at_open(
        order(limit="100", tif=TimeInForce.POST_ONLY), bar(99, 100, 98, 99), INST, FEES, None
    )

    assert match.qty == 0
    assert match.end is OrderStatus.REJECTED
    assert "post-only" in match.reason


def test_a_resting_post_only_order_fills_as_a_maker():
    resting = order(limit="100", tif=TimeInForce.POST_ONLY, arriving=False)

    assert match_in_bar(resting, bar(101, 102, 99, 101), INST, FEES, None).liquidity is Liquidity.MAKER


# --- time in force -------------------------------------------------------------------------------------


def test_ioc_fills_what_the_bar_allows_and_cancels_the_rest():
    match = match_at_open(
        order(kind=OrderType.MARKET, qty="5", tif=TimeInForce.IOC), bar(100, 101, 99, 100), INST, FEES, D(2)
    )

    assert match.qty == D(2)
    assert match.end is OrderStatus.CANCELLED


def test_an_ioc_limit_that_is_not_marketable_on_arrival_is_cancelled_unfilled():
    match = match_at_open(order(limit="100", tif=TimeInForce.IOC), bar(101, 102, 99, 101), INST, FEES, None)

    assert (match.qty, match.end) == (D(0), OrderStatus.CANCELLED)


def test_fok_without_enough_volume_fills_nothing():
    match = match_at_open(
        order(kind=OrderType.MARKET, qty="5", tif=TimeInForce.FOK), bar(100, 101, 99, 100), INST, FEES, D(4)
    )

    assert (match.qty, match.end) == (D(0), OrderStatus.CANCELLED)


def test_fok_with_enough_volume_fills_everything():
    match = match_at_open(
        order(kind=OrderType.MARKET, qty="5", tif=TimeInForce.FOK), bar(100, 101, 99, 100), INST, FEES, D(5)
    )

    assert (match.qty, match.end) == (D(5), None)


def test_a_gtc_remainder_keeps_working():
    match = match_at_open(order(kind=OrderType.MARKET, qty="5"), bar(100, 101, 99, 100), INST, FEES, D(2))

    assert match.end is None


# --- stops ---------------------------------------------------------------------------------------------


def test_a_buy_stop_crossed_inside_the_bar_fills_at_the_stop_plus_slippage():
    costs = FillCosts(taker_fee=D(0), slippage_bps=D(10))
    stop = order(kind=OrderType.STOP, stop="100")

    assert match_at_open(stop, bar(99, 101, 98, 100), INST, costs, None).qty == 0
    match = match_in_bar(stop, bar(99, 101, 98, 100), INST, costs, None)

    assert (match.triggered, match.qty, match.price) == (True, D(1), D("100.10"))


def test_a_buy_stop_the_open_gaps_past_fills_at_the_open():
    match = match_at_open(order(kind=OrderType.STOP, stop="100"), bar(102, 103, 101, 102), INST, FREE, None)

    assert (match.triggered, match.price) == (True, D(102))


def test_a_sell_stop_triggers_when_the_low_reaches_it():
    match = match_in_bar(order(Side.SELL, OrderType.STOP, stop="95"), bar(100, 101, 94, 96), INST, FREE, None)

    assert (match.triggered, match.price) == (True, D(95))


def test_a_stop_limit_with_a_marketable_limit_fills_at_the_trigger():
    stop_limit = order(kind=OrderType.STOP_LIMIT, limit="100.50", stop="100")

    match = match_in_bar(stop_limit, bar(99, 101, 98, 100), INST, FEES, None)

    assert (match.triggered, match.qty, match.price, match.liquidity) == (True, D(1), D(100), Liquidity.TAKER)


def test_a_stop_limit_whose_limit_is_below_the_trigger_triggers_and_rests():
    stop_limit = order(kind=OrderType.STOP_LIMIT, limit="99.50", stop="100")

    match = match_in_bar(stop_limit, bar(99, 101, 98, 100), INST, FEES, None)

    assert (match.triggered, match.qty, match.end) == (True, D(0), None)


def test_an_untouched_stop_does_nothing():
    assert match_in_bar(order(kind=OrderType.STOP, stop="100"), bar(99, 99.5, 98, 99), INST, FREE, None) == (
        match_at_open(order(kind=OrderType.STOP, stop="100"), bar(99, 99.5, 98, 99), INST, FREE, None)
    )


# --- protection, liquidation, funding ------------------------------------------------------------------


def test_when_a_bar_touches_both_levels_the_stop_loss_is_assumed_first():
    assert protection_trigger(True, D(95), D(110), bar(100, 112, 90, 100)) == ("sl", D(95))


def test_a_protection_fill_closes_the_whole_position_slipped():
    costs = FillCosts(taker_fee=D("0.001"), slippage_bps=D(10))

    hit = protection_fill(D(2), D(95), None, bar(100, 101, 94, 96), INST, costs)

    assert hit is not None
    assert (hit.kind, hit.side, hit.qty, hit.price) == ("sl", Side.SELL, D(2), D("94.91"))  # 95 - 0.095


def test_a_mark_trigger_is_clamped_into_the_traded_bar():
    mark = bar(100, 101, 90, 95)  # the mark falls to 90; trades only went down to 92
    hit = protection_fill(D(1), D(91), None, bar(100, 101, 92, 95), INST, FREE, trigger_bar=mark)

    assert hit is not None
    assert hit.price == D(92)


def test_the_mark_can_spare_a_stop_the_last_price_wick_touched():
    mark = bar(100, 101, 97, 99)
    assert protection_fill(D(1), D(95), None, bar(100, 101, 94, 99), INST, FREE, trigger_bar=mark) is None


def test_liquidation_prices_of_a_ten_times_long_and_short():
    assert liquidation_price(True, D(100), D(10), D("0.005")) == D("90.500")  # 100 x (1 - 0.1 + 0.005)
    assert liquidation_price(False, D(100), D(10), D("0.005")) == D("109.500")


def test_liquidation_triggers_when_the_bar_trades_through_the_price():
    assert liquidation_triggered(True, D("90.5"), bar(95, 96, 90, 91))
    assert not liquidation_triggered(True, D("90.5"), bar(95, 96, 91, 92))
    assert liquidation_triggered(False, D("109.5"), bar(105, 110, 104, 108))


def test_longs_pay_positive_funding_and_shorts_receive_it():
    assert funding_payment(D(1000), D("0.5"), D("0.0001")) == D("0.05")
    assert funding_payment(D(-1000), D("0.5"), D("0.0001")) == D("-0.05")


# --- invariants ----------------------------------------------------------------------------------------

prices = st.decimals(min_value=D(1), max_value=D(1000), places=2)


@given(
    limit=prices,
    o=prices,
    a=prices,
    b=prices,
    side=st.sampled_from(Side),
    arriving=st.booleans(),
    available=st.none() | st.decimals(min_value=D(0), max_value=D(10), places=3),
)
def test_a_limit_order_never_fills_beyond_its_limit_or_the_volume(limit, o, a, b, side, arriving, available):
    low, high = min(o, a, b), max(o, a, b)
    candle = bar(float(o), float(high), float(low), float(o))
    costs = FillCosts(slippage_bps=D(50), volatility_slippage=D("0.2"))
    working = order(side, OrderType.LIMIT, "5", str(limit), arriving=arriving)

    for match in (
        match_at_open(working, candle, INST, costs, available),
        match_in_bar(working, candle, INST, costs, available),
    ):
        if match.qty > 0:
            assert match.price <= limit if side is Side.BUY else match.price >= limit
            assert match.qty <= (available if available is not None else D(5))
