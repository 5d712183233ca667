"""Indicators (TA-Lib-equal, numpy float64) and the feature set shared by training and serving."""

from app.learning.features.indicators import (
    FIB_RATIOS,
    InvalidPeriod,
    atr,
    bbands,
    ema,
    fib_levels,
    highest,
    log_returns,
    lowest,
    macd,
    mfi,
    returns,
    rsi,
    shift,
    sma,
    volatility,
)
from app.learning.features.pipeline import FEATURE_COLUMNS, build_features

__all__ = [
    "FEATURE_COLUMNS",
    "FIB_RATIOS",
    "InvalidPeriod",
    "atr",
    "bbands",
    "build_features",
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
