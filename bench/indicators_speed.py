"""Indicator speed on 1,000,000 bars: ours against TA-Lib's C implementation, measured in the same run.

Run: .venv/bin/python bench/indicators_speed.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import talib

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from app.learning.features import indicators as ind

BARS = 1_000_000


def best_of(fn: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(7)
    close = 100.0 + np.cumsum(rng.normal(size=BARS))
    high, low = close + 1.0, close - 1.0
    cases = {
        "ema(30)": (lambda: ind.ema(close, 30), lambda: talib.EMA(close, 30)),
        "rsi(14)": (lambda: ind.rsi(close, 14), lambda: talib.RSI(close, 14)),
        "atr(14)": (lambda: ind.atr(high, low, close, 14), lambda: talib.ATR(high, low, close, 14)),
        "sma(50)": (lambda: ind.sma(close, 50), lambda: talib.SMA(close, 50)),
    }
    for name, (ours, theirs) in cases.items():
        t_ours, t_talib = best_of(ours), best_of(theirs)
        print(
            f"{name:8} ours {t_ours * 1000:7.1f} ms  talib {t_talib * 1000:7.1f} ms  ratio {t_ours / t_talib:6.1f}x"
        )


if __name__ == "__main__":
    main()
