"""Technical indicators over float64 arrays, equal to TA-Lib's after the warm-up.

Every function takes numpy arrays or pandas Series and returns numpy float64 arrays of the input's length,
NaN during the warm-up (the bars TA-Lib's ``lookback`` names). Leading NaNs in an input (an indicator of an
indicator) are skipped the way TA-Lib's Python wrapper skips them: the computation starts at the first bar
where every input has a value. A NaN later in an input makes the windows that hold it NaN; for the recursive
indicators (EMA, RSI, ATR, MACD) it makes every later value NaN, as the recursion itself would.

The recursions run as a blocked linear recurrence in numpy rather than ``scipy.signal.lfilter``: scipy is
not a runtime dependency, and the blocks are anchored at the first valid bar, so a value never depends on
how much data follows it (truncated data gives bit-identical values: the no-lookahead tests rely on it).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from app.domain.errors import AppError

__all__ = [
    "FIB_RATIOS",
    "InvalidPeriod",
    "atr",
    "bbands",
    "ema",
    "fib_levels",
    "highest",
    "log_returns",
    "lowest",
    "macd",
    "mfi",
    "returns",
    "rsi",
    "shift",
    "sma",
    "volatility",
]

FloatArray = npt.NDArray[np.float64]

FIB_RATIOS = (0.236, 0.382, 0.5, 0.618, 0.786)

_HEAD = 1024  # bars run as a plain loop: short windows (the live engine's) stay cheap
_BLOCK = 64  # block length of the vectorised recurrence after the head
_FLAT_TOLERANCE = 1e-14  # relative move below which a typical price has not moved (MFI)
_CHUNK = 1 << 13  # rows per chunk: a rolling std needs a (rows, n) temporary


class InvalidPeriod(AppError, ValueError):
    """A window length that is not a whole number in range."""


def _as_float(x: npt.ArrayLike) -> FloatArray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float64))


def _check_period(n: int, minimum: int = 1) -> None:
    if int(n) != n or n < minimum:
        msg = f"period must be a whole number >= {minimum}, got {n!r}"
        raise InvalidPeriod(msg)


def _start(*arrays: FloatArray) -> int:
    """First bar where every input has a value (TA-Lib's wrapper skips leading NaNs the same way)."""
    valid = ~np.isnan(arrays[0])
    for other in arrays[1:]:
        valid &= ~np.isnan(other)
    return int(np.argmax(valid)) if valid.any() else len(valid)


def _recurrence(x: FloatArray, a: float, b: float, y0: float) -> FloatArray:
    """``y[i] = a * y[i-1] + b * x[i]`` with ``y[-1] = y0``; NaN from the first non-finite ``x`` on."""
    out = np.full(len(x), np.nan)
    finite = np.isfinite(x)
    stop = len(x) if finite.all() else int(np.argmin(finite))
    head = min(stop, _HEAD)
    prev = y0
    values = x[:head].tolist()
    for i, value in enumerate(values):
        prev = a * prev + b * value
        values[i] = prev
    out[:head] = values
    if stop > head:
        out[head:stop] = _blocked_recurrence(x[head:stop], a, b, prev)
    return out


def _blocked_recurrence(x: FloatArray, a: float, b: float, y0: float) -> FloatArray:
    # Each block runs the recurrence from zero (vectorised across blocks), then adds the decayed carry-in.
    rows = -(-len(x) // _BLOCK)
    grid = np.zeros(rows * _BLOCK)
    grid[: len(x)] = x
    columns = grid.reshape(rows, _BLOCK).T.copy()
    prev = np.zeros(rows)
    for j in range(_BLOCK):
        prev = a * prev + b * columns[j]
        columns[j] = prev
    decay = a ** np.arange(1, _BLOCK + 1)
    carry, carries = y0, []
    for end in columns[-1].tolist():
        carries.append(carry)
        carry = decay[-1] * carry + end
    columns += decay[:, None] * np.asarray(carries)[None, :]
    result: FloatArray = columns.T.ravel()[: len(x)]
    return result


def _rolling(x: FloatArray, n: int, reduce: str) -> FloatArray:
    """``reduce`` ("sum", "max", "min", "std") over each n-bar window ending at a bar; NaN before n-1."""
    out = np.full(len(x), np.nan)
    if len(x) < n:
        return out
    step = x.strides[0]
    windows = as_strided(x, shape=(len(x) - n + 1, n), strides=(step, step), writeable=False)
    for lo in range(0, len(windows), _CHUNK):
        chunk = windows[lo : lo + _CHUNK]
        out[n - 1 + lo : n - 1 + lo + len(chunk)] = getattr(chunk, reduce)(axis=1)
    return out


def sma(x: npt.ArrayLike, n: int) -> FloatArray:
    """Simple moving average over ``n`` bars (first value at bar n-1)."""
    _check_period(n)
    values = _as_float(x)
    s = _start(values)
    out = np.full(len(values), np.nan)
    out[s:] = _rolling(values[s:], n, "sum") / n
    return out


def ema(x: npt.ArrayLike, n: int) -> FloatArray:
    """Exponential moving average, k = 2/(n+1), seeded with the SMA of the first ``n`` bars (TA-Lib's EMA)."""
    _check_period(n)
    values = _as_float(x)
    return _ema_from(values, n, _start(values) + n - 1)


def _ema_from(values: FloatArray, n: int, seed_at: int) -> FloatArray:
    """EMA seeded at ``seed_at`` with the mean of the ``n`` bars ending there."""
    out = np.full(len(values), np.nan)
    if seed_at >= len(values):
        return out
    k = 2.0 / (n + 1)
    seed = float(np.mean(values[seed_at - n + 1 : seed_at + 1]))
    out[seed_at] = seed
    out[seed_at + 1 :] = _recurrence(values[seed_at + 1 :], 1.0 - k, k, seed)
    return out


def _wilder(x: FloatArray, n: int) -> FloatArray:
    """Wilder's smoothing of ``x`` (no leading NaNs): the mean of the first n, then (prev * (n-1) + x) / n."""
    out = np.full(len(x), np.nan)
    if len(x) < n:
        return out
    seed = float(np.mean(x[:n]))
    out[n - 1] = seed
    out[n:] = _recurrence(x[n:], (n - 1) / n, 1.0 / n, seed)
    return out


def rsi(close: npt.ArrayLike, n: int = 14) -> FloatArray:
    """Wilder's RSI (first value at bar n); 0 where the window has neither gains nor losses, as TA-Lib."""
    _check_period(n)
    values = _as_float(close)
    s = _start(values)
    out = np.full(len(values), np.nan)
    change = np.diff(values[s:])
    gain = _wilder(np.maximum(change, 0.0), n)
    loss = _wilder(np.maximum(-change, 0.0), n)
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        out[s + 1 :] = np.where(total == 0.0, 0.0, 100.0 * gain / total)
    return out


def atr(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, n: int = 14) -> FloatArray:
    """Wilder's average true range (first value at bar n, seeded with the mean true range of bars 1..n)."""
    _check_period(n)
    h, lo, c = _as_float(high), _as_float(low), _as_float(close)
    s = _start(h, lo, c)
    out = np.full(len(c), np.nan)
    prev_close = c[s:-1]
    true_range = np.maximum(
        h[s + 1 :] - lo[s + 1 :],
        np.maximum(np.abs(h[s + 1 :] - prev_close), np.abs(lo[s + 1 :] - prev_close)),
    )
    out[s + 1 :] = _wilder(true_range, n)
    return out


def mfi(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, volume: npt.ArrayLike, n: int = 14
) -> FloatArray:
    """Money flow index over ``n`` bars (first value at bar n); 0 where no money flowed, as TA-Lib.

    A bar's flow counts as neither up nor down when its typical price moved by no more than 1e-14 of the two
    prices (TA-Lib's dead zone: ``(h + l + c) / 3`` of equal sums can differ in the last bit).
    """
    _check_period(n)
    h, lo, c, v = _as_float(high), _as_float(low), _as_float(close), _as_float(volume)
    s = _start(h, lo, c, v)
    out = np.full(len(c), np.nan)
    typical = (h[s:] + lo[s:] + c[s:]) / 3.0
    flow = typical[1:] * v[s + 1 :]
    # A move within rounding noise of the two prices is no move (TA-Lib's scaled dead zone).
    change = typical[1:] - typical[:-1]
    noise = _FLAT_TOLERANCE * (np.abs(typical[1:]) + np.abs(typical[:-1]))
    up, down = change > noise, change < -noise
    positive = _rolling(np.where(up, flow, 0.0), n, "sum")
    negative = _rolling(np.where(down, flow, 0.0), n, "sum")
    total = positive + negative
    with np.errstate(invalid="ignore", divide="ignore"):
        out[s + 1 :] = np.where(total == 0.0, 0.0, 100.0 * positive / total)
    return out


def bbands(close: npt.ArrayLike, n: int = 20, k: float = 2.0) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bollinger bands ``(upper, middle, lower)``: SMA +/- k population standard deviations (TA-Lib's)."""
    _check_period(n)
    values = _as_float(close)
    s = _start(values)
    middle = sma(values, n)
    std = np.full(len(values), np.nan)
    std[s:] = _rolling(values[s:], n, "std")
    return middle + k * std, middle, middle - k * std


def macd(
    close: npt.ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """TA-Lib's MACD ``(macd, signal, hist)``, all three first valid at bar slow + signal - 2.

    As in TA-Lib, the fast EMA is seeded where the slow one is (the SMA of the ``fast`` bars ending at bar
    slow - 1), and the periods are swapped if ``slow < fast``.
    """
    for period in (fast, slow, signal):
        _check_period(period)
    fast, slow = min(fast, slow), max(fast, slow)
    values = _as_float(close)
    first = _start(values) + slow - 1
    line = _ema_from(values, fast, first) - _ema_from(values, slow, first)
    signal_line = ema(line, signal)
    line[: first + signal - 1] = np.nan
    return line, signal_line, line - signal_line


def highest(x: npt.ArrayLike, n: int) -> FloatArray:
    """Highest value of the last ``n`` bars, this one included (TA-Lib's MAX)."""
    _check_period(n)
    values = _as_float(x)
    s = _start(values)
    out = np.full(len(values), np.nan)
    out[s:] = _rolling(values[s:], n, "max")
    return out


def lowest(x: npt.ArrayLike, n: int) -> FloatArray:
    """Lowest value of the last ``n`` bars, this one included (TA-Lib's MIN)."""
    _check_period(n)
    values = _as_float(x)
    s = _start(values)
    out = np.full(len(values), np.nan)
    out[s:] = _rolling(values[s:], n, "min")
    return out


def fib_levels(
    high: npt.ArrayLike, low: npt.ArrayLike, n: int
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Fibonacci retracement levels of the rolling ``n``-bar range, one array per ratio in ``FIB_RATIOS``.

    A level is ``H - ratio * (H - L)``: H the highest high and L the lowest low of the last n bars.
    """
    top, bottom = highest(high, n), lowest(low, n)
    span = top - bottom
    levels = tuple(top - ratio * span for ratio in FIB_RATIOS)
    return levels[0], levels[1], levels[2], levels[3], levels[4]


def shift(x: npt.ArrayLike, n: int) -> FloatArray:
    """The value ``n`` bars ago (NaN for the first n bars)."""
    _check_period(n, minimum=0)
    values = _as_float(x)
    out = np.full(len(values), np.nan)
    if n < len(values):
        out[n:] = values[: len(values) - n]
    return out


def returns(x: npt.ArrayLike, n: int = 1) -> FloatArray:
    """Simple return over ``n`` bars: ``x[i] / x[i-n] - 1``."""
    _check_period(n)
    values = _as_float(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return values / shift(values, n) - 1.0


def log_returns(x: npt.ArrayLike, n: int = 1) -> FloatArray:
    """Log return over ``n`` bars: ``log(x[i] / x[i-n])``."""
    _check_period(n)
    values = _as_float(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(values / shift(values, n))


def volatility(close: npt.ArrayLike, n: int = 20) -> FloatArray:
    """Sample standard deviation (ddof=1) of the last ``n`` one-bar log returns; not annualised."""
    _check_period(n, minimum=2)
    change = log_returns(close)
    s = _start(change)
    out = np.full(len(change), np.nan)
    out[s:] = _rolling(change[s:], n, "std") * np.sqrt(n / (n - 1))
    return out
