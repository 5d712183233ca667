"""The pre-trade check and RiskManager.assess decide exactly as their straightforward forms did.

Both were reworked for speed (fewer divisions, no int conversions, loops written out, the caps' limits
worked out only when one binds). The forms below are the plain ones they replaced, kept as the reference:
every field of every decision (reasons and the digits of each number included) must match, for requests
at, around and far from each cap, denials included.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Context
from decimal import Decimal as D

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.budget import affordable_notional
from app.domain.risk import (
    day_loss,
    default_stop,
    drawdown,
    effective_risk_fraction,
    pretrade_check,
)
from app.domain.risk_values import DEFAULT_BANDS, OrderContext, Reduction, RiskBand, RiskDecision, RiskLimits
from app.domain.values import Asset, Instrument, Position, Side
from app.services.order_requests import OrderRequest, PretradeContext
from app.services.risk_manager import RiskManager

_ZERO, _ONE = D(0), D(1)
_FLOOR = Context(prec=40, rounding=ROUND_FLOOR)
_CODES = ("risk_per_trade", "position_band", "leverage_cap", "budget", "strategy_risk", "daily_loss")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


# --- the reference: the rules written plainly -------------------------------------------------------


def _deny(code, reason, ctx):
    return RiskDecision(False, code, reason, stop_price=ctx.stop_price, stop_is_default=ctx.stop_is_default)


def _limits(ctx, band, rf, distance, loss):
    equity, entry = ctx.equity, ctx.entry_price
    rooms = (
        (equity * rf, distance),
        (band.max_position_fraction * equity, entry),
        (band.max_leverage * equity - ctx.open_notional, entry),
        (affordable_notional(ctx.instrument.asset, ctx.bucket_available, ctx.leverage), entry),
        (band.max_strategy_risk_fraction * equity - ctx.strategy_open_risk, distance),
        (band.daily_loss_fraction * equity - loss, distance),
    )
    return [_FLOOR.divide(room, unit) for room, unit in rooms]


def _reason(index, ctx, band, rf, distance, loss):
    equity = ctx.equity
    return [
        f"risk {rf} x equity {equity} over a stop of {distance}",
        f"one position's notional is at most {band.max_position_fraction} x equity {equity}",
        f"open notional {ctx.open_notional} plus this order is at most {band.max_leverage}x equity",
        f"the bucket has {ctx.bucket_available} available at leverage {ctx.leverage}",
        f"strategy open risk {ctx.strategy_open_risk} plus this trade's is at most "
        f"{band.max_strategy_risk_fraction} x equity",
        f"a stop-out cannot take today's loss {loss} past {band.daily_loss_fraction} x equity",
    ][index]


def _chain(limits, start, first):
    limit, lowering = start, []
    for index in range(first, len(limits)):
        if limits[index] < limit:
            limit = limits[index]
            lowering.append(index)
    return limit, lowering


def _smallest(instrument, price):
    floor_qty = max(instrument.min_qty, instrument.min_notional / price if price > 0 else _ZERO)
    units = (floor_qty / instrument.lot_step).to_integral_value(rounding=ROUND_CEILING)
    return max(units, _ONE) * instrument.lot_step


def _denial(ctx, band, rf, loss):
    entry, stop, side, sign = ctx.entry_price, ctx.stop_price, ctx.side, ctx.side.sign
    asset = ctx.instrument.asset.value
    if stop is None:
        return _deny("no_stop", "every order needs a stop loss (apply the asset's default stop)", ctx)
    if entry <= 0 or stop <= 0:
        return _deny("bad_price", f"entry {entry} and stop {stop} must be positive", ctx)
    if (stop - entry) * sign >= 0:
        where = "below" if side is Side.BUY else "above"
        return _deny("stop_wrong_side", f"a {side} needs its stop {where} entry {entry}, got {stop}", ctx)
    if ctx.take_profit is not None and (ctx.take_profit - entry) * sign <= 0:
        return _deny(
            "take_profit_wrong_side", f"take profit {ctx.take_profit} is not beyond entry {entry}", ctx
        )
    distance = abs(entry - stop)
    if not band.min_stop_distance * entry <= distance <= band.max_stop_distance * entry:
        reason = (
            f"stop distance {distance / entry:.4%} is outside the {asset} band "
            f"{band.min_stop_distance:%} .. {band.max_stop_distance:%}"
        )
        return _deny("stop_distance", reason, ctx)
    if ctx.leverage < 1 or ctx.leverage > band.max_leverage:
        reason = f"leverage {ctx.leverage} is outside 1 .. {band.max_leverage} for {asset}"
        return _deny("leverage_setting", reason, ctx)
    if ctx.equity <= 0:
        return _deny("no_equity", f"the {asset} bucket has no equity ({ctx.equity})", ctx)
    cap = band.daily_loss_fraction * ctx.equity
    if loss >= cap:
        return _deny("daily_loss_cap", f"today's loss {loss} has reached the cap {cap}", ctx)
    if ctx.strategy_open_positions >= band.max_strategy_positions:
        held, most = ctx.strategy_open_positions, band.max_strategy_positions
        reason = f"strategy {ctx.strategy_id} holds {held} positions, the most allowed is {most}"
        return _deny("strategy_positions", reason, ctx)
    if rf <= 0:
        return _deny("drawdown_halt", "the drawdown throttle has reduced the risk fraction to 0", ctx)
    return None


def reference_pretrade_check(ctx: OrderContext, limits: RiskLimits) -> RiskDecision:
    band = limits.bands.get(ctx.instrument.asset)
    if band is None:
        return _deny("no_risk_band", f"no risk band configured for {ctx.asset.value}", ctx)
    rf = effective_risk_fraction(
        band.risk_fraction, drawdown(ctx.equity, ctx.high_water_mark), limits.drawdown_steps
    )
    loss = day_loss(ctx.realized_pnl_today, ctx.unrealized_pnl)
    denial = _denial(ctx, band, rf, loss)
    if denial is not None:
        return denial
    distance = abs(ctx.entry_price - ctx.stop_price)
    limits_ = _limits(ctx, band, rf, distance, loss)
    allowed, capped_by = _chain(limits_, limits_[0], 1)
    smallest = _smallest(ctx.instrument, ctx.entry_price)
    if allowed < smallest:
        binding = capped_by[-1] if capped_by else 0
        reason = (
            f"the smallest tradable size {smallest} breaks {_CODES[binding]}: "
            f"{_reason(binding, ctx, band, rf, distance, loss)}"
        )
        return _deny(_CODES[binding], reason, ctx)
    requested = ctx.requested_qty
    if requested is None:
        limit, lowering = allowed, capped_by
    elif requested < smallest:
        reason = f"requested {requested} is below the smallest tradable size {smallest}"
        return _deny("below_min_size", reason, ctx)
    else:
        limit, lowering = _chain(limits_, requested, 0)
    reductions = [
        Reduction(_CODES[i], limits_[i], _reason(i, ctx, band, rf, distance, loss)) for i in lowering
    ]
    qty = ctx.instrument.round_qty(limit)
    if requested is not None and qty != limit:
        reductions.append(
            Reduction("lot_step", qty, f"rounded down to the lot step {ctx.instrument.lot_step}")
        )
    risk_amount = qty * distance
    summary = f"approved {qty} risking {risk_amount}"
    if reductions:
        summary += f", reduced by {', '.join(r.code for r in reductions)}"
    return RiskDecision(
        True, "ok", summary, qty, ctx.stop_price, ctx.stop_is_default, risk_amount, rf, tuple(reductions)
    )


def reference_assess(
    limits: Mapping[Asset, RiskLimits], request: OrderRequest, context: PretradeContext, budget_available: D
) -> RiskDecision:
    asset_limits = limits.get(request.asset)
    if asset_limits is None:
        return RiskDecision(False, "no_risk_band", f"no risk limits for {request.asset.value}")
    rate, instrument = context.quote_rate, context.instrument
    stop = request.stop_loss
    band = asset_limits.bands.get(request.asset)
    if stop is None and band is not None:
        stop = default_stop(request.price, request.side, band, instrument.tick_size)
    held, open_risk, open_notional = 0, _ZERO, _ZERO
    for p in context.positions:
        open_notional += context.position_notional(p)
        if p.strategy_id == request.strategy_id:
            held += 1
            p_rate = context.position_rates.get(p.symbol, _ZERO)
            if p.stop_loss is None:
                open_risk += context.position_notional(p)
            else:
                open_risk += abs(p.qty) * abs(p.avg_price - p.stop_loss) * p_rate
    if rate != 1:
        instrument = attrs.evolve(
            instrument, tick_size=instrument.tick_size * rate, min_notional=instrument.min_notional * rate
        )
    ctx = OrderContext(
        instrument=instrument,
        side=request.side,
        entry_price=request.price * rate,
        stop_price=stop * rate if stop is not None else None,
        equity=context.equity,
        bucket_available=budget_available,
        strategy_id=request.strategy_id,
        take_profit=request.take_profit * rate if request.take_profit is not None else None,
        requested_qty=request.qty,
        high_water_mark=context.high_water_mark,
        realized_pnl_today=context.realized_today,
        unrealized_pnl=context.unrealized,
        strategy_open_positions=held,
        strategy_open_risk=open_risk,
        open_notional=open_notional,
        stop_is_default=request.stop_loss is None,
    )
    decision = reference_pretrade_check(ctx, asset_limits)
    if stop is None or (ctx.stop_price is not None and ctx.stop_price.compare_total(stop) == 0):
        return decision
    return attrs.evolve(decision, stop_price=stop)


def exactly(decision: RiskDecision) -> tuple[object, ...]:
    """Every field, numbers by their digits (2 and 2.0 differ: both reach users as text)."""
    return (
        decision.allowed,
        decision.code,
        decision.reason,
        str(decision.qty),
        str(decision.stop_price),
        decision.stop_is_default,
        str(decision.risk_amount),
        str(decision.risk_fraction),
        tuple((r.code, str(r.limit), r.reason) for r in decision.reductions),
    )


# --- generated cases --------------------------------------------------------------------------------

LIMITS = RiskLimits()
ODD = st.integers(1, 10).map(lambda n: n == 3)
LOTS = st.sampled_from([D(1), D("0.1"), D("0.01"), D("0.001"), D("0.00001"), D("0.000001")])
PRICES = st.integers(1, 10_000_000).map(lambda n: D(n) / 100)


def _pct(lo, hi):
    return st.integers(lo, hi).map(lambda n: D(n) / 100)


@st.composite
def contexts(draw):
    asset = draw(st.sampled_from(list(Asset)))
    band = DEFAULT_BANDS[asset]
    lot = draw(LOTS)
    min_notional = D(draw(st.sampled_from([0, 0, 1, 5, "0.00"])))
    inst = Instrument("SYM", asset, "B", "Q", D("0.01"), lot, lot * draw(st.integers(1, 20)), min_notional)
    side = draw(st.sampled_from(list(Side)))
    entry = draw(PRICES)
    if draw(ODD):
        entry = -entry if draw(st.booleans()) else _ZERO
    fraction = draw(st.integers(1, 3000).map(lambda n: D(n) / 10_000))
    stop = entry - side.sign * entry * fraction * (-1 if draw(ODD) else 1)
    take_profit = entry + side.sign * entry * fraction * (-1 if draw(ODD) else 2) if draw(ODD) else None
    equity = D(0) if draw(ODD) and draw(ODD) else draw(st.integers(1, 10**8).map(lambda n: D(n) / 100))
    leverage = (
        draw(st.sampled_from([0, 2, 30])) if draw(ODD) else draw(st.integers(1, int(band.max_leverage)))
    )
    ctx = OrderContext(
        instrument=inst,
        side=side,
        entry_price=entry,
        stop_price=None if draw(ODD) else stop,
        equity=equity,
        bucket_available=equity * draw(_pct(-5, 150)),
        strategy_id="s1",
        take_profit=take_profit,
        leverage=D(leverage),
        high_water_mark=equity * draw(_pct(90, 200)) if draw(st.booleans()) else None,
        realized_pnl_today=equity * draw(_pct(-8, 5)),
        unrealized_pnl=equity * draw(_pct(-2, 5)),
        strategy_open_positions=draw(st.integers(0, band.max_strategy_positions)),
        strategy_open_risk=equity * draw(_pct(0, 8) if draw(st.booleans()) else _pct(0, 1)),
        open_notional=equity * band.max_leverage * draw(_pct(0, 120)),
        stop_is_default=draw(st.booleans()),
    )
    # Requests far below, just around and far above the size the caps allow (where a cap starts to bind).
    kind = draw(st.sampled_from(["none", "any", "near"]))
    if kind == "any":
        return attrs.evolve(ctx, requested_qty=draw(st.integers(1, 10**9).map(lambda n: D(n) / 1000)))
    if kind == "near":
        allowed = reference_pretrade_check(attrs.evolve(ctx, requested_qty=None), LIMITS)
        if allowed.allowed:
            nudge = lot * draw(st.integers(-2, 2)) + draw(st.sampled_from([_ZERO, D("1E-9"), D("-1E-9")]))
            return attrs.evolve(ctx, requested_qty=allowed.qty + nudge)
    return ctx


@settings(max_examples=800, deadline=None)
@given(contexts())
def test_pretrade_check_decides_as_the_plain_rules_do(ctx):
    assert exactly(pretrade_check(ctx, LIMITS)) == exactly(reference_pretrade_check(ctx, LIMITS))


def test_a_request_exactly_at_a_cap_is_kept_and_one_a_lot_above_is_reduced():
    # Budget 1000 at entry 100: the budget allows 10 units exactly (the smallest limit; risk allows 4000).
    ctx = OrderContext(
        instrument=Instrument("SYM", Asset.SPOT, "B", "Q", D("0.01"), D("0.001"), D("0.001")),
        side=Side.BUY,
        entry_price=D(100),
        stop_price=D(99),
        equity=D(100_000),
        bucket_available=D(1000),
        strategy_id="s1",
    )
    for requested in (D(10), D("10.000"), D("10.001"), D("9.9995"), D("0.001"), D("0.0009")):
        at = attrs.evolve(ctx, requested_qty=requested)
        assert exactly(pretrade_check(at, LIMITS)) == exactly(reference_pretrade_check(at, LIMITS))


# --- RiskManager.assess over contexts with open positions --------------------------------------------

STRATEGIES = st.sampled_from(["s1", "s2", "s3"])


@st.composite
def positions(draw, symbols):
    symbol = draw(st.sampled_from(symbols))
    qty = D(draw(st.integers(-5000, 5000))) / 1000
    price = draw(PRICES)
    stop = price * draw(_pct(80, 120)) if draw(st.booleans()) else None
    return Position(Asset.SPOT, symbol, qty, price, T0, strategy_id=draw(STRATEGIES), stop_loss=stop)


@st.composite
def assessments(draw):
    symbols = ["AAAUSD", "BBBUSD", "CCCEUR"]
    rates = {s: D(draw(st.sampled_from(["1", "1.0", "0.5", "1.0831", "0"]))) for s in symbols}
    held = tuple(draw(st.lists(positions(symbols), max_size=12)))
    inst = Instrument("AAAUSD", Asset.SPOT, "AAA", "USD", D("0.01"), D("0.001"), D("0.001"), D(5))
    equity = D(draw(st.integers(1, 10**7)))
    context = PretradeContext(
        instrument=inst,
        cash=equity * draw(_pct(0, 100)),
        equity=equity,
        quote_rate=D(draw(st.sampled_from(["1", "1.00", "0.93", "2"]))),
        positions=held,
        position_rates={s: rates[s] for s in symbols if draw(st.integers(0, 9))},
        realized_today=equity * draw(_pct(-3, 3)),
        high_water_mark=equity * draw(_pct(95, 130)) if draw(st.booleans()) else None,
        margin=draw(ODD),
    )
    price = draw(PRICES)
    side = draw(st.sampled_from(list(Side)))
    stop = price - side.sign * price * draw(_pct(1, 5)) if draw(st.booleans()) else None
    qty = D(draw(st.integers(1, 10**6))) / 1000 if draw(st.integers(0, 4)) else None
    request = OrderRequest(draw(STRATEGIES), Asset.SPOT, "AAAUSD", side, qty, price, stop)
    return request, context, equity * draw(_pct(-5, 150))


@settings(max_examples=400, deadline=None)
@given(assessments())
def test_assess_decides_as_the_plain_service_did(case):
    request, context, available = case
    limits = {Asset.SPOT: LIMITS}
    manager = RiskManager(limits)

    decision = manager.assess(request, context, budget_available=available)

    assert exactly(decision) == exactly(reference_assess(limits, request, context, available))


def test_assess_of_a_batch_counts_each_earlier_entry_as_it_grows():
    # As order_router's batch builds them: each context holds the previous one's positions plus one more.
    inst = Instrument("AAAUSD", Asset.SPOT, "AAA", "USD", D("0.01"), D("0.001"), D("0.001"))
    base = PretradeContext(inst, D(10_000), D(10_000), _ONE, (), {"AAAUSD": _ONE})
    manager, limits = RiskManager({Asset.SPOT: LIMITS}), {Asset.SPOT: LIMITS}
    context = base
    for n in range(12):
        strategy = f"s{n % 3}"
        request = OrderRequest(strategy, Asset.SPOT, "AAAUSD", Side.BUY, D(3), D(100), D(97))
        decision = manager.assess(request, context, budget_available=D(10_000) - D(300) * n)
        assert exactly(decision) == exactly(
            reference_assess(limits, request, context, D(10_000) - D(300) * n)
        )
        mate = Position(Asset.SPOT, "AAAUSD", decision.qty, D(100), T0, strategy_id=strategy, stop_loss=D(97))
        context = attrs.evolve(context, positions=(*context.positions, mate))


def test_a_band_that_caps_nothing_by_default_still_matches():
    band = RiskBand(max_position_fraction=D(1000), max_leverage=D(50), max_strategy_positions=50)
    limits = RiskLimits(bands={Asset.FUTURES: band})
    inst = Instrument("F", Asset.FUTURES, "F", "USD", D("0.5"), D(1), D(1))
    ctx = OrderContext(
        instrument=inst,
        side=Side.SELL,
        entry_price=D(2000),
        stop_price=D("2010.5"),
        equity=D(50_000),
        bucket_available=D(40_000),
        leverage=D(20),
        requested_qty=D(7),
    )
    assert exactly(pretrade_check(ctx, limits)) == exactly(reference_pretrade_check(ctx, limits))


def _binding(**overrides):
    fields = {
        "instrument": Instrument("SYM", Asset.SPOT, "B", "Q", D("0.01"), D("0.001"), D("0.001")),
        "side": Side.BUY,
        "entry_price": D(100),
        "stop_price": D(95),
        "equity": D(1_000_000),
        "bucket_available": D(10_000_000),
        "strategy_id": "s1",
    }
    fields.update(overrides)
    return OrderContext(**fields)


# Spot band: risk 2% -> 4000 units on a stop of 5; each case brings one other cap below that.
BINDING = {
    "risk_per_trade": (_binding(), LIMITS),
    "position_band": (
        _binding(),
        RiskLimits(bands={Asset.SPOT: RiskBand(risk_fraction=_ONE, max_position_fraction=D("0.1"))}),
    ),
    "leverage_cap": (_binding(open_notional=D(800_000)), LIMITS),
    "budget": (_binding(bucket_available=D(150_000)), LIMITS),
    "strategy_risk": (_binding(strategy_open_risk=D(45_000)), LIMITS),
    "daily_loss": (_binding(realized_pnl_today=D(-42_500)), LIMITS),
}


def test_each_cap_binding_alone_is_applied_as_the_plain_rules_apply_it():
    for code, (ctx, limits) in BINDING.items():
        allowed = reference_pretrade_check(ctx, limits)
        assert allowed.allowed
        assert [r.code for r in allowed.reductions][-1:] == ([code] if code != "risk_per_trade" else [])
        for nudge in (_ZERO, D("0.001"), D("-0.001"), D("1E-9"), D("-1E-9"), D(1), D(-1)):
            at = attrs.evolve(ctx, requested_qty=allowed.qty + nudge)
            assert exactly(pretrade_check(at, limits)) == exactly(reference_pretrade_check(at, limits)), (
                code,
                nudge,
            )
        assert exactly(pretrade_check(ctx, limits)) == exactly(allowed)
