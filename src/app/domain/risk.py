"""Per-trade risk (the risk_manager's rules): the equity-at-risk size and the pre-trade check.

``qty = equity x risk_fraction / |entry - stop|`` in the instrument's units, ``risk_fraction`` being
the asset band's, throttled by the bucket's drawdown. That quantity is capped by the position band, the
leverage cap, the budget, the strategy's open risk and the daily loss room (see ``_Caps``), then rounded
down to the lot step. A requested size above it is reduced, each reduction recorded with its reason; an
order is denied only when even the smallest tradable size (min qty and min notional, rounded up to the lot
step) breaks a rule. Risk excludes fees and slippage. Divisions round toward zero, so Decimal rounding never
overstates a cap. The limits, the entry's terms and the decisions are values of ``risk_values``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal

import attrs

from app.domain.budget import affordable_notional
from app.domain.risk_values import (
    DrawdownStep,
    OrderContext,
    OrderTerms,
    Reduction,
    RiskBand,
    RiskDecision,
    RiskLimits,
    SizeResult,
)
from app.domain.values import Instrument, Side

__all__ = [
    "compute_size",
    "day_loss",
    "default_stop",
    "drawdown",
    "effective_risk_fraction",
    "pretrade_check",
    "smallest_tradable_qty",
    "with_default_stop",
]

_ZERO = Decimal(0)
_ONE = Decimal(1)
# Caps divide at 40 digits rounding toward -inf; one shared context, not a localcontext() per division.
_FLOOR = Context(prec=40, rounding=ROUND_FLOOR)
# Rounds up to an integer (its to_integral_value; precision plays no part there): a keyword per call costs more.
_CEILING = Context(rounding=ROUND_CEILING)


def drawdown(equity: Decimal, high_water_mark: Decimal | None) -> Decimal:
    """``(hwm - equity) / hwm`` as a fraction in [0, 1]; 0 at or above the mark or without one."""
    if high_water_mark is None or high_water_mark <= 0 or equity >= high_water_mark:
        return _ZERO
    return min(_ONE, (high_water_mark - max(equity, _ZERO)) / high_water_mark)


def effective_risk_fraction(
    base: Decimal, current_drawdown: Decimal, steps: Sequence[DrawdownStep]
) -> Decimal:
    """``base`` times the multiplier of the deepest step reached: back to ``base`` once it recovers."""
    deepest = None  # the first of the deepest steps reached, as max() would pick it
    for step in steps:
        if current_drawdown >= step.drawdown and (deepest is None or step.drawdown > deepest.drawdown):
            deepest = step
    if deepest is None:
        return base
    return base * deepest.risk_multiplier


def _throttled(ctx: OrderTerms, band: RiskBand, limits: RiskLimits) -> Decimal:
    equity, high_water_mark = ctx.equity, ctx.high_water_mark
    # At or above the mark the drawdown is 0 and no step is reached (each starts above 0): the base as it is,
    # without the two calls (the usual case, once per order).
    if high_water_mark is None or equity >= high_water_mark:
        return band.risk_fraction
    dd = drawdown(equity, high_water_mark)
    return effective_risk_fraction(band.risk_fraction, dd, limits.drawdown_steps)


def default_stop(entry: Decimal, side: Side, band: RiskBand, tick: Decimal | None = None) -> Decimal:
    """The asset's protective stop: ``default_stop_distance`` below a buy's entry (above a sell's).

    With ``tick`` it is rounded to the tick away from the entry, so the stop never moves closer than the band.
    """
    stop = entry * (_ONE - side.sign * band.default_stop_distance)
    if tick is None:
        return stop
    rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
    return (stop / tick).to_integral_value(rounding=rounding) * tick


def with_default_stop(ctx: OrderContext, limits: RiskLimits) -> OrderContext:
    """``ctx`` with the asset's default stop when it has none (marked ``stop_is_default``); else unchanged."""
    band = limits.bands.get(ctx.asset)
    if ctx.stop_price is not None or band is None:
        return ctx
    stop = default_stop(ctx.entry_price, ctx.side, band, ctx.instrument.tick_size)
    return attrs.evolve(ctx, stop_price=stop, stop_is_default=True)


def day_loss(realized_pnl_today: Decimal, unrealized_pnl: Decimal) -> Decimal:
    """Today's loss as a positive amount: realised P&L plus open losses (open gains do not offset)."""
    # max(0, -(realized + min(unrealized, 0))) spelled with comparisons (same results, ties included):
    # once per order, and the builtins' calls cost more than the sums.
    loss = -(realized_pnl_today + (_ZERO if unrealized_pnl > _ZERO else unrealized_pnl))
    return loss if loss > _ZERO else _ZERO


def smallest_tradable_qty(instrument: Instrument, price: Decimal) -> Decimal:
    """The smallest size the venue takes at ``price``: min qty and min notional, rounded up to the lot."""
    # max() spelled as the comparison it makes (the later argument only when greater): once per order, and
    # the builtin's call costs more than the comparison. Without a min notional its quotient (a zero) is not
    # worked out: a zero or anything below it rounds up to one lot alike.
    floor_qty, min_notional = instrument.min_qty, instrument.min_notional
    if min_notional and price > _ZERO:
        by_notional = min_notional / price
        if by_notional > floor_qty:
            floor_qty = by_notional
    elif floor_qty < _ZERO:
        floor_qty = _ZERO
    step = instrument.lot_step
    units = _CEILING.to_integral_value(floor_qty / step)
    return (_ONE if units < _ONE else units) * step


_CAP_CODES = ("risk_per_trade", "position_band", "leverage_cap", "budget", "strategy_risk", "daily_loss")
"""The rules that cap a size, in the order they are applied; the first is the risk formula itself."""


def _rooms(ctx: OrderTerms, band: RiskBand, rf: Decimal, loss_today: Decimal) -> tuple[Decimal, ...]:
    """Each rule's room in money, in ``_CAP_CODES`` order: its limit is the room over the stop distance (risk
    rules) or over the entry (notional rules), see ``_Caps``."""
    equity = ctx.equity
    return (
        equity * rf,
        band.max_position_fraction * equity,
        band.max_leverage * equity - ctx.open_notional,
        affordable_notional(ctx.instrument.asset, ctx.bucket_available, ctx.leverage),
        band.max_strategy_risk_fraction * equity - ctx.strategy_open_risk,
        band.daily_loss_fraction * equity - loss_today,
    )


def _smallest_limit(rooms: tuple[Decimal, ...], distance: Decimal, entry: Decimal) -> Decimal:
    """The value of the smallest of ``_Caps(...).limits`` (not necessarily the same digits), with two divisions
    rather than six: over a positive unit the quotient rounded down never falls as the room grows, so the
    smallest room over each unit gives that unit's smallest limit (both units are positive once _price_denial has
    passed the entry and the stop distance). Once per order: divisions are dear."""
    by_distance = _FLOOR.divide(min(rooms[0], rooms[4], rooms[5]), distance)
    by_entry = _FLOOR.divide(min(rooms[1], rooms[2], rooms[3]), entry)
    return by_entry if by_entry < by_distance else by_distance


class _Caps:
    """Every rule of ``_CAP_CODES`` as the largest quantity it allows (``limits``, same order). A rule's reason is
    worded only when it binds (most never do), from the inputs kept here."""

    __slots__ = ("band", "ctx", "distance", "limits", "loss_today", "rf")

    def __init__(
        self,
        ctx: OrderTerms,
        band: RiskBand,
        rf: Decimal,
        distance: Decimal,
        loss_today: Decimal,
        rooms: tuple[Decimal, ...] | None = None,
    ) -> None:
        self.ctx, self.band, self.rf, self.distance, self.loss_today = ctx, band, rf, distance, loss_today
        if rooms is None:
            rooms = _rooms(ctx, band, rf, loss_today)
        entry = ctx.entry_price
        # Room in money over money per unit of qty, one pair per rule. Plain tuples and one map over the
        # divisions: a closure and a record per rule cost more than the maths.
        units = (distance, entry, entry, entry, distance, distance)
        self.limits: tuple[Decimal, ...] = tuple(map(_FLOOR.divide, rooms, units))

    def chain(self, start: Decimal, first: int) -> tuple[Decimal, tuple[int, ...]]:
        """The smallest of ``start`` and the limits from index ``first`` on, and the index of each limit that
        lowered the running one, in order."""
        limits = self.limits
        if min(limits[first:]) >= start:  # the usual case for a request: no rule lowers it
            return start, ()
        limit, lowering = start, []
        for index in range(first, len(limits)):
            if limits[index] < limit:
                limit = limits[index]
                lowering.append(index)
        return limit, tuple(lowering)

    def reductions(self, indexes: Sequence[int]) -> tuple[Reduction, ...]:
        if not indexes:
            return ()
        return tuple(Reduction(_CAP_CODES[i], self.limits[i], self.reason(i)) for i in indexes)

    def reason(self, index: int) -> str:
        """Why the rule at ``index`` caps the size."""
        ctx, band, equity = self.ctx, self.band, self.ctx.equity
        match _CAP_CODES[index]:
            case "risk_per_trade":
                return f"risk {self.rf} x equity {equity} over a stop of {self.distance}"
            case "position_band":
                return f"one position's notional is at most {band.max_position_fraction} x equity {equity}"
            case "leverage_cap":
                return f"open notional {ctx.open_notional} plus this order is at most {band.max_leverage}x equity"
            case "budget":
                return f"the bucket has {ctx.bucket_available} available at leverage {ctx.leverage}"
            case "strategy_risk":
                return (
                    f"strategy open risk {ctx.strategy_open_risk} plus this trade's is at most "
                    f"{band.max_strategy_risk_fraction} x equity"
                )
            case _:  # "daily_loss"
                return (
                    f"a stop-out cannot take today's loss {self.loss_today} past {band.daily_loss_fraction} "
                    "x equity"
                )


def compute_size(ctx: OrderContext, limits: RiskLimits) -> SizeResult:
    """The largest quantity the rules allow for ``ctx`` (requested size ignored), rounded down to the lot.

    Without a stop, the asset's default stop is used for sizing and reported as such.
    """
    band = limits.bands.get(ctx.asset)
    if band is None:
        reason = f"no risk band configured for {ctx.asset.value}"
        return SizeResult(_ZERO, _ZERO, _ZERO, None, False, (), "no_risk_band", reason)
    sized = with_default_stop(ctx, limits)
    assert sized.stop_price is not None  # noqa: S101 - with_default_stop always sets one when a band exists
    rf = _throttled(ctx, band, limits)
    distance = abs(ctx.entry_price - sized.stop_price)
    if distance == 0 or ctx.entry_price <= 0:
        reason = f"entry {ctx.entry_price} and stop {sized.stop_price} leave no distance to size on"
        return SizeResult(
            _ZERO, rf, _ZERO, sized.stop_price, sized.stop_is_default, (), "no_stop_distance", reason
        )
    caps = _Caps(sized, band, rf, distance, day_loss(ctx.realized_pnl_today, ctx.unrealized_pnl))
    limit, capped_by = caps.chain(caps.limits[0], 1)
    qty = ctx.instrument.round_qty(limit) if limit > 0 else _ZERO
    return SizeResult(
        qty, rf, qty * distance, sized.stop_price, sized.stop_is_default, caps.reductions(capped_by)
    )


def _deny(code: str, reason: str, ctx: OrderTerms) -> RiskDecision:
    return RiskDecision(False, code, reason, stop_price=ctx.stop_price, stop_is_default=ctx.stop_is_default)


def _price_denial(ctx: OrderTerms, band: RiskBand) -> RiskDecision | None:
    # Comparisons with Decimal zeros rather than int literals (converted on every comparison), and a
    # difference times the side's sign (+-1, exact) compared by the sign's comparison: once per order.
    entry, stop, side = ctx.entry_price, ctx.stop_price, ctx.side
    if stop is None:
        return _deny("no_stop", "every order needs a stop loss (apply the asset's default stop)", ctx)
    if entry <= _ZERO or stop <= _ZERO:
        return _deny("bad_price", f"entry {entry} and stop {stop} must be positive", ctx)
    buy = side is Side.BUY
    to_stop = stop - entry
    if to_stop >= _ZERO if buy else to_stop <= _ZERO:  # (stop - entry) x sign >= 0
        where = "below" if buy else "above"
        return _deny("stop_wrong_side", f"a {side} needs its stop {where} entry {entry}, got {stop}", ctx)
    take_profit = ctx.take_profit
    if take_profit is not None:
        to_target = take_profit - entry
        if to_target <= _ZERO if buy else to_target >= _ZERO:  # (take_profit - entry) x sign <= 0
            reason = f"take profit {take_profit} is not beyond entry {entry}"
            return _deny("take_profit_wrong_side", reason, ctx)
    distance = abs(entry - stop)
    if not band.min_stop_distance * entry <= distance <= band.max_stop_distance * entry:
        reason = (
            f"stop distance {distance / entry:.4%} is outside the {ctx.instrument.asset.value} band "
            f"{band.min_stop_distance:%} .. {band.max_stop_distance:%}"
        )
        return _deny("stop_distance", reason, ctx)
    return None


def _state_denial(ctx: OrderTerms, band: RiskBand, rf: Decimal, loss: Decimal) -> RiskDecision | None:
    # Decimal constants rather than int literals: an int is converted on every comparison (once per order).
    if ctx.leverage < _ONE or ctx.leverage > band.max_leverage:
        reason = (
            f"leverage {ctx.leverage} is outside 1 .. {band.max_leverage} for {ctx.instrument.asset.value}"
        )
        return _deny("leverage_setting", reason, ctx)
    if ctx.equity <= _ZERO:
        return _deny(
            "no_equity", f"the {ctx.instrument.asset.value} bucket has no equity ({ctx.equity})", ctx
        )
    cap = band.daily_loss_fraction * ctx.equity
    if loss >= cap:
        return _deny("daily_loss_cap", f"today's loss {loss} has reached the cap {cap}", ctx)
    if ctx.strategy_open_positions >= band.max_strategy_positions:
        held, most = ctx.strategy_open_positions, band.max_strategy_positions
        reason = f"strategy {ctx.strategy_id} holds {held} positions, the most allowed is {most}"
        return _deny("strategy_positions", reason, ctx)
    if rf <= _ZERO:
        return _deny("drawdown_halt", "the drawdown throttle has reduced the risk fraction to 0", ctx)
    return None


def _within_caps(
    ctx: OrderTerms, caps: _Caps, smallest: Decimal
) -> tuple[Decimal, tuple[Reduction, ...]] | RiskDecision:
    """The size the caps allow (at most the request), rounded down to the lot, with its reductions; a denial
    when the smallest tradable size breaks a cap or the request is too small."""
    allowed, capped_by = caps.chain(caps.limits[0], 1)
    if allowed < smallest:
        binding = capped_by[-1] if capped_by else 0
        code = _CAP_CODES[binding]
        reason = f"the smallest tradable size {smallest} breaks {code}: {caps.reason(binding)}"
        return _deny(code, reason, ctx)
    if ctx.requested_qty is None:
        return ctx.instrument.round_qty(allowed), caps.reductions(capped_by)
    return _fit_request(ctx, caps, smallest)


def _fit_request(
    ctx: OrderTerms, caps: _Caps, smallest: Decimal
) -> tuple[Decimal, tuple[Reduction, ...]] | RiskDecision:
    """The request reduced by every cap below it and rounded down to the lot; a denial if it is too small."""
    requested = ctx.requested_qty
    assert requested is not None  # noqa: S101 - only called with a request
    if requested < smallest:
        reason = f"requested {requested} is below the smallest tradable size {smallest}"
        return _deny("below_min_size", reason, ctx)
    limit, lowering = caps.chain(requested, 0)
    reductions = caps.reductions(lowering)
    qty = ctx.instrument.round_qty(limit)
    if qty != limit:
        reductions = (*reductions, _lot_reduction(ctx.instrument, qty))
    return qty, reductions


def _lot_reduction(instrument: Instrument, qty: Decimal) -> Reduction:
    return Reduction("lot_step", qty, f"rounded down to the lot step {instrument.lot_step}")


def pretrade_check(ctx: OrderTerms, limits: RiskLimits) -> RiskDecision:
    """Check one entry against the asset's band and approve the largest size at or below the request.

    Denied only when a rule fails for any size, or the smallest tradable size breaks a cap; otherwise the
    request (or, without one, the computed size) is reduced to what the caps allow. ``ctx`` is an
    ``OrderContext`` or any record of its fields (``OrderTerms``).
    """
    band = limits.bands.get(ctx.instrument.asset)
    if band is None:
        return _deny("no_risk_band", f"no risk band configured for {ctx.instrument.asset.value}", ctx)
    rf = _throttled(ctx, band, limits)
    loss_today = day_loss(ctx.realized_pnl_today, ctx.unrealized_pnl)
    # Not `or`: a denial is falsy.
    denial = _price_denial(ctx, band)
    if denial is None:
        denial = _state_denial(ctx, band, rf, loss_today)
    if denial is not None:
        return denial
    instrument, entry, stop = ctx.instrument, ctx.entry_price, ctx.stop_price
    assert stop is not None  # noqa: S101 - _price_denial refused a missing stop
    distance = abs(entry - stop)
    rooms = _rooms(ctx, band, rf, loss_today)
    smallest = smallest_tradable_qty(instrument, entry)
    requested = ctx.requested_qty
    if requested is not None and smallest <= requested <= _smallest_limit(rooms, distance, entry):
        # The usual request: no cap lowers it (nor can the smallest size break one), only the lot may. Each
        # limit and the reductions' chain are worked out only when a cap binds (_within_caps).
        qty = instrument.round_qty(requested)
        reductions: tuple[Reduction, ...] = ()
        if qty != requested:
            reductions = (_lot_reduction(instrument, qty),)
    else:
        fitted = _within_caps(ctx, _Caps(ctx, band, rf, distance, loss_today, rooms), smallest)
        if isinstance(fitted, RiskDecision):
            return fitted
        qty, reductions = fitted
    risk_amount = qty * distance
    # !s: str() prints a Decimal as format() does, in a third of the time (once per approved order).
    summary = f"approved {qty!s} risking {risk_amount!s}"
    if reductions:
        summary += f", reduced by {', '.join(r.code for r in reductions)}"
    return RiskDecision(True, "ok", summary, qty, stop, ctx.stop_is_default, risk_amount, rf, reductions)
