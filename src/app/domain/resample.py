"""Bars as arrays, and their aggregation into longer timeframes: pure bar math for backtests and live alike.

A ``BarBatch`` is one symbol's bars at one timeframe: int64 open times (ns since the epoch, UTC), strictly
increasing, and float64 open, high, low, close, volume columns. It is the batch path of the data manager:
a million bars a second cannot go through one ``Candle`` object each.

Aggregating base bars into a longer timeframe (``resample``, ``BarAggregator``):

- Buckets are aligned on UTC: 5m bars open at :00, :05, ...; 1h on the hour; 4h at 00, 04, 08, ... UTC;
  1d at 00:00 UTC; 1w on Monday 00:00 UTC (as Bybit's weekly bars). The target must be a whole multiple
  of the base timeframe.
- open is the bucket's first open, high the highest high, low the lowest low, close the last close, and
  volume the sum of volumes, added in time order (so every path gives the same float, bit for bit).
- A bucket with missing base bars is built from the bars it has; nothing is invented.
- A bucket is complete when a base bar closing at its end, or any bar of a later bucket, has arrived.
  ``resample`` leaves out a trailing bucket that is not complete (unless asked otherwise) so a longer bar
  is never shown before its close; ``BarAggregator`` emits each bar the moment it completes. Fed any split
  of the same bars, the aggregator emits exactly what ``resample`` gives for the whole.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final, final

import attrs
import numpy as np
from numpy.typing import NDArray

from app.domain.timeframes import parse_timeframe

__all__ = [
    "REPAIR_COUNTS",
    "BarAggregator",
    "BarBatch",
    "BarCleaner",
    "BarRow",
    "datetime_to_ns",
    "ns_to_datetime",
    "resample",
    "timeframe_ns",
]

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
BarRow = tuple[int, float, float, float, float, float]
"""One bar as plain values: open time (ns), open, high, low, close, volume."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_WEEK_NS: Final = 7 * 86400 * 10**9
_MONDAY_OFFSET_NS: Final = 4 * 86400 * 10**9  # 1970-01-01 was a Thursday; 1970-01-05 a Monday


def timeframe_ns(timeframe: str) -> int:
    """``"5m"`` -> 300_000_000_000. Raises ValueError for a bad timeframe."""
    return int(parse_timeframe(timeframe) // timedelta(microseconds=1)) * 1000


def datetime_to_ns(moment: datetime) -> int:
    """An aware datetime -> ns since the epoch. Raises ValueError for a naive one."""
    if moment.tzinfo is None:
        msg = f"{moment.isoformat()} has no time zone: use UTC"
        raise ValueError(msg)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def ns_to_datetime(ns: int) -> datetime:
    """ns since the epoch -> aware UTC datetime (microsecond precision)."""
    return _EPOCH + timedelta(microseconds=int(ns) // 1000)


def _column(values: object) -> Floats:
    return np.asarray(values, dtype=np.float64)


def _times(values: object) -> Ints:
    return np.asarray(values, dtype=np.int64)


@final
@attrs.frozen(eq=False)
class BarBatch:
    """Bars of one symbol and timeframe as columns, oldest first (``ts`` strictly increasing, ns UTC)."""

    symbol: str
    timeframe: str
    ts: Ints = attrs.field(converter=_times)
    open: Floats = attrs.field(converter=_column)
    high: Floats = attrs.field(converter=_column)
    low: Floats = attrs.field(converter=_column)
    close: Floats = attrs.field(converter=_column)
    volume: Floats = attrs.field(converter=_column)

    def __attrs_post_init__(self) -> None:
        n = len(self.ts)
        if any(len(column) != n for column in self.columns()):
            lengths = [len(self.ts), *(len(column) for column in self.columns())]
            msg = f"{self.symbol} {self.timeframe}: columns of unequal length {lengths}"
            raise ValueError(msg)

    @classmethod
    def empty(cls, symbol: str, timeframe: str) -> BarBatch:
        """No bars."""
        nothing = np.empty(0)
        return cls(symbol, timeframe, np.empty(0, np.int64), nothing, nothing, nothing, nothing, nothing)

    @classmethod
    def from_rows(cls, symbol: str, timeframe: str, rows: Sequence[BarRow]) -> BarBatch:
        """Bars from ``(ts_ns, open, high, low, close, volume)`` tuples."""
        if not rows:
            return cls.empty(symbol, timeframe)
        ts, o, h, lo, c, v = zip(*rows, strict=True)
        return cls(symbol, timeframe, np.array(ts, np.int64), o, h, lo, c, v)

    @classmethod
    def concat(cls, symbol: str, timeframe: str, batches: Sequence[BarBatch]) -> BarBatch:
        """The batches one after the other (their order is the caller's)."""
        if not batches:
            return cls.empty(symbol, timeframe)
        return cls(
            symbol,
            timeframe,
            *(np.concatenate([getattr(b, name) for b in batches]) for name in _FIELDS),
        )

    def __len__(self) -> int:
        return len(self.ts)

    def columns(self) -> tuple[Floats, Floats, Floats, Floats, Floats]:
        """open, high, low, close, volume."""
        return self.open, self.high, self.low, self.close, self.volume

    def slice(self, start: int | None, stop: int | None = None) -> BarBatch:
        """Rows ``[start, stop)`` (views, not copies)."""
        rows = slice(start, stop)
        return BarBatch(self.symbol, self.timeframe, *(getattr(self, name)[rows] for name in _FIELDS))

    def tail(self, count: int) -> BarBatch:
        """The last ``count`` bars (all of them when there are fewer)."""
        return self.slice(max(len(self) - max(count, 0), 0))

    def take(self, rows: NDArray[np.intp] | NDArray[np.bool_]) -> BarBatch:
        """The rows picked by an index or mask array (copies)."""
        return BarBatch(self.symbol, self.timeframe, *(getattr(self, name)[rows] for name in _FIELDS))

    def row(self, index: int) -> BarRow:
        """One bar as plain Python values."""
        return (
            int(self.ts[index]),
            float(self.open[index]),
            float(self.high[index]),
            float(self.low[index]),
            float(self.close[index]),
            float(self.volume[index]),
        )

    def same_bars(self, other: BarBatch) -> bool:
        """True when both hold identical times and values (symbol and timeframe included)."""
        return (
            (self.symbol, self.timeframe) == (other.symbol, other.timeframe)
            and len(self) == len(other)
            and all(np.array_equal(getattr(self, n), getattr(other, n)) for n in _FIELDS)
        )


_FIELDS: Final = ("ts", "open", "high", "low", "close", "volume")


def _steps(base: str, target: str) -> tuple[int, int]:
    base_ns, step_ns = timeframe_ns(base), timeframe_ns(target)
    if step_ns < base_ns or step_ns % base_ns:
        msg = f"cannot build {target} bars from {base} bars: {target} must be a whole multiple of {base}"
        raise ValueError(msg)
    return base_ns, step_ns


def _offset(step_ns: int) -> int:
    return _MONDAY_OFFSET_NS if step_ns % _WEEK_NS == 0 else 0


def _bucket(ts: Ints, step_ns: int) -> Ints:
    offset = _offset(step_ns)
    return np.asarray((ts - offset) // step_ns * step_ns + offset, dtype=np.int64)


def _sequential_sums(values: Floats, starts: NDArray[np.intp], lengths: NDArray[np.intp]) -> Floats:
    """Each segment's sum, added left to right: numpy's own reductions pick their order per call."""
    width = int(lengths.max(initial=1))
    if len(starts) * width > 4 * len(values) + 4096:  # sparse buckets: a padded grid would waste memory
        sums = values[starts].copy()
        for offset in range(1, width):
            longer = np.flatnonzero(lengths > offset)
            sums[longer] += values[starts[longer] + offset]
        return sums
    # Row j holds each segment's j-th value (0 past its end: adding 0.0 changes no sum).
    grid = np.zeros((width, len(starts)))
    offsets = np.arange(len(values)) - np.repeat(starts, lengths)
    grid[offsets, np.repeat(np.arange(len(starts)), lengths)] = values
    total: Floats = grid[0].copy()
    for row in grid[1:]:
        total += row
    return total


def _aggregate(batch: BarBatch, step_ns: int) -> tuple[BarBatch, NDArray[np.intp], NDArray[np.intp]]:
    """Bucketed bars (the last one possibly incomplete), each bucket's first row and row count."""
    if len(batch) > 1 and not bool((np.diff(batch.ts) > 0).all()):
        msg = f"{batch.symbol} {batch.timeframe}: bar times must be strictly increasing to aggregate"
        raise ValueError(msg)
    bucket = _bucket(batch.ts, step_ns)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    lengths = np.diff(np.r_[starts, len(batch)])
    ends = starts + lengths - 1
    out = BarBatch(
        batch.symbol,
        "",
        bucket[starts],
        batch.open[starts],
        np.maximum.reduceat(batch.high, starts),
        np.minimum.reduceat(batch.low, starts),
        batch.close[ends],
        _sequential_sums(batch.volume, starts, lengths),
    )
    return out, starts, lengths


def resample(batch: BarBatch, timeframe: str, *, complete_only: bool = True) -> BarBatch:
    """``batch`` aggregated into ``timeframe`` bars (rules in the module docstring).

    Raises:
        ValueError: ``timeframe`` is not a whole multiple of the batch's, or the times are not increasing.
    """
    base_ns, step_ns = _steps(batch.timeframe, timeframe)
    if len(batch) == 0:
        return BarBatch.empty(batch.symbol, timeframe)
    out, _, _ = _aggregate(batch, step_ns)
    out = attrs.evolve(out, timeframe=timeframe)
    if complete_only and int(batch.ts[-1]) + base_ns < int(out.ts[-1]) + step_ns:
        return out.slice(0, len(out) - 1)
    return out


class BarAggregator:
    """Builds ``timeframe`` bars of one symbol from its base bars, one bar or one batch at a time.

    Bars must arrive in strictly increasing time (clean them first); each call returns the longer bars
    that completed with it, oldest first.
    """

    def __init__(self, symbol: str, base_timeframe: str, timeframe: str) -> None:
        self.symbol = symbol
        self.base_timeframe = base_timeframe
        self.timeframe = timeframe
        self._base_ns, self._step_ns = _steps(base_timeframe, timeframe)
        self._offset = _offset(self._step_ns)
        self._last_ts: int | None = None
        self._forming: list[float] | None = None  # open, high, low, close, volume of the open bucket
        self._forming_ts = 0

    def add(
        self, ts: int, open_: float, high: float, low: float, close: float, volume: float
    ) -> list[BarRow]:
        """Add one base bar; returns the bars it completed (none, one, or two after a gap)."""
        self._check_after(ts)
        self._last_ts = ts
        bucket = (ts - self._offset) // self._step_ns * self._step_ns + self._offset
        done: list[BarRow] = []
        forming = self._forming
        if forming is not None and bucket != self._forming_ts:
            done.append(self._emit())
            forming = None
        if forming is None:
            self._forming = [open_, high, low, close, volume]
            self._forming_ts = bucket
        else:
            forming[1] = max(forming[1], high)
            forming[2] = min(forming[2], low)
            forming[3] = close
            forming[4] += volume
        if ts + self._base_ns == bucket + self._step_ns:
            done.append(self._emit())
        return done

    def add_batch(self, batch: BarBatch) -> BarBatch:
        """Add a batch of base bars (vectorised); returns the completed bars as a batch."""
        if len(batch) == 0:
            return BarBatch.empty(self.symbol, self.timeframe)
        self._check_after(int(batch.ts[0]))
        out, _, lengths = _aggregate(batch, self._step_ns)
        ts, o, h, lo, c, v = (getattr(out, name).copy() for name in _FIELDS)
        prefix: list[BarRow] = []
        forming = self._forming
        if forming is not None and int(ts[0]) == self._forming_ts:
            o[0] = forming[0]
            h[0] = max(forming[1], float(h[0]))
            lo[0] = min(forming[2], float(lo[0]))
            total = forming[4]
            for value in batch.volume[: int(lengths[0])].tolist():
                total += value
            v[0] = total
        elif forming is not None:
            prefix.append(self._emit())
        self._forming = None
        self._last_ts = int(batch.ts[-1])
        complete = len(ts)
        if self._last_ts + self._base_ns < int(ts[-1]) + self._step_ns:
            complete -= 1
            self._forming = [float(o[-1]), float(h[-1]), float(lo[-1]), float(c[-1]), float(v[-1])]
            self._forming_ts = int(ts[-1])
        done = BarBatch(self.symbol, self.timeframe, ts, o, h, lo, c, v).slice(0, complete)
        if prefix:
            previous = BarBatch.from_rows(self.symbol, self.timeframe, prefix)
            return BarBatch.concat(self.symbol, self.timeframe, [previous, done])
        return done

    def forming(self) -> BarRow | None:
        """The bar still open (not complete), if any."""
        if self._forming is None:
            return None
        o, h, lo, c, v = self._forming
        return (self._forming_ts, o, h, lo, c, v)

    def _emit(self) -> BarRow:
        o, h, lo, c, v = self._forming or (np.nan,) * 5
        self._forming = None
        return (self._forming_ts, o, h, lo, c, v)

    def _check_after(self, ts: int) -> None:
        if self._last_ts is not None and ts <= self._last_ts:
            msg = (
                f"{self.symbol} {self.base_timeframe}: bar at {ns_to_datetime(ts).isoformat()} is not after "
                f"{ns_to_datetime(self._last_ts).isoformat()}"
            )
            raise ValueError(msg)


REPAIR_COUNTS: Final = (
    "rows_read",
    "rows_kept",
    "duplicates_dropped",
    "out_of_order_dropped",
    "nan_dropped",
    "nonpositive_dropped",
    "high_low_fixed",
    "volume_filled",
    "gaps",
)
"""The counters of ``BarCleaner.counts`` (named as the fields of the data manager's repair report)."""


class BarCleaner:
    """The replay reader's bad-data rules for one symbol's bars as they arrive, in the same order:

    1. A NaN or infinite open, high, low or close, or an infinite volume, drops the bar (``nan_dropped``);
       a missing (NaN) volume is read as 0 (``volume_filled``).
    2. A price <= 0 or a negative volume drops the bar (``nonpositive_dropped``).
    3. A bar at a time already accepted is dropped (``duplicates_dropped``): the first one has been delivered
       (in a file, where nothing was delivered yet, the later row wins instead).
    4. A bar older than the last accepted one is dropped (``out_of_order_dropped``): later bars have been
       delivered (a file sorts it into place instead).
    5. high < low, or open/close outside [low, high]: high becomes the largest and low the smallest of the
       four prices (``high_low_fixed``).
    6. Missing bar intervals are counted (``gaps``), never filled.

    Args:
        after: the time (ns) of the last bar already accepted elsewhere (a cache), if any.
    """

    def __init__(self, symbol: str, timeframe: str, *, after: int | None = None) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.last_ts = after
        self.first_ts: int | None = None
        self.counts = dict.fromkeys(REPAIR_COUNTS, 0)
        self._step = timeframe_ns(timeframe)

    def row(
        self, ts: int, open_: float, high: float, low: float, close: float, volume: float
    ) -> BarRow | None:
        """The bar as it may be used, or None when a rule drops it."""
        counts = self.counts
        counts["rows_read"] += 1
        prices = (open_, high, low, close)
        if not all(math.isfinite(p) for p in prices) or math.isinf(volume):
            counts["nan_dropped"] += 1
            return None
        missing_volume = math.isnan(volume)
        if min(prices) <= 0 or volume < 0:
            counts["nonpositive_dropped"] += 1
            return None
        last = self.last_ts
        if last is not None and ts <= last:
            counts["duplicates_dropped" if ts == last else "out_of_order_dropped"] += 1
            return None
        if missing_volume:
            counts["volume_filled"] += 1
            volume = 0.0
        top, bottom = max(prices), min(prices)
        if top != high or bottom != low:
            counts["high_low_fixed"] += 1
        if last is not None and ts - last > self._step:
            counts["gaps"] += (ts - last) // self._step - 1
        if self.first_ts is None:
            self.first_ts = ts
        self.last_ts = ts
        counts["rows_kept"] += 1
        return (ts, open_, top, bottom, close, volume)

    def batch(self, batch: BarBatch) -> BarBatch:
        """The batch's usable bars (vectorised; the same bars and counts as ``row`` one by one)."""
        n = len(batch)
        if n == 0:
            return batch
        o, h, lo, c, v = batch.columns()
        finite = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c) & ~np.isinf(v)
        positive = (o > 0) & (h > 0) & (lo > 0) & (c > 0) & ~(v < 0)
        floor = np.iinfo(np.int64).min if self.last_ts is None else self.last_ts
        rows = np.flatnonzero(finite & positive)
        stamps = batch.ts[rows]
        before = np.maximum.accumulate(np.r_[np.int64(floor), stamps])[:-1]
        keep = stamps > before
        counts = self.counts
        counts["rows_read"] += n
        counts["nan_dropped"] += int(n - finite.sum())
        counts["nonpositive_dropped"] += int((finite & ~positive).sum())
        counts["duplicates_dropped"] += int((stamps == before).sum())
        counts["out_of_order_dropped"] += int((stamps < before).sum())
        clean = batch if len(rows) == n and bool(keep.all()) else batch.take(rows[keep])
        if len(clean) == 0:
            return clean
        o, h, lo, c, v = clean.columns()
        top = np.maximum(np.maximum(o, c), np.maximum(h, lo))
        bottom = np.minimum(np.minimum(o, c), np.minimum(h, lo))
        fixed = (top != h) | (bottom != lo)
        missing = np.isnan(v)
        if fixed.any() or missing.any():
            counts["high_low_fixed"] += int(fixed.sum())
            counts["volume_filled"] += int(missing.sum())
            volume = np.where(missing, 0.0, v)
            clean = BarBatch(clean.symbol, clean.timeframe, clean.ts, o, top, bottom, c, volume)
        previous = clean.ts[:1] if self.last_ts is None else np.array([self.last_ts], np.int64)
        steps = np.diff(np.r_[previous, clean.ts])
        counts["gaps"] += int((steps[steps > self._step] // self._step - 1).sum())
        if self.first_ts is None:
            self.first_ts = int(clean.ts[0])
        self.last_ts = int(clean.ts[-1])
        counts["rows_kept"] += len(clean)
        return clean
