"""What both simulation paths read: the spec's signals made tradeable, its stops, sizing, costs and steps.

Entries are masked before the spec's warm-up (an ATR stop needs its ATR) and before ``trade_start`` (the bars
before it only warm the indicators up); short entries are dropped on spot, where the paper venue has no
shorting. Exits stay as computed: an exit never opens anything.
"""

from __future__ import annotations

from typing import final

import attrs
import numpy as np
import numpy.typing as npt

from app.domain.values import Asset, Instrument
from app.learning.features import indicators
from app.learning.strategies import StopRule, StrategySpec, compute_signals, warmup_bars
from app.services.validation.bars import BarData

__all__ = [
    "REASONS",
    "STOP_ATR",
    "STOP_NONE",
    "STOP_PCT",
    "Plan",
    "StopPlan",
    "make_plan",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

STOP_NONE, STOP_PCT, STOP_ATR = 0, 1, 2
REASONS = ("signal", "stop_loss", "take_profit", "trailing_stop", "end")
"""Exit reasons by the code the fast path stores."""


@final
@attrs.frozen(eq=False)
class StopPlan:
    """A stop rule as numbers: ``kind`` (none, pct, atr), its ``value`` and the ATR series it multiplies."""

    kind: int
    value: float
    atr: FloatArray

    def distance(self, price: float, index: int) -> float:
        """The rule's distance from ``price`` for an entry filled at bar ``index`` (ATR of the bar before)."""
        if self.kind == STOP_PCT:
            return price * self.value
        return self.value * float(self.atr[index - 1]) if index > 0 else float("nan")


@final
@attrs.frozen(eq=False)
class Plan:
    long_entry: BoolArray
    long_exit: BoolArray
    short_entry: BoolArray
    short_exit: BoolArray
    stop_loss: StopPlan
    take_profit: StopPlan
    trailing: StopPlan
    fee_rate: float
    slippage_bps: float
    latency: int
    risk_sizing: bool
    fraction: float
    risk_fraction: float
    tick: float
    lot: float
    min_qty: float
    min_notional: float
    cash: float
    funding: FloatArray


def _stop(rule: StopRule | None, data: BarData, cache: dict[int, FloatArray]) -> StopPlan:
    empty = np.zeros(1)
    if rule is None:
        return StopPlan(STOP_NONE, 0.0, empty)
    if rule.pct is not None:
        return StopPlan(STOP_PCT, float(rule.pct), empty)
    period = rule.atr_period
    if period not in cache:
        cache[period] = indicators.atr(data.high, data.low, data.close, period)
    return StopPlan(STOP_ATR, float(rule.atr or 0.0), cache[period])


def make_plan(
    spec: StrategySpec, data: BarData, instrument: Instrument, cash: float, trade_start: int = 0
) -> Plan:
    """Signals, stops and trading constants of ``spec`` on ``data``."""
    signals = compute_signals(spec, data.frame())
    first = max(warmup_bars(spec), trade_start)
    long_entry = np.array(signals.long_entry, dtype=np.bool_)
    short_entry = np.array(signals.short_entry, dtype=np.bool_)
    long_entry[:first] = False
    short_entry[:first] = False
    if spec.asset is Asset.SPOT:
        short_entry[:] = False
    atr_cache: dict[int, FloatArray] = {}
    funding = data.funding if data.funding is not None else np.zeros(len(data))
    return Plan(
        long_entry=long_entry,
        long_exit=np.array(signals.long_exit, dtype=np.bool_),
        short_entry=short_entry,
        short_exit=np.array(signals.short_exit, dtype=np.bool_),
        stop_loss=_stop(spec.stop_loss, data, atr_cache),
        take_profit=_stop(spec.take_profit, data, atr_cache),
        trailing=_stop(spec.trailing_stop, data, atr_cache),
        fee_rate=spec.costs.fee_rate,
        slippage_bps=spec.costs.slippage_bps,
        latency=spec.execution.latency_bars,
        risk_sizing=spec.sizing.mode == "risk",
        fraction=spec.sizing.fraction,
        risk_fraction=spec.sizing.risk_fraction or 0.0,
        tick=float(instrument.tick_size),
        lot=float(instrument.lot_step),
        min_qty=float(instrument.min_qty),
        min_notional=float(instrument.min_notional),
        cash=cash,
        funding=np.ascontiguousarray(funding, dtype=np.float64),
    )
