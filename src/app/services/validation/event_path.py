"""The event-driven simulation: bar by bar over the domain fill model the paper venue uses.

Each bar, in order: the order waiting for this bar fills at its open (``fill_market_at_open``: slippage, tick,
taker fee); funding due at the open is charged on the position that fill leaves (``funding_payment``: a fill
at the funding time counts, as at the paper venue, which settles the fills at or before it); server-side
protection is checked over the bar (``protection_fill``: stop loss first when a bar touches both levels, a
taker fill at the level or at a gapping open, slipped) from the bar after the entry on, as the paper runtime
attaches it once the entry fill is reported; the trailing stop ratchets with
the bar's best price; the equity is marked at the close; and the bar's signals queue the next order, which
fills ``1 + latency_bars`` bars later. Money is Decimal throughout; the equity curve is float64.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import cast

import attrs
import numpy as np

from app.domain.fills import FillCosts, fill_market_at_open, funding_payment, protection_fill
from app.domain.money import ZERO, to_decimal
from app.domain.positions import apply_fill
from app.domain.values import Asset, Candle, ClosedTrade, Fill, Instrument, Position, Side
from app.services.validation.bars import BarData
from app.services.validation.plan import STOP_ATR, STOP_NONE, STOP_PCT, Plan, StopPlan
from app.services.validation.records import Simulation, Trade

__all__ = ["simulate_events"]

Progress = Callable[[int, int], None]

_ONE = Decimal(1)
_EXIT = None
_PROGRESS_EVERY = 4096


@attrs.define
class _Holding:
    position: Position
    entry_bar: int
    stop_loss: Decimal | None
    take_profit: Decimal | None
    trail: Decimal | None
    best: Decimal
    trail_distance: float
    funding: Decimal = ZERO

    @property
    def is_long(self) -> bool:
        return self.position.qty > 0


class _EventSimulation:
    def __init__(self, plan: Plan, data: BarData, asset: Asset, strategy_id: str, instrument: Instrument):
        self.plan = plan
        self.data = data
        self.asset = asset
        self.strategy_id = strategy_id
        self.instrument = instrument
        fee = to_decimal(plan.fee_rate)
        self.costs = FillCosts(taker_fee=fee, maker_fee=fee, slippage_bps=to_decimal(plan.slippage_bps))
        self.cash = to_decimal(plan.cash)
        self.holding: _Holding | None = None
        self.pending: tuple[Side | None, int] | None = None
        self.trades: list[Trade] = []
        self.equity = np.empty(len(data))
        self.in_market = 0
        self.skipped = 0
        self.seq = 0

    def run(self, progress: Progress | None) -> Simulation:
        n = len(self.data)
        for i in range(n):
            self.step(i)
            if progress is not None and i % _PROGRESS_EVERY == 0:
                progress(i, n)
        self.finish()
        if progress is not None:
            progress(n, n)
        return Simulation(tuple(self.trades), self.equity, self.in_market, self.skipped)

    def step(self, i: int) -> None:
        if self.pending is not None and self.pending[1] == i:
            side, _ = self.pending
            self.pending = None
            self.fill_pending(side, i)
        if self.holding is not None and self.plan.funding[i] != 0.0:
            self.charge_funding(self.holding, i)
        holding = self.holding
        if holding is not None and i > holding.entry_bar:
            self.protect(holding, i)
        holding = self.holding
        if holding is not None:
            self.in_market += 1
            self.ratchet(holding, i)
            qty, avg = float(holding.position.qty), float(holding.position.avg_price)
            self.equity[i] = float(self.cash) + qty * (self.data.close[i] - avg)
        else:
            self.equity[i] = float(self.cash)
        if self.pending is None:
            self.decide(i)

    def decide(self, i: int) -> None:
        plan, holding = self.plan, self.holding
        if holding is None:
            side = Side.BUY if plan.long_entry[i] else Side.SELL if plan.short_entry[i] else None
            if side is not None:
                self.pending = (side, i + 1 + plan.latency)
        elif plan.long_exit[i] if holding.is_long else plan.short_exit[i]:
            self.pending = (_EXIT, i + 1 + plan.latency)

    def candle(self, i: int) -> Candle:
        d = self.data
        return Candle(
            d.symbol,
            d.timeframe,
            d.time(i),
            float(d.open[i]),
            float(d.high[i]),
            float(d.low[i]),
            float(d.close[i]),
            float(d.volume[i]),
        )

    def charge_funding(self, holding: _Holding, i: int) -> None:
        mark, rate = to_decimal(float(self.data.open[i])), to_decimal(float(self.plan.funding[i]))
        paid = funding_payment(holding.position.qty, mark, rate)
        self.cash -= paid
        holding.funding -= paid

    def fill_pending(self, side: Side | None, i: int) -> None:
        holding = self.holding
        if side is _EXIT:
            if holding is not None:
                exit_side = holding.position.side.opposite
                fill = fill_market_at_open(
                    exit_side, abs(holding.position.qty), self.candle(i), self.instrument, self.costs
                )
                self.close(holding, i, fill.price, fill.fee, "signal")
            return
        if holding is None:
            self.enter(side, i)

    def level(self, stop: StopPlan, price: Decimal, i: int, direction: int) -> Decimal | None:
        """The level ``stop`` puts ``direction`` (-1 adverse, +1 favourable) of ``price``; NaN-safe."""
        if stop.kind == STOP_NONE:
            return None
        if stop.kind == STOP_PCT:
            # StopRule.distance's pct x price, in Decimal: an exact half tick must round as the exchange does.
            return self.instrument.round_price(price + direction * price * to_decimal(stop.value))
        distance = stop.distance(float(price), i)
        if not np.isfinite(distance):
            return Decimal("NaN")
        return self.instrument.round_price(price + direction * to_decimal(distance))

    def enter(self, side: Side, i: int) -> None:
        plan, instrument = self.plan, self.instrument
        candle = self.candle(i)
        price = fill_market_at_open(side, _ONE, candle, instrument, self.costs).price
        sign = side.sign
        stop_loss = self.level(plan.stop_loss, price, i, -sign)
        take_profit = self.level(plan.take_profit, price, i, sign)
        trail = self.level(plan.trailing, price, i, -sign)
        levels = [level for level in (stop_loss, take_profit, trail) if level is not None]
        equity = self.cash
        if equity <= 0 or any(level.is_nan() or level <= 0 for level in levels):
            self.skipped += 1
            return
        qty = to_decimal(plan.fraction) * equity / (price * (1 + self.costs.taker_fee))
        if plan.risk_sizing and stop_loss is not None:  # the spec refuses risk sizing without a stop loss
            at_risk = abs(price - stop_loss)
            if at_risk > 0:
                qty = min(qty, equity * to_decimal(plan.risk_fraction) / at_risk)
        qty = instrument.round_qty(qty)
        if qty <= 0 or qty < instrument.min_qty or qty * price < instrument.min_notional:
            self.skipped += 1
            return
        fill = fill_market_at_open(side, qty, candle, instrument, self.costs)
        self.cash -= fill.fee
        opened = apply_fill(
            None, self.fill(side, fill.qty, fill.price, fill.fee, i), strategy_id=self.strategy_id
        )
        trail_gap = plan.trailing.distance(float(price), i) if plan.trailing.kind == STOP_ATR else 0.0
        position = cast(Position, opened.position)  # a fill from flat always opens one
        self.holding = _Holding(position, i, stop_loss, take_profit, trail, price, trail_gap)

    def fill(self, side: Side, qty: Decimal, price: Decimal, fee: Decimal, i: int) -> Fill:
        self.seq += 1
        return Fill(
            fill_id=f"bt-{self.seq}",
            client_order_id=f"bt-{self.seq}",
            asset=self.asset,
            symbol=self.data.symbol,
            side=side,
            qty=qty,
            price=price,
            fee=fee,
            fee_currency=self.instrument.quote,
            ts=self.data.time(i),
        )

    def protect(self, holding: _Holding, i: int) -> None:
        long = holding.is_long
        stop, trailing = holding.stop_loss, False
        if holding.trail is not None and (
            stop is None or (holding.trail > stop if long else holding.trail < stop)
        ):
            stop, trailing = holding.trail, True
        hit = protection_fill(
            holding.position.qty, stop, holding.take_profit, self.candle(i), self.instrument, self.costs
        )
        if hit is None:
            return
        reason = "take_profit" if hit.kind == "tp" else "trailing_stop" if trailing else "stop_loss"
        self.close(holding, i, hit.price, hit.fee, reason)

    def ratchet(self, holding: _Holding, i: int) -> None:
        trailing = self.plan.trailing
        if trailing.kind == STOP_NONE or holding.trail is None:
            return
        long = holding.is_long
        extreme = to_decimal(float(self.data.high[i] if long else self.data.low[i]))
        holding.best = max(holding.best, extreme) if long else min(holding.best, extreme)
        if trailing.kind == STOP_ATR:
            distance = to_decimal(holding.trail_distance)
        else:
            distance = holding.best * to_decimal(trailing.value)
        level = self.instrument.round_price(holding.best + (-1 if long else 1) * distance)
        holding.trail = max(holding.trail, level) if long else min(holding.trail, level)

    def close(self, holding: _Holding, i: int, price: Decimal, fee: Decimal, reason: str) -> None:
        position = holding.position
        fill = self.fill(position.side.opposite, abs(position.qty), price, fee, i)
        closed = cast(ClosedTrade, apply_fill(position, fill, exit_reason=reason).closed)  # a full close
        self.cash += closed.pnl + position.entry_fees
        self.holding = None
        self.trades.append(
            Trade(
                entry_bar=holding.entry_bar,
                exit_bar=i,
                entry_time=closed.entry_time,
                exit_time=closed.exit_time,
                side="long" if position.qty > 0 else "short",
                qty=float(closed.qty),
                entry_price=float(closed.entry_price),
                exit_price=float(closed.exit_price),
                fees=float(closed.fees),
                funding=float(holding.funding),
                pnl=float(closed.pnl + holding.funding),
                exit_reason=reason,
            )
        )

    def finish(self) -> None:
        """Close what is still open at the last close (``end``), paying the taker fee, as a final mark."""
        if self.holding is None:
            return
        last = len(self.data) - 1
        price = self.instrument.round_price(to_decimal(float(self.data.close[last])))
        fee = abs(self.holding.position.qty) * price * self.costs.taker_fee
        self.close(self.holding, last, price, fee, "end")
        self.equity[last] = float(self.cash)


def simulate_events(
    plan: Plan,
    data: BarData,
    *,
    asset: Asset,
    strategy_id: str,
    instrument: Instrument,
    progress: Progress | None = None,
) -> Simulation:
    """Run ``plan`` over ``data`` bar by bar through the domain fill model."""
    return _EventSimulation(plan, data, asset, strategy_id, instrument).run(progress)
