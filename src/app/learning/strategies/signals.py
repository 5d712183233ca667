"""Spec -> signals: the rules evaluated over a whole history (research) or bar by bar (the live runtime).

A signal on bar i uses data up to and including bar i's close; whoever trades it acts at bar i+1's open
(plus the spec's latency). ``compute_signals`` and ``SignalEngine`` run the same rule code: the engine keeps
a bounded window of recent bars in preallocated buffers and evaluates the rules over that window. Rolling
indicators (SMA, highest, Bollinger) then equal the full-history values exactly; recursive ones (EMA, RSI,
ATR, MACD) start from a later seed and agree once the window is long enough for the seed to have decayed,
which the default window (ten times the spec's warm-up, at least 300 bars) provides.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, final

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from app.domain.errors import AppError, ValidationFailed
from app.domain.values import Candle
from app.learning.strategies.rules import SERIES, Rule
from app.learning.strategies.spec import RULE_NAMES, StrategySpec

__all__ = ["BarSignal", "SignalEngine", "SignalError", "Signals", "compute_signals", "warmup_bars"]

BoolArray = npt.NDArray[np.bool_]

_MIN_WINDOW = 300


class SignalError(AppError):
    """The live engine was fed a bar it cannot use (another symbol or timeframe, or out of order)."""


def _readonly(values: BoolArray) -> BoolArray:
    values.setflags(write=False)
    return values


@final
@attrs.frozen(eq=False)
class Signals:
    """One boolean array per rule, all of the data's length; a rule the spec lacks is all False."""

    long_entry: BoolArray = attrs.field(converter=_readonly)
    long_exit: BoolArray = attrs.field(converter=_readonly)
    short_entry: BoolArray = attrs.field(converter=_readonly)
    short_exit: BoolArray = attrs.field(converter=_readonly)

    def __len__(self) -> int:
        return len(self.long_entry)


@final
@attrs.frozen
class BarSignal:
    """The signals of one bar, as the live engine saw it at the bar's close."""

    ts: datetime
    long_entry: bool = False
    long_exit: bool = False
    short_entry: bool = False
    short_exit: bool = False


def warmup_bars(spec: StrategySpec) -> int:
    """Bars needed before the spec can signal: its rules' lookback and the ATR of any ATR-based stop."""
    lookbacks = [rule.lookback for rule in spec.rules().values()]
    for stop in (spec.stop_loss, spec.take_profit, spec.trailing_stop):
        if stop is not None and stop.atr is not None:
            lookbacks.append(stop.atr_period)
    return max(lookbacks, default=0)


def _frame(spec: StrategySpec, data: Mapping[str, npt.ArrayLike] | pd.DataFrame) -> dict[str, np.ndarray]:
    source = f"data for spec {spec.id}"
    needed = set().union(*(rule.inputs for rule in spec.rules().values()))
    missing = [(name, "missing: the spec's rules read it") for name in sorted(needed) if name not in data]
    if missing:
        raise ValidationFailed(source, missing)
    frame = {name: np.asarray(data[name], dtype=np.float64) for name in SERIES if name in data}
    lengths = {name: len(values) for name, values in frame.items()}
    if len(set(lengths.values())) > 1:
        raise ValidationFailed(
            source, [(name, f"{size} values: the series differ in length") for name, size in lengths.items()]
        )
    return frame


def compute_signals(spec: StrategySpec, data: Mapping[str, npt.ArrayLike] | pd.DataFrame) -> Signals:
    """Evaluate every rule of ``spec`` over ``data``: series name -> array, or a DataFrame with those columns.

    Raises:
        ValidationFailed: when a series the rules read is missing, or the series differ in length.
    """
    frame = _frame(spec, data)
    size = len(next(iter(frame.values()))) if frame else 0
    rules = spec.rules()
    cache: dict[Any, np.ndarray] = {}
    arrays = {
        name: rules[name].evaluate(frame, cache) if name in rules else np.zeros(size, np.bool_)
        for name in RULE_NAMES
    }
    return Signals(**arrays)


class SignalEngine:
    """Incremental signals for the live/paper runtime: feed each closed candle, get that bar's signals.

    The last ``window`` bars live in preallocated buffers twice that size; when the buffers fill, the newest
    window is copied to the front (an amortised O(1) shift), so memory stays flat however long the run.
    """

    def __init__(self, spec: StrategySpec, window: int | None = None) -> None:
        self.spec = spec
        self.lookback = warmup_bars(spec)
        self.window = window if window is not None else max(self.lookback * 10, _MIN_WINDOW)
        if self.window <= self.lookback:
            msg = f"a {self.window}-bar window cannot hold the {self.lookback}-bar warm-up of spec {spec.id}"
            raise SignalError(msg)
        self._rules: dict[str, Rule] = spec.rules()
        self._buffers = {name: np.empty(2 * self.window) for name in SERIES}
        self._start = 0
        self._end = 0
        self._last_ts: datetime | None = None

    def update(self, candle: Candle) -> BarSignal:
        """Append ``candle`` (the next closed bar of the spec's symbol and timeframe); return its signals."""
        self._check(candle)
        if self._end == 2 * self.window:
            keep = self.window - 1
            for buffer in self._buffers.values():
                buffer[:keep] = buffer[self._end - keep : self._end]
            self._start, self._end = 0, keep
        for name in SERIES:
            self._buffers[name][self._end] = getattr(candle, name)
        self._end += 1
        self._start = max(0, self._end - self.window)
        self._last_ts = candle.ts
        frame = self.frame()
        cache: dict[Any, np.ndarray] = {}
        fired = {name: bool(rule.evaluate(frame, cache)[-1]) for name, rule in self._rules.items()}
        return BarSignal(ts=candle.ts, **fired)

    def frame(self) -> dict[str, np.ndarray]:
        """Read-only views of the current window, oldest first (e.g. for an ATR stop on the same bars)."""
        views = {}
        for name, buffer in self._buffers.items():
            view = buffer[self._start : self._end]
            view.flags.writeable = False
            views[name] = view
        return views

    def __len__(self) -> int:
        return self._end - self._start

    def _check(self, candle: Candle) -> None:
        if candle.symbol != self.spec.symbol:
            msg = f"spec {self.spec.id} trades {self.spec.symbol}, got a {candle.symbol} candle"
            raise SignalError(msg)
        if candle.interval != self.spec.interval:
            msg = f"spec {self.spec.id} runs on {self.spec.timeframe} bars, got a {candle.timeframe} candle"
            raise SignalError(msg)
        if self._last_ts is not None and candle.ts <= self._last_ts:
            msg = (
                f"candle at {candle.ts.isoformat()} is not after the last one, at {self._last_ts.isoformat()}"
            )
            raise SignalError(msg)
