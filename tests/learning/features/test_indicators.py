"""Indicators equal TA-Lib's after the warm-up on real data, and behave at the edges as documented."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import talib

from app.learning.features import indicators as ind

Bars = dict[str, np.ndarray]
Case = tuple[Callable[[Bars], np.ndarray], Callable[[Bars], np.ndarray], str]

# name -> (ours, TA-Lib's, absolute tolerance kind). Oscillators get an absolute floor because TA-Lib's
# running sums leave ~1e-15 residue where the exact value is 0; MACD lines cross zero: scale it by price.
CASES: dict[str, Case] = {
    "sma_2": (lambda b: ind.sma(b["close"], 2), lambda b: talib.SMA(b["close"], 2), "price"),
    "sma_30": (lambda b: ind.sma(b["close"], 30), lambda b: talib.SMA(b["close"], 30), "price"),
    "sma_200": (lambda b: ind.sma(b["close"], 200), lambda b: talib.SMA(b["close"], 200), "price"),
    "ema_2": (lambda b: ind.ema(b["close"], 2), lambda b: talib.EMA(b["close"], 2), "price"),
    "ema_26": (lambda b: ind.ema(b["close"], 26), lambda b: talib.EMA(b["close"], 26), "price"),
    "ema_200": (lambda b: ind.ema(b["close"], 200), lambda b: talib.EMA(b["close"], 200), "price"),
    "rsi_2": (lambda b: ind.rsi(b["close"], 2), lambda b: talib.RSI(b["close"], 2), "oscillator"),
    "rsi_14": (lambda b: ind.rsi(b["close"], 14), lambda b: talib.RSI(b["close"], 14), "oscillator"),
    "rsi_100": (lambda b: ind.rsi(b["close"], 100), lambda b: talib.RSI(b["close"], 100), "oscillator"),
    "atr_1": (
        lambda b: ind.atr(b["high"], b["low"], b["close"], 1),
        lambda b: talib.ATR(b["high"], b["low"], b["close"], 1),
        "price",
    ),
    "atr_14": (
        lambda b: ind.atr(b["high"], b["low"], b["close"], 14),
        lambda b: talib.ATR(b["high"], b["low"], b["close"], 14),
        "price",
    ),
    "atr_100": (
        lambda b: ind.atr(b["high"], b["low"], b["close"], 100),
        lambda b: talib.ATR(b["high"], b["low"], b["close"], 100),
        "price",
    ),
    "mfi_2": (
        lambda b: ind.mfi(b["high"], b["low"], b["close"], b["volume"], 2),
        lambda b: talib.MFI(b["high"], b["low"], b["close"], b["volume"], 2),
        "oscillator",
    ),
    "mfi_14": (
        lambda b: ind.mfi(b["high"], b["low"], b["close"], b["volume"], 14),
        lambda b: talib.MFI(b["high"], b["low"], b["close"], b["volume"], 14),
        "oscillator",
    ),
    "bb_upper_20": (
        lambda b: ind.bbands(b["close"], 20, 2.0)[0],
        lambda b: talib.BBANDS(b["close"], 20, 2, 2, 0)[0],
        "price",
    ),
    "bb_middle_20": (
        lambda b: ind.bbands(b["close"], 20, 2.0)[1],
        lambda b: talib.BBANDS(b["close"], 20, 2, 2, 0)[1],
        "price",
    ),
    "bb_lower_20": (
        lambda b: ind.bbands(b["close"], 20, 2.0)[2],
        lambda b: talib.BBANDS(b["close"], 20, 2, 2, 0)[2],
        "price",
    ),
    "bb_upper_5_k3": (
        lambda b: ind.bbands(b["close"], 5, 3.0)[0],
        lambda b: talib.BBANDS(b["close"], 5, 3, 3, 0)[0],
        "price",
    ),
    "macd": (lambda b: ind.macd(b["close"])[0], lambda b: talib.MACD(b["close"], 12, 26, 9)[0], "macd"),
    "macd_signal": (
        lambda b: ind.macd(b["close"])[1],
        lambda b: talib.MACD(b["close"], 12, 26, 9)[1],
        "macd",
    ),
    "macd_hist": (lambda b: ind.macd(b["close"])[2], lambda b: talib.MACD(b["close"], 12, 26, 9)[2], "macd"),
    "macd_swapped_periods": (
        lambda b: ind.macd(b["close"], 30, 5, 4)[2],
        lambda b: talib.MACD(b["close"], 30, 5, 4)[2],
        "macd",
    ),
    "highest_20": (lambda b: ind.highest(b["high"], 20), lambda b: talib.MAX(b["high"], 20), "price"),
    "lowest_20": (lambda b: ind.lowest(b["low"], 20), lambda b: talib.MIN(b["low"], 20), "price"),
    "ema_of_rsi": (
        lambda b: ind.ema(ind.rsi(b["close"], 14), 10),
        lambda b: talib.EMA(talib.RSI(b["close"], 14), 10),
        "oscillator",
    ),
    "sma_of_atr": (
        lambda b: ind.sma(ind.atr(b["high"], b["low"], b["close"], 14), 5),
        lambda b: talib.SMA(talib.ATR(b["high"], b["low"], b["close"], 14), 5),
        "price",
    ),
}


def _arrays(frame: pd.DataFrame) -> Bars:
    return {name: frame[name].to_numpy(np.float64) for name in ("open", "high", "low", "close", "volume")}


@pytest.mark.parametrize("case", CASES)
def test_indicator_equals_talib_after_the_warmup(bars: pd.DataFrame, case: str) -> None:
    ours_of, theirs_of, kind = CASES[case]
    data = _arrays(bars)

    ours, theirs = ours_of(data), theirs_of(data)

    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    atol = {"price": 0.0, "oscillator": 1e-9, "macd": 1e-12 * float(np.median(data["close"]))}[kind]
    valid = ~np.isnan(theirs)
    np.testing.assert_allclose(ours[valid], theirs[valid], rtol=1e-9, atol=atol)


def test_indicators_accept_a_pandas_series_and_return_float64_numpy(ethbtc: pd.DataFrame) -> None:
    result = ind.ema(ethbtc["close"], 10)

    assert isinstance(result, np.ndarray)
    assert result.dtype == np.float64
    np.testing.assert_allclose(result, ind.ema(ethbtc["close"].to_numpy(), 10), rtol=0)


def test_fib_levels_retrace_the_rolling_range_by_each_ratio(ethbtc: pd.DataFrame) -> None:
    high, low = ethbtc["high"].to_numpy(), ethbtc["low"].to_numpy()
    top, bottom = talib.MAX(high, 50), talib.MIN(low, 50)

    levels = ind.fib_levels(high, low, 50)

    assert len(levels) == len(ind.FIB_RATIOS)
    for ratio, level in zip(ind.FIB_RATIOS, levels, strict=True):
        np.testing.assert_allclose(level, top - ratio * (top - bottom), rtol=1e-12)


def test_returns_and_log_returns_compare_with_n_bars_ago(ethbtc: pd.DataFrame) -> None:
    close = ethbtc["close"]

    np.testing.assert_allclose(ind.returns(close, 3), close.pct_change(3).to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(
        ind.log_returns(close, 1), np.log(close / close.shift(1)).to_numpy(), rtol=1e-12
    )


def test_volatility_is_the_sample_std_of_log_returns(ethbtc: pd.DataFrame) -> None:
    log_returns = np.log(ethbtc["close"] / ethbtc["close"].shift(1))

    expected = log_returns.rolling(20).std(ddof=1).to_numpy()

    np.testing.assert_allclose(ind.volatility(ethbtc["close"], 20), expected, rtol=1e-9)


def test_shift_gives_the_value_n_bars_ago() -> None:
    np.testing.assert_array_equal(ind.shift([1.0, 2.0, 3.0, 4.0], 2), [np.nan, np.nan, 1.0, 2.0])


def test_flat_prices_give_rsi_and_mfi_zero_like_talib() -> None:
    flat, volume = np.full(40, 100.0), np.full(40, 5.0)

    rsi, mfi = ind.rsi(flat, 14), ind.mfi(flat, flat, flat, volume, 14)

    np.testing.assert_array_equal(rsi[14:], talib.RSI(flat, 14)[14:])
    np.testing.assert_array_equal(mfi[14:], np.zeros(26))


def test_mfi_counts_a_last_bit_change_of_typical_price_as_no_move() -> None:
    # Both bars' h + l + c are 18154.7 in exact arithmetic, but the float typical prices differ by one ulp.
    high = np.array([6080.0, 6060.0, 6100.0, 6090.0])
    low = np.array([6035.0, 6039.69, 6050.0, 6040.0])
    close = np.array([6039.7, 6055.01, 6090.0, 6045.0])
    volume = np.array([10.0, 20.0, 30.0, 40.0])

    ours = ind.mfi(high, low, close, volume, 2)

    np.testing.assert_allclose(ours[2:], talib.MFI(high, low, close, volume, 2)[2:], rtol=1e-12)
    assert ours[2] == 100.0  # bar 1 did not move; bar 2 rose


def test_a_nan_inside_the_data_spoils_only_the_windows_that_hold_it() -> None:
    close = np.arange(1.0, 21.0)
    close[10] = np.nan

    result = ind.sma(close, 3)

    assert np.isnan(result[10:13]).all()
    assert not np.isnan(result[[9, 13]]).any()


def test_a_nan_inside_the_data_ends_a_recursive_indicator() -> None:
    close = np.arange(1.0, 41.0)
    close[20] = np.nan

    result = ind.ema(close, 5)

    assert not np.isnan(result[4:20]).any()
    assert np.isnan(result[20:]).all()


def test_a_series_shorter_than_the_warmup_is_all_nan() -> None:
    assert np.isnan(ind.rsi(np.arange(5.0), 14)).all()


@pytest.mark.parametrize("period", [0, -3, 2.5])
def test_a_bad_period_is_refused(period: float) -> None:
    with pytest.raises(ind.InvalidPeriod, match="whole number"):
        ind.sma(np.arange(10.0), period)  # type: ignore[arg-type]


def test_shift_by_more_bars_than_there_are_is_all_missing() -> None:
    assert np.isnan(ind.shift(np.array([1.0, 2.0, 3.0]), 5)).all()
    assert ind.shift(np.array([]), 2).shape == (0,)
