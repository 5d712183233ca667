"""The bars a backtest runs on: one symbol's OHLCV as float64 arrays, with optional funding rates.

The composition root fills it from the replay reader; tests build it from arrays or a DataFrame. Times are
nanoseconds since the epoch (UTC), strictly increasing; a funding rate at bar i is charged at bar i's open.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import final

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from app.domain.errors import ValidationFailed
from app.domain.timeframes import parse_timeframe
from app.domain.values import Asset

__all__ = ["BarData", "periods_per_year"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = 86_400.0
# Trading time per year by asset class: crypto trades every day; forex 24 hours on 260 weekdays; options
# follow the stock exchange, 252 sessions of 6.5 hours (a daily bar counts as one session).
_YEAR_SECONDS = {
    Asset.SPOT: 365 * _DAY,
    Asset.FUTURES: 365 * _DAY,
    Asset.FOREX: 260 * _DAY,
    Asset.OPTIONS: 252 * 6.5 * 3600,
}
_SESSIONS = {Asset.FOREX: 260, Asset.OPTIONS: 252}


def periods_per_year(asset: Asset, timeframe: str) -> float:
    """Bars per year of ``timeframe`` on ``asset``'s market, to annualise Sharpe and Sortino."""
    seconds = parse_timeframe(timeframe).total_seconds()
    if seconds >= _DAY and asset in _SESSIONS:
        return _SESSIONS[asset] * _DAY / seconds
    return _YEAR_SECONDS[asset] / seconds


def _floats(values: npt.ArrayLike) -> FloatArray:
    array = np.ascontiguousarray(np.asarray(values, dtype=np.float64))
    array.flags.writeable = False
    return array


def _ints(values: npt.ArrayLike) -> IntArray:
    array = np.ascontiguousarray(np.asarray(values, dtype=np.int64))
    array.flags.writeable = False
    return array


def _optional_floats(values: npt.ArrayLike | None) -> FloatArray | None:
    return None if values is None else _floats(values)


@final
@attrs.frozen(eq=False)
class BarData:
    """One symbol's bars (read-only arrays of equal length) and, for perpetuals, per-bar funding rates."""

    symbol: str
    timeframe: str
    ts: IntArray = attrs.field(converter=_ints)
    open: FloatArray = attrs.field(converter=_floats)
    high: FloatArray = attrs.field(converter=_floats)
    low: FloatArray = attrs.field(converter=_floats)
    close: FloatArray = attrs.field(converter=_floats)
    volume: FloatArray = attrs.field(converter=_floats)
    funding: FloatArray | None = attrs.field(default=None, converter=_optional_floats)

    def __attrs_post_init__(self) -> None:
        source = f"bars of {self.symbol}"
        columns = {"open": self.open, "high": self.high, "low": self.low, "close": self.close}
        columns |= {"volume": self.volume}
        if self.funding is not None:
            columns["funding"] = self.funding
        problems = [
            (name, f"{len(values)} values for {len(self.ts)} timestamps")
            for name, values in columns.items()
            if len(values) != len(self.ts)
        ]
        if len(self.ts) > 1 and not bool((np.diff(self.ts) > 0).all()):
            problems.append(("ts", "timestamps must be strictly increasing"))
        if problems:
            raise ValidationFailed(source, problems)

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, symbol: str, timeframe: str, funding: npt.ArrayLike | None = None
    ) -> BarData:
        """Bars from a DataFrame with open..volume columns and a ``timestamp`` column or DatetimeIndex."""
        stamps = frame["timestamp"] if "timestamp" in frame.columns else frame.index.to_series()
        ts = pd.DatetimeIndex(pd.to_datetime(stamps, utc=True)).as_unit("ns").asi8
        o, h, lo, c, v = (
            frame[name].to_numpy(np.float64) for name in ("open", "high", "low", "close", "volume")
        )
        return cls(symbol, timeframe, ts, o, h, lo, c, v, funding=funding)

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def interval(self) -> timedelta:
        return parse_timeframe(self.timeframe)

    def window(self, start: int, stop: int) -> BarData:
        """Bars ``start`` (inclusive) to ``stop`` (exclusive), sharing memory with these."""
        part = slice(start, stop)
        funding = None if self.funding is None else self.funding[part]
        return BarData(
            self.symbol,
            self.timeframe,
            self.ts[part],
            self.open[part],
            self.high[part],
            self.low[part],
            self.close[part],
            self.volume[part],
            funding=funding,
        )

    def frame(self) -> dict[str, FloatArray]:
        """The series by name, as ``compute_signals`` reads them."""
        return {
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
        }

    def times(self, indices: npt.ArrayLike) -> list[datetime]:
        """The open times of the bars at ``indices`` (UTC), converted together."""
        stamps = self.ts[np.asarray(indices, dtype=np.int64)] // 1000
        return [_EPOCH + timedelta(microseconds=us) for us in stamps.tolist()]

    def time(self, index: int) -> datetime:
        """The open time of bar ``index`` (UTC)."""
        return _EPOCH + timedelta(microseconds=int(self.ts[index]) // 1000)
