from decimal import Decimal as D
from decimal import localcontext

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.budget import required_spend
from app.domain.errors import ValidationFailed
from app.domain.risk import (
    compute_size,
    day_loss,
    default_stop,
    drawdown,
    effective_risk_fraction,
    pretrade_check,
    smallest_tradable_qty,
    with_default_stop,
)
from app.domain.risk_values import DEFAULT_BANDS, DrawdownStep, OrderContext, RiskBand, RiskLimits
from app.domain.values import Asset, Instrument, Side

LIMITS = RiskLimits()
SPOT = DEFAULT_BANDS[Asset.SPOT]  # risk 2%, stops 0.2% .. 15% (default 3%), 1x equity, daily loss 6%
FUTURES = DEFAULT_BANDS[Asset.FUTURES]  # risk 1%, stops 0.2% .. 10%, 3x equity, leverage <= 5


def instrument(asset=Asset.SPOT, lot="0.001", min_qty="0.001", min_notional="0", tick="0.01"):
    return Instrument("BTCUSDT", asset, "BTC", "USDT", D(tick), D(lot), D(min_qty), D(min_notional))


def context(**overrides):
    fields = {
        "instrument": instrument(),
        "side": Side.BUY,
        "entry_price": D(100),
        "stop_price": D(95),
        "equity": D(1000),
        "bucket_available": D(1000),
        "strategy_id": "s1",
    }
    fields.update(overrides)
    return OrderContext(**fields)


# --- the size formula, worked by hand -------------------------------------------------------------


def test_size_is_equity_at_risk_over_the_stop_distance():
    # equity 1000 x risk 2% = 20 at risk; entry 100 - stop 95 = 5 per unit -> 20 / 5 = 4 units (lot 0.001)
    size = compute_size(context(), LIMITS)

    assert size.qty == D("4.000")
    assert size.risk_amount == D(20)
    assert size.capped_by == ()


def test_size_rounds_down_to_the_lot_step():
    # 20 at risk over a distance of 100 - 97 = 3 -> 6.666..., rounded down to the lot 0.01 -> 6.66
    size = compute_size(context(stop_price=D(97), instrument=instrument(lot="0.01")), LIMITS)

    assert size.qty == D("6.66")
    assert size.risk_amount == D("19.98")  # 6.66 x 3


def test_size_of_a_sell_uses_the_stop_above_entry():
    # 20 at risk over 104 - 100 = 4 -> 5 units
    assert compute_size(context(side=Side.SELL, stop_price=D(104)), LIMITS).qty == D(5)


def test_the_position_band_caps_a_tight_stop():
    # 20 / (100 - 99.5) = 40 units = 4000 notional, but one spot position is at most 1 x equity = 1000 -> 10
    size = compute_size(context(stop_price=D("99.5")), LIMITS)

    assert size.qty == D(10)
    assert [r.code for r in size.capped_by] == ["position_band"]


def test_the_budget_caps_a_spot_order_at_the_cash_available():
    # risk allows 4 units (400 notional); the bucket has 300 cash -> 300 / 100 = 3 units
    size = compute_size(context(bucket_available=D(300)), LIMITS)

    assert size.qty == D(3)
    assert [r.code for r in size.capped_by] == ["budget"]


def test_a_futures_order_spends_margin_so_leverage_stretches_the_budget():
    # futures risk 1%: 10 at risk over 100 - 99 = 1 -> 10 units (1000 notional). The bucket has 100 of margin;
    # at 5x that pays for 500 notional -> 5 units.
    ctx = context(
        instrument=instrument(Asset.FUTURES),
        stop_price=D(99),
        bucket_available=D(100),
        leverage=D(5),
    )

    size = compute_size(ctx, LIMITS)

    assert size.qty == D(5)
    assert [r.code for r in size.capped_by] == ["budget"]


def test_the_leverage_cap_counts_the_open_notional():
    # futures max 5 x equity 1000 = 5000 notional; 4800 is open -> room 200 -> 2 units at 100
    ctx = context(
        instrument=instrument(Asset.FUTURES),
        stop_price=D(99),
        leverage=D(5),
        open_notional=D(4800),
    )

    size = compute_size(ctx, LIMITS)

    assert size.qty == D(2)
    assert size.capped_by[-1].code == "leverage_cap"


def test_the_daily_loss_room_caps_the_size():
    # cap 6% x 1000 = 60; 50 lost today -> room 10; a stop-out costs 5 per unit -> 2 units
    size = compute_size(context(realized_pnl_today=D(-50)), LIMITS)

    assert size.qty == D(2)
    assert [r.code for r in size.capped_by] == ["daily_loss"]


def test_the_strategy_open_risk_caps_the_size():
    # strategy cap 6% x 1000 = 60; 50 already at risk -> room 10 -> 10 / 5 = 2 units
    size = compute_size(context(strategy_open_risk=D(50)), LIMITS)

    assert size.qty == D(2)
    assert [r.code for r in size.capped_by] == ["strategy_risk"]


def test_compute_size_without_a_stop_sizes_on_the_default_stop():
    # default spot stop 3% below 100 = 97; 20 / 3 = 6.666 -> 6.666 (lot 0.001)
    size = compute_size(context(stop_price=None), LIMITS)

    assert size.stop_price == D(97)
    assert size.stop_is_default
    assert size.qty == D("6.666")


def test_compute_size_without_a_band_sizes_nothing():
    size = compute_size(context(), RiskLimits(bands={}))

    assert size.qty == 0
    assert size.code == "no_risk_band"


# --- drawdown throttling -----------------------------------------------------------------------------


def test_drawdown_is_the_fall_from_the_high_water_mark():
    # (1000 - 900) / 1000 = 10%
    assert drawdown(D(900), D(1000)) == D("0.1")
    assert drawdown(D(1100), D(1000)) == 0
    assert drawdown(D(900), None) == 0


@pytest.mark.parametrize(
    ("dd", "expected"),
    [
        ("0.04", "0.02"),  # below the first step: the full 2%
        ("0.05", "0.015"),  # 2% x 0.75
        ("0.12", "0.01"),  # 2% x 0.50
        ("0.30", "0.005"),  # 2% x 0.25
    ],
)
def test_risk_fraction_steps_down_with_the_drawdown(dd, expected):
    assert effective_risk_fraction(D("0.02"), D(dd), LIMITS.drawdown_steps) == D(expected)


def test_risk_fraction_is_restored_as_the_drawdown_recovers():
    deep = effective_risk_fraction(D("0.02"), D("0.25"), LIMITS.drawdown_steps)
    recovered = effective_risk_fraction(D("0.02"), D("0.03"), LIMITS.drawdown_steps)

    assert (deep, recovered) == (D("0.005"), D("0.02"))


def test_steps_apply_in_any_order():
    steps = (DrawdownStep(D("0.2"), D("0.25")), DrawdownStep(D("0.05"), D("0.75")))

    assert effective_risk_fraction(D("0.02"), D("0.1"), steps) == D("0.015")


def test_a_drawdown_shrinks_the_size():
    # equity 900 under a mark of 1000 = 10% down -> risk 2% x 0.5 = 1%; 9 at risk / 5 = 1.8 units
    size = compute_size(context(equity=D(900), high_water_mark=D(1000)), LIMITS)

    assert size.risk_fraction == D("0.01")
    assert size.qty == D("1.8")


def test_a_zero_step_halts_new_entries():
    limits = RiskLimits(drawdown_steps=(DrawdownStep(D("0.1"), D(0)),))

    decision = pretrade_check(context(equity=D(800), high_water_mark=D(1000)), limits)

    assert decision.code == "drawdown_halt"


def test_a_drawdown_step_outside_its_range_is_rejected():
    with pytest.raises(ValidationFailed, match="drawdown step"):
        DrawdownStep(D("1.5"), D("0.5"))


# --- default stop -----------------------------------------------------------------------------------


def test_default_stop_sits_the_band_distance_away_on_the_losing_side():
    # spot default 3%: 100 x 0.97 = 97 for a buy, 100 x 1.03 = 103 for a sell
    assert default_stop(D(100), Side.BUY, SPOT) == D(97)
    assert default_stop(D(100), Side.SELL, SPOT) == D(103)


def test_default_stop_rounds_to_the_tick_away_from_entry():
    # 101 x 0.97 = 97.97 -> down to 97.5; 101 x 1.03 = 104.03 -> up to 104.5
    assert default_stop(D(101), Side.BUY, SPOT, D("0.5")) == D("97.5")
    assert default_stop(D(101), Side.SELL, SPOT, D("0.5")) == D("104.5")


def test_an_order_given_the_default_stop_is_approved_and_marked_as_such():
    ctx = with_default_stop(context(stop_price=None), LIMITS)

    decision = pretrade_check(ctx, LIMITS)

    assert decision.allowed
    assert decision.stop_price == D(97)
    assert decision.stop_is_default


def test_with_default_stop_keeps_a_stop_that_is_there():
    ctx = context()

    assert with_default_stop(ctx, LIMITS) is ctx


# --- pre-trade check --------------------------------------------------------------------------------


def test_an_order_within_every_rule_is_approved_at_the_computed_size():
    decision = pretrade_check(context(), LIMITS)

    assert decision.allowed
    assert decision.qty == D(4)
    assert decision.risk_amount == D(20)
    assert decision.decision.allowed


def test_an_order_without_a_stop_is_denied():
    assert pretrade_check(context(stop_price=None), LIMITS).code == "no_stop"


@pytest.mark.parametrize(("side", "stop"), [(Side.BUY, D(101)), (Side.SELL, D(99)), (Side.BUY, D(100))])
def test_a_stop_on_the_wrong_side_of_entry_is_denied(side, stop):
    assert pretrade_check(context(side=side, stop_price=stop), LIMITS).code == "stop_wrong_side"


@pytest.mark.parametrize("stop", [D("99.9"), D(80)])
def test_a_stop_outside_the_distance_band_is_denied(stop):
    # spot band 0.2% .. 15%: 0.1% is too tight, 20% too wide
    assert pretrade_check(context(stop_price=stop), LIMITS).code == "stop_distance"


def test_a_take_profit_on_the_losing_side_is_denied():
    assert pretrade_check(context(take_profit=D(90)), LIMITS).code == "take_profit_wrong_side"


def test_leverage_above_the_band_is_denied():
    assert pretrade_check(context(leverage=D(2)), LIMITS).code == "leverage_setting"


def test_the_daily_loss_cap_stops_new_entries_once_reached():
    # cap 6% x 1000 = 60; realised -30 and open -30 make 60
    decision = pretrade_check(context(realized_pnl_today=D(-30), unrealized_pnl=D(-30)), LIMITS)

    assert decision.code == "daily_loss_cap"


def test_open_gains_do_not_offset_todays_losses():
    # realised -70 with +100 open: the loss counted is still 70
    assert day_loss(D(-70), D(100)) == D(70)
    assert pretrade_check(context(realized_pnl_today=D(-70), unrealized_pnl=D(100)), LIMITS).code == (
        "daily_loss_cap"
    )


def test_a_strategy_at_its_position_cap_is_denied():
    assert pretrade_check(context(strategy_open_positions=3), LIMITS).code == "strategy_positions"


def test_an_asset_without_a_band_is_denied():
    assert pretrade_check(context(), RiskLimits(bands={})).code == "no_risk_band"


def test_a_bucket_without_equity_is_denied():
    assert pretrade_check(context(equity=D(0)), LIMITS).code == "no_equity"


def test_a_request_above_the_rules_is_reduced_with_its_reason():
    # 10 requested; risk allows 20 / 5 = 4
    decision = pretrade_check(context(requested_qty=D(10)), LIMITS)

    assert decision.allowed
    assert decision.qty == D(4)
    assert [r.code for r in decision.reductions] == ["risk_per_trade"]
    assert "risk_per_trade" in decision.reason


def test_each_reduction_says_in_words_which_numbers_bound_it():
    # 50 requested at a tight stop of 0.5: risk allows 20 / 0.5 = 40, the position band 1000 / 100 = 10,
    # the 300 of cash 3
    decision = pretrade_check(
        context(requested_qty=D(50), stop_price=D("99.5"), bucket_available=D(300)), LIMITS
    )

    assert [(r.code, r.limit, r.reason) for r in decision.reductions] == [
        ("risk_per_trade", D(40), "risk 0.02 x equity 1000 over a stop of 0.5"),
        ("position_band", D(10), "one position's notional is at most 1 x equity 1000"),
        ("budget", D(3), "the bucket has 300 available at leverage 1"),
    ]


def test_compute_size_words_the_caps_that_lowered_it():
    size = compute_size(context(realized_pnl_today=D(-50)), LIMITS)

    [cap] = size.capped_by
    assert cap.reason == "a stop-out cannot take today's loss 50 past 0.06 x equity"


def test_a_size_denial_words_the_rule_the_smallest_size_breaks():
    # risk allows 4 units but the venue's minimum is 5: the risk formula itself binds
    decision = pretrade_check(context(instrument=instrument(min_qty="5")), LIMITS)

    assert decision.reason == (
        "the smallest tradable size 5 breaks risk_per_trade: risk 0.02 x equity 1000 over a stop of 5"
    )


def test_a_decision_given_another_stop_keeps_everything_else():
    decision = pretrade_check(context(requested_qty=D("2.0005"), stop_is_default=True), LIMITS)

    moved = decision.with_stop_price(D("0.5"))

    assert moved == attrs.evolve(decision, stop_price=D("0.5"))
    # the comparison covered a decision with no field left at its default
    assert all(getattr(decision, f.name) != f.default for f in attrs.fields(type(decision)))


def test_a_request_within_the_rules_is_kept():
    decision = pretrade_check(context(requested_qty=D(2)), LIMITS)

    assert (decision.qty, decision.reductions) == (D(2), ())


def test_a_request_off_the_lot_step_is_rounded_down_and_recorded():
    decision = pretrade_check(context(requested_qty=D("2.0005")), LIMITS)

    assert decision.qty == D("2.000")
    assert [r.code for r in decision.reductions] == ["lot_step"]


def test_a_request_below_the_smallest_tradable_size_is_denied():
    assert pretrade_check(context(requested_qty=D("0.0004")), LIMITS).code == "below_min_size"


def test_denied_when_even_the_minimum_quantity_risks_too_much():
    # risk allows 4 units but the venue's minimum is 5
    decision = pretrade_check(context(instrument=instrument(min_qty="5")), LIMITS)

    assert not decision.allowed
    assert decision.code == "risk_per_trade"


def test_denied_when_the_minimum_notional_needs_more_than_the_budget():
    # min notional 50 at 100 -> 0.5 units = 50 cash; the bucket has 40
    decision = pretrade_check(
        context(instrument=instrument(min_notional="50"), bucket_available=D(40)), LIMITS
    )

    assert decision.code == "budget"


def test_smallest_tradable_qty_rounds_the_min_notional_up_to_the_lot():
    # 5 / 3000 = 0.001666... -> up to the lot 0.001 -> 0.002
    assert smallest_tradable_qty(instrument(min_notional="5"), D(3000)) == D("0.002")
    assert smallest_tradable_qty(instrument(min_qty="0.001"), D(3000)) == D("0.001")


def test_a_band_with_a_default_stop_outside_its_limits_is_rejected():
    with pytest.raises(ValidationFailed, match="stop distances"):
        RiskBand(default_stop_distance=D("0.5"))


def test_default_bands_go_from_loosest_spot_to_tightest_options():
    fractions = [
        DEFAULT_BANDS[a].risk_fraction for a in (Asset.SPOT, Asset.FUTURES, Asset.FOREX, Asset.OPTIONS)
    ]

    assert fractions == sorted(fractions, reverse=True)


# --- invariants -------------------------------------------------------------------------------------

LOTS = [D(1), D("0.1"), D("0.01"), D("0.001"), D("0.00001")]


def _pct(lo, hi):
    return st.integers(lo, hi).map(lambda n: D(n) / 100)


ODD = st.integers(1, 20).map(lambda n: n == 7)  # about 1 draw in 20 takes the unusual branch
PRICES = st.integers(1, 10_000_000).map(lambda n: D(n) / 100)
EQUITIES = st.integers(1, 10**8).map(lambda n: D(n) / 100)
ANY_DISTANCE = st.integers(1, 3000).map(lambda n: D(n) / 10_000)
UNIT = st.integers(0, 1000).map(lambda n: D(n) / 1000)
REQUESTS = st.integers(1, 10**9).map(lambda n: D(n) / 1000)


@st.composite
def contexts(draw):
    asset = draw(st.sampled_from(list(Asset)))
    band = DEFAULT_BANDS[asset]
    lot = draw(st.sampled_from(LOTS))
    min_qty, min_notional = lot * draw(st.integers(1, 20)), D(draw(st.sampled_from([0, 1, 5])))
    inst = Instrument("SYM", asset, "B", "Q", D("0.01"), lot, min_qty, min_notional)
    side = draw(st.sampled_from(list(Side)))
    entry = draw(PRICES)
    span = band.max_stop_distance - band.min_stop_distance
    fraction = draw(ANY_DISTANCE) if draw(ODD) else band.min_stop_distance + span * draw(UNIT)
    stop = entry - side.sign * entry * fraction * (-1 if draw(ODD) else 1)
    equity = D(0) if draw(ODD) and draw(ODD) else draw(EQUITIES)
    leverage = draw(st.sampled_from([2, 30])) if draw(ODD) else draw(st.integers(1, int(band.max_leverage)))
    positions = (
        draw(st.integers(0, 3)) if draw(ODD) else draw(st.integers(0, band.max_strategy_positions - 1))
    )
    return OrderContext(
        instrument=inst,
        side=side,
        entry_price=entry,
        stop_price=None if draw(ODD) else stop,
        equity=equity,
        bucket_available=equity * draw(_pct(-5, 150)),
        requested_qty=draw(REQUESTS) if draw(st.booleans()) else None,
        leverage=D(leverage),
        high_water_mark=equity * draw(_pct(100, 200)) if draw(st.booleans()) else None,
        realized_pnl_today=equity * draw(_pct(-8, 5) if draw(ODD) else _pct(-2, 5)),
        unrealized_pnl=equity * draw(_pct(-2, 5)),
        strategy_open_positions=positions,
        strategy_open_risk=equity * (draw(_pct(0, 8)) if draw(ODD) else draw(_pct(0, 1))),
        open_notional=equity * band.max_leverage * draw(_pct(0, 120)),
    )


@settings(max_examples=1000)
@given(contexts())
def test_no_approved_order_breaks_a_rule(ctx):
    decision = pretrade_check(ctx, LIMITS)
    if not decision.allowed:
        return
    band = LIMITS.bands[ctx.asset]
    qty, entry, stop = decision.qty, ctx.entry_price, ctx.stop_price
    with localcontext() as exact:
        exact.prec = 100
        risk = qty * abs(entry - stop)
        notional = qty * entry
        assert risk <= decision.risk_fraction * ctx.equity
        assert risk <= band.risk_fraction * ctx.equity
        assert required_spend(ctx.asset, notional, ctx.leverage) <= ctx.bucket_available
        assert ctx.open_notional + notional <= band.max_leverage * ctx.equity
        assert ctx.leverage <= band.max_leverage
        assert notional <= band.max_position_fraction * ctx.equity
        assert ctx.strategy_open_risk + risk <= band.max_strategy_risk_fraction * ctx.equity
        assert (
            day_loss(ctx.realized_pnl_today, ctx.unrealized_pnl) + risk
            <= band.daily_loss_fraction * ctx.equity
        )
        assert band.min_stop_distance * entry <= abs(entry - stop) <= band.max_stop_distance * entry
        assert (stop - entry) * ctx.side.sign < 0


@settings(max_examples=500)
@given(contexts())
def test_sizes_are_lot_multiples_within_the_computed_maximum(ctx):
    size = compute_size(ctx, LIMITS)
    decision = pretrade_check(ctx, LIMITS)

    assert size.qty >= 0
    assert size.qty % ctx.instrument.lot_step == 0
    if decision.allowed:
        assert decision.qty % ctx.instrument.lot_step == 0
        assert smallest_tradable_qty(ctx.instrument, ctx.entry_price) <= decision.qty <= size.qty
        if ctx.requested_qty is not None:
            assert decision.qty <= ctx.requested_qty


@settings(max_examples=500)
@given(contexts())
def test_a_size_denial_means_the_smallest_tradable_size_breaks_a_cap(ctx):
    decision = pretrade_check(ctx, LIMITS)
    size_codes = {"risk_per_trade", "position_band", "leverage_cap", "budget", "strategy_risk", "daily_loss"}
    if decision.allowed or decision.code not in size_codes:
        return
    band = LIMITS.bands[ctx.asset]
    dd = drawdown(ctx.equity, ctx.high_water_mark)
    rf = effective_risk_fraction(band.risk_fraction, dd, LIMITS.drawdown_steps)
    smallest = smallest_tradable_qty(ctx.instrument, ctx.entry_price)
    risk, notional = smallest * abs(ctx.entry_price - ctx.stop_price), smallest * ctx.entry_price
    breaks = [
        risk > rf * ctx.equity,
        notional > band.max_position_fraction * ctx.equity,
        ctx.open_notional + notional > band.max_leverage * ctx.equity,
        required_spend(ctx.asset, notional, ctx.leverage) > ctx.bucket_available,
        ctx.strategy_open_risk + risk > band.max_strategy_risk_fraction * ctx.equity,
        day_loss(ctx.realized_pnl_today, ctx.unrealized_pnl) + risk > band.daily_loss_fraction * ctx.equity,
    ]

    assert any(breaks)


@settings(max_examples=300)
@given(contexts())
def test_a_smaller_request_never_gets_a_denial_a_larger_one_did_not(ctx):
    big = pretrade_check(attrs.evolve(ctx, requested_qty=None), LIMITS)
    if not big.allowed:
        return
    smallest = smallest_tradable_qty(ctx.instrument, ctx.entry_price)

    small = pretrade_check(attrs.evolve(ctx, requested_qty=smallest), LIMITS)

    assert small.allowed
    assert small.qty == smallest
