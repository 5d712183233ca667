"""No lookahead: a value computed on data cut after bar k equals the full-data value at every bar up to k."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.learning.features import FEATURE_COLUMNS, build_features
from app.learning.features import indicators as ind

Bars = dict[str, np.ndarray]

INDICATORS: dict[str, Callable[[Bars], np.ndarray]] = {
    "sma": lambda b: ind.sma(b["close"], 20),
    "ema": lambda b: ind.ema(b["close"], 20),
    "rsi": lambda b: ind.rsi(b["close"], 14),
    "atr": lambda b: ind.atr(b["high"], b["low"], b["close"], 14),
    "mfi": lambda b: ind.mfi(b["high"], b["low"], b["close"], b["volume"], 14),
    "bb_upper": lambda b: ind.bbands(b["close"], 20, 2.0)[0],
    "bb_lower": lambda b: ind.bbands(b["close"], 20, 2.0)[2],
    "macd": lambda b: ind.macd(b["close"])[0],
    "macd_signal": lambda b: ind.macd(b["close"])[1],
    "fib_618": lambda b: ind.fib_levels(b["high"], b["low"], 55)[3],
    "highest": lambda b: ind.highest(b["high"], 30),
    "lowest": lambda b: ind.lowest(b["low"], 30),
    "shift": lambda b: ind.shift(b["close"], 3),
    "returns": lambda b: ind.returns(b["close"], 5),
    "log_returns": lambda b: ind.log_returns(b["close"], 1),
    "volatility": lambda b: ind.volatility(b["close"], 20),
    "ema_of_rsi": lambda b: ind.ema(ind.rsi(b["close"], 14), 9),
}

CUTS = np.random.default_rng(20240611).integers(1, 5760, size=40)


def _arrays(frame: pd.DataFrame) -> Bars:
    return {name: frame[name].to_numpy(np.float64) for name in ("open", "high", "low", "close", "volume")}


@pytest.mark.parametrize("name", INDICATORS)
def test_indicator_on_truncated_data_equals_the_full_data_values(ethbtc: pd.DataFrame, name: str) -> None:
    data = _arrays(ethbtc)
    full = INDICATORS[name](data)

    for cut in CUTS:
        truncated = INDICATORS[name]({key: values[:cut] for key, values in data.items()})
        np.testing.assert_array_equal(truncated, full[:cut], err_msg=f"{name} cut after {cut} bars")


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=2600),
    cut_share=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_no_indicator_reads_a_later_bar_of_random_data(size: int, cut_share: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    close = 50.0 + np.cumsum(rng.normal(size=size))
    data = {
        "open": close,
        "high": close + rng.uniform(0.0, 1.0, size),
        "low": close - rng.uniform(0.0, 1.0, size),
        "close": close,
        "volume": rng.uniform(1.0, 100.0, size),
    }
    cut = max(1, int(size * cut_share))

    for name, compute in INDICATORS.items():
        truncated = compute({key: values[:cut] for key, values in data.items()})
        np.testing.assert_array_equal(truncated, compute(data)[:cut], err_msg=name)


def test_feature_rows_do_not_change_when_later_bars_arrive(ethbtc: pd.DataFrame) -> None:
    full = build_features(ethbtc)

    for cut in CUTS[:10]:
        truncated = build_features(ethbtc.iloc[:cut])
        pd.testing.assert_frame_equal(truncated, full.iloc[:cut], check_exact=True)
        assert list(truncated.columns) == list(FEATURE_COLUMNS)
