"""The array fast path: the event path's rules as one compiled loop over float64 arrays (numba).

It repeats ``event_path`` step for step (the waiting order at the open, funding at the open, protection from
the bar after the entry with the stop loss first, the trailing ratchet, the mark at the close, the signals),
with the fill model's arithmetic in floats: prices rounded half-up to the tick, sizes down to the lot. A test
checks that both paths give the same trades. Without numba the same loop runs as plain Python (slow, equal).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from app.domain.money import quantize_nearest, to_decimal
from app.services.validation.bars import BarData
from app.services.validation.plan import REASONS, STOP_ATR, STOP_NONE, STOP_PCT, Plan
from app.services.validation.records import Simulation, Trade

__all__ = ["simulate_fast"]

Progress = Callable[[int, int], None]
FloatArray = npt.NDArray[np.float64]

_BPS = Decimal(10_000)

_SIGNAL, _STOP, _TARGET, _TRAIL, _END = 0, 1, 2, 3, 4
_TIE = 2e-15  # about nine ulps: wider than float noise, far narrower than a real gap to a half tick


def _scale(step: float) -> float:
    """1/step when that is a whole number (decimal steps): dividing by it rounds like Decimal does."""
    inverse = float(round(1.0 / step))
    return inverse if inverse >= 1 and abs(inverse * step - 1.0) < 1e-12 else 0.0


def _round_price(x: float, tick: float, scale: float) -> float:
    units = x * scale if scale > 0.0 else x / tick
    # Decimal rounds exact half ticks up; in floats they land a few ulps either side, so lean up by far
    # less than any real distance between prices of a few decimals.
    units = math.floor(units + 0.5 + abs(units) * _TIE)
    return units / scale if scale > 0.0 else units * tick


def _round_qty(x: float, lot: float, scale: float) -> float:
    units = x * scale if scale > 0.0 else x / lot
    units = math.floor(units + abs(units) * _TIE)
    return units / scale if scale > 0.0 else units * lot


def _distance(kind: int, value: float, atr: Any, price: float, i: int) -> float:
    if kind == STOP_PCT:
        return price * value
    if i == 0:
        return math.nan
    distance: float = value * atr[i - 1]
    return distance


def _level(kind: int, value: float, atr: Any, price: float, i: int, direction: float, k: Any) -> float:
    if kind == STOP_NONE:
        return math.nan
    return _round_price(price + direction * _distance(kind, value, atr, price, i), k[0], k[1])


def _record(
    out: Any,
    count: int,
    entry_bar: int,
    i: int,
    qty: float,
    entry: float,
    price: float,
    entry_fee: float,
    exit_fee: float,
    paid: float,
    reason: int,
) -> float:
    """Write trade ``count``; return what closing it adds to the cash."""
    gross = (price - entry) * qty
    out[0][count], out[1][count], out[2][count], out[3][count] = entry_bar, i, qty > 0, abs(qty)
    out[4][count], out[5][count], out[6][count] = entry, price, entry_fee + exit_fee
    out[7][count], out[8][count], out[9][count] = paid, gross - entry_fee - exit_fee + paid, reason
    return gross - exit_fee


def _protection(long: bool, o: float, h: float, low: float, sl: float, tp: float, trail: float) -> Any:
    """``protection_trigger`` in floats, the tighter of stop loss and trailing stop as the stop: (reason,
    trigger price), reason -1 when nothing triggers. NaN levels never trigger."""
    stop, stop_reason = sl, _STOP
    if not math.isnan(trail) and (math.isnan(stop) or (trail > stop if long else trail < stop)):
        stop, stop_reason = trail, _TRAIL
    if long:
        if low <= stop:
            return stop_reason, min(o, stop)
        if h >= tp:
            return _TARGET, max(o, tp)
    else:
        if h >= stop:
            return stop_reason, max(o, stop)
        if low <= tp:
            return _TARGET, min(o, tp)
    return -1, 0.0


def _kernel(  # noqa: C901  # one loop mirroring the event path's steps; splitting it costs numba speed
    o: Any,
    h: Any,
    low: Any,
    c: Any,
    px: Any,
    signals: Any,
    funding: Any,
    stops: Any,
    atrs: Any,
    k: Any,
    out: Any,
) -> Any:
    """px: per bar a buy's and a sell's fill price at the open, on the tick. k: tick, tick scale, lot, lot
    scale, min qty, min notional, fee, slippage bps, latency, risk sizing, fraction, risk fraction, cash, the
    last close on the tick. stops: (kind, value) for stop loss, take profit, trailing."""
    n = len(o)
    fee, slip, latency, risk, fraction, risk_fraction = k[6], k[7], int(k[8]), k[9] > 0, k[10], k[11]
    cash = k[12]
    qty = 0.0  # signed
    entry = entry_fee = paid = best = trail_distance = 0.0
    sl = tp = trail = math.nan
    entry_bar = pending_bar = -1
    pending_side = 0  # +1 buy, -1 sell, 2 exit
    count = in_market = skipped = 0
    equity = out[10]
    for i in range(n):
        reason, price = -1, 0.0
        if pending_bar == i:
            pending_bar = -1
            side = pending_side
            if side == 2 and qty != 0.0:
                reason, price = _SIGNAL, px[1, i] if qty > 0 else px[0, i]
            elif side != 2 and qty == 0.0:
                p = px[0, i] if side > 0 else px[1, i]
                sl = _level(stops[0, 0], stops[0, 1], atrs[0], p, i, -side, k)
                tp = _level(stops[1, 0], stops[1, 1], atrs[1], p, i, side, k)
                trail = _level(stops[2, 0], stops[2, 1], atrs[2], p, i, -side, k)
                bad = (
                    (stops[0, 0] != STOP_NONE and not sl > 0.0)
                    or (stops[1, 0] != STOP_NONE and not tp > 0.0)
                    or (stops[2, 0] != STOP_NONE and not trail > 0.0)
                )
                size = 0.0
                if cash > 0.0 and not bad:
                    size = fraction * cash / (p * (1.0 + fee))
                    if risk and abs(p - sl) > 0.0:
                        size = min(size, cash * risk_fraction / abs(p - sl))
                    size = _round_qty(size, k[2], k[3])
                if size <= 0.0 or size < k[4] or size * p < k[5]:
                    skipped += 1
                    sl = tp = trail = math.nan
                else:
                    entry_fee = size * p * fee
                    cash -= entry_fee
                    qty, entry, entry_bar, best, paid = side * size, p, i, p, 0.0
                    if stops[2, 0] == STOP_ATR:
                        trail_distance = _distance(STOP_ATR, stops[2, 1], atrs[2], p, i)
        if reason < 0 and qty != 0.0 and funding[i] != 0.0:  # on the position the open's fill leaves
            charge = qty * o[i] * funding[i]
            cash -= charge
            paid -= charge
        if reason < 0 and qty != 0.0 and i > entry_bar:  # a fill at this open has no protection yet
            reason, level = _protection(qty > 0, o[i], h[i], low[i], sl, tp, trail)
            if reason >= 0 and level == o[i]:  # a gap: the exit is a market fill at the open
                price = px[1, i] if qty > 0 else px[0, i]
            elif reason >= 0:  # protection_fill: a taker fill at the level, slipped against the trader
                direction = -1.0 if qty > 0 else 1.0
                price = _round_price(level + direction * (level * slip / 1e4), k[0], k[1])
        if reason >= 0:
            exit_fee = abs(qty) * price * fee
            cash += _record(out, count, entry_bar, i, qty, entry, price, entry_fee, exit_fee, paid, reason)
            count += 1
            qty = 0.0
            sl = tp = trail = math.nan
        if qty != 0.0:
            in_market += 1
            if not math.isnan(trail):
                long = qty > 0
                best = max(best, h[i]) if long else min(best, low[i])
                distance = trail_distance if stops[2, 0] == STOP_ATR else best * stops[2, 1]
                level = _round_price(best + (-distance if long else distance), k[0], k[1])
                trail = max(trail, level) if long else min(trail, level)
            equity[i] = cash + qty * (c[i] - entry)
        else:
            equity[i] = cash
        if pending_bar < 0:
            if qty == 0.0:
                if signals[0, i]:
                    pending_side, pending_bar = 1, i + 1 + latency
                elif signals[2, i]:
                    pending_side, pending_bar = -1, i + 1 + latency
            elif signals[1, i] if qty > 0 else signals[3, i]:
                pending_side, pending_bar = 2, i + 1 + latency
    if qty != 0.0:
        last = n - 1
        price = k[13]
        exit_fee = abs(qty) * price * fee
        cash += _record(out, count, entry_bar, last, qty, entry, price, entry_fee, exit_fee, paid, _END)
        count += 1
        equity[last] = cash
    return count, in_market, skipped


_compiled: Any = None


def _compile() -> Any:
    global _compiled  # compiled once per process, on first use
    if _compiled is None:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba ships with the dev/ml extras
            _compiled = _kernel
        else:
            jit = numba.njit(cache=True, nogil=True)
            for helper in (_round_price, _round_qty, _distance, _level, _record, _protection):
                globals()[helper.__name__] = jit(helper)
            _compiled = jit(_kernel)
    return _compiled


def _on_tick(values: FloatArray, sign: int, slippage_bps: float, tick: float) -> FloatArray:
    """``fill_market_at_open``'s price for each value: moved ``sign`` x the slippage, rounded half-up to the
    tick as Decimal rounds it; values within float noise of a half tick are redone in Decimal."""
    scale = _scale(tick)
    raw = values + sign * (values * slippage_bps / 1e4)
    units = raw * scale if scale else raw / tick
    out: FloatArray = np.floor(units + 0.5)
    out = out / scale if scale else out * tick
    near = np.abs(units - np.floor(units) - 0.5) <= np.abs(units) * 1e-13 + 1e-9
    if near.any():
        step, bps = to_decimal(tick), to_decimal(slippage_bps)
        for i in np.flatnonzero(near).tolist():
            price = to_decimal(float(values[i]))
            out[i] = float(quantize_nearest(price + sign * (price * bps / _BPS), step))
    return out


def simulate_fast(plan: Plan, data: BarData, progress: Progress | None = None) -> Simulation:
    """Run ``plan`` over ``data`` in the compiled loop; the same trades as ``simulate_events``."""
    n = len(data)
    signals = np.vstack([plan.long_entry, plan.long_exit, plan.short_entry, plan.short_exit])
    parts = (plan.stop_loss, plan.take_profit, plan.trailing)
    stops = np.array([[float(p.kind), p.value] for p in parts])
    atrs = tuple(p.atr if p.kind == STOP_ATR else np.zeros(1) for p in parts)
    constants = np.array(
        [
            plan.tick,
            _scale(plan.tick),
            plan.lot,
            _scale(plan.lot),
            plan.min_qty,
            plan.min_notional,
            plan.fee_rate,
            plan.slippage_bps,
            float(plan.latency),
            float(plan.risk_sizing),
            plan.fraction,
            plan.risk_fraction,
            plan.cash,
            float(_on_tick(data.close[-1:], 0, 0.0, plan.tick)[0]),
        ]
    )
    buy = _on_tick(data.open, 1, plan.slippage_bps, plan.tick)
    sell = buy if plan.slippage_bps == 0 else _on_tick(data.open, -1, plan.slippage_bps, plan.tick)
    px = np.vstack([buy, sell])
    slots = n // 2 + 2
    equity = np.empty(n)
    out = (
        np.zeros(slots, np.int64),
        np.zeros(slots, np.int64),
        np.zeros(slots, np.bool_),
        *(np.zeros(slots) for _ in range(6)),
        np.zeros(slots, np.int64),
        equity,
    )
    count, in_market, skipped = _compile()(
        data.open, data.high, data.low, data.close, px, signals, plan.funding, stops, atrs, constants, out
    )
    count = int(count)
    entries, exits = out[0][:count].tolist(), out[1][:count].tolist()
    times = data.times(np.concatenate((out[0][:count], out[1][:count])))
    rows = zip(
        entries,
        exits,
        times[:count],
        times[count:],
        out[2][:count].tolist(),
        *(column[:count].tolist() for column in out[3:10]),
        strict=True,
    )
    trades = tuple(
        Trade(
            e, x, opened, closed, "long" if long else "short", qty, p_in, p_out, fees, paid, pnl, REASONS[why]
        )
        for e, x, opened, closed, long, qty, p_in, p_out, fees, paid, pnl, why in rows
    )
    if progress is not None:
        progress(n, n)
    return Simulation(trades, equity, int(in_market), int(skipped))
