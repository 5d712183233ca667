"""The feature set of the learners: one function, the same for training, backtests and live serving.

``build_features(df)`` returns one row per bar and these columns (n is the window in bars):

- ``ret_1``, ``ret_5``: simple returns over 1 and 5 bars; ``logret_1``: the 1-bar log return.
- ``vol_20``: sample standard deviation of the last 20 one-bar log returns (not annualised).
- ``rsi_14``: Wilder's RSI; ``mfi_14``: money flow index (0..100).
- ``sma_n``, ``ema_n`` for n in 10, 20, 50: moving averages (price units).
- ``close_sma_n``, ``close_ema_n``: close / average - 1, the relative distance to each average.
- ``atr_14``: Wilder's ATR (price units); ``atr_pct_14``: atr_14 / close.
- ``bb_width_20``: (upper - lower) / middle of the 20-bar, 2-sigma Bollinger bands; ``bb_pos_20``: where the
  close sits between the bands (0 at the lower, 1 at the upper; NaN when the bands coincide).
- ``macd_rel``, ``macd_signal_rel``, ``macd_hist_rel``: TA-Lib's MACD(12, 26, 9) lines divided by the close.
- ``fib_pos_100``: the close's retracement from the 100-bar high, (high - close) / (high - low): compare it to
  the Fibonacci ratios 0.236, 0.382, 0.5, 0.618, 0.786. ``fib_zone_100``: how many of those ratios the
  retracement has passed (0..5).

Every value uses bars up to and including its own, so a row never changes when later bars arrive. The
recursive values (EMA, RSI, ATR, MACD) are seeded at the first bar given: serve from a few hundred bars of
history so a later seed has decayed. Rows in the warm-up hold NaN; callers drop or mask them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from app.domain.errors import ValidationFailed
from app.learning.features import indicators as ind

__all__ = ["FEATURE_COLUMNS", "build_features"]

_AVERAGES = (10, 20, 50)
_FIB_WINDOW = 100

FEATURE_COLUMNS: tuple[str, ...] = (
    "ret_1",
    "ret_5",
    "logret_1",
    "vol_20",
    "rsi_14",
    "mfi_14",
    *(f"{kind}_{n}" for kind in ("sma", "ema") for n in _AVERAGES),
    *(f"close_{kind}_{n}" for kind in ("sma", "ema") for n in _AVERAGES),
    "atr_14",
    "atr_pct_14",
    "bb_width_20",
    "bb_pos_20",
    "macd_rel",
    "macd_signal_rel",
    "macd_hist_rel",
    f"fib_pos_{_FIB_WINDOW}",
    f"fib_zone_{_FIB_WINDOW}",
)

_OHLCV = ("open", "high", "low", "close", "volume")


def build_features(df: pd.DataFrame) -> pd.DataFrame:
    """Features of every bar of ``df`` (columns open, high, low, close, volume; a DatetimeIndex or a
    ``timestamp`` column, which becomes the index). Columns are ``FEATURE_COLUMNS``, in that order.

    Raises:
        ValidationFailed: when a price or volume column is missing.
    """
    missing = [(name, "missing column") for name in _OHLCV if name not in df.columns]
    if missing:
        raise ValidationFailed("feature input", missing)
    index = pd.DatetimeIndex(df["timestamp"]) if "timestamp" in df.columns else df.index
    high, low, close, volume = (df[name].to_numpy(np.float64) for name in ("high", "low", "close", "volume"))
    out: dict[str, np.ndarray] = {
        "ret_1": ind.returns(close, 1),
        "ret_5": ind.returns(close, 5),
        "logret_1": ind.log_returns(close, 1),
        "vol_20": ind.volatility(close, 20),
        "rsi_14": ind.rsi(close, 14),
        "mfi_14": ind.mfi(high, low, close, volume, 14),
    }
    averages = {
        f"{kind}_{n}": fn(close, n) for kind, fn in (("sma", ind.sma), ("ema", ind.ema)) for n in _AVERAGES
    }
    out.update(averages)
    with np.errstate(divide="ignore", invalid="ignore"):
        out.update({f"close_{name}": close / values - 1.0 for name, values in averages.items()})
        out["atr_14"] = ind.atr(high, low, close, 14)
        out["atr_pct_14"] = out["atr_14"] / close
        upper, middle, lower = ind.bbands(close, 20, 2.0)
        out["bb_width_20"] = (upper - lower) / middle
        out["bb_pos_20"] = np.where(upper > lower, (close - lower) / (upper - lower), np.nan)
        line, signal, hist = ind.macd(close, 12, 26, 9)
        out.update(
            {"macd_rel": line / close, "macd_signal_rel": signal / close, "macd_hist_rel": hist / close}
        )
        top, bottom = ind.highest(high, _FIB_WINDOW), ind.lowest(low, _FIB_WINDOW)
        depth = np.where(top > bottom, (top - close) / (top - bottom), np.nan)
    out[f"fib_pos_{_FIB_WINDOW}"] = depth
    passed = (depth[:, None] >= np.asarray(ind.FIB_RATIOS)[None, :]).sum(axis=1).astype(np.float64)
    out[f"fib_zone_{_FIB_WINDOW}"] = np.where(np.isnan(depth), np.nan, passed)
    return pd.DataFrame(out, index=index, columns=list(FEATURE_COLUMNS))
