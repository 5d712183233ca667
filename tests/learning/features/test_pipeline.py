"""build_features: the documented columns, indexed by bar time, computed by the shared indicators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib

from app.domain.errors import ValidationFailed
from app.learning.features import FEATURE_COLUMNS, build_features


def test_features_have_the_documented_columns_one_row_per_bar(ethbtc: pd.DataFrame) -> None:
    features = build_features(ethbtc)

    assert list(features.columns) == list(FEATURE_COLUMNS)
    assert len(features) == len(ethbtc)
    assert (features.dtypes == np.float64).all()


def test_a_timestamp_column_becomes_the_index(ethbtc: pd.DataFrame) -> None:
    features = build_features(ethbtc)

    assert isinstance(features.index, pd.DatetimeIndex)
    assert features.index[0] == ethbtc["timestamp"].iloc[0]


def test_a_datetime_index_is_kept(ethbtc: pd.DataFrame) -> None:
    indexed = ethbtc.set_index("timestamp")

    features = build_features(indexed)

    assert features.index.equals(indexed.index)


def test_indicator_columns_equal_talib(ethbtc: pd.DataFrame) -> None:
    features = build_features(ethbtc)
    high, low, close = (ethbtc[name].to_numpy() for name in ("high", "low", "close"))

    np.testing.assert_allclose(features["rsi_14"], talib.RSI(close, 14), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(features["ema_20"], talib.EMA(close, 20), rtol=1e-9)
    np.testing.assert_allclose(features["atr_14"], talib.ATR(high, low, close, 14), rtol=1e-9)


def test_bollinger_position_is_zero_at_the_lower_band_and_one_at_the_upper(ethbtc: pd.DataFrame) -> None:
    close = ethbtc["close"].to_numpy()
    upper, _, lower = talib.BBANDS(close, 20, 2, 2, 0)

    position = build_features(ethbtc)["bb_pos_20"].to_numpy()

    np.testing.assert_allclose(position, (close - lower) / (upper - lower), rtol=1e-6, atol=1e-9)


def test_fib_zone_counts_the_ratios_the_retracement_passed(ethbtc: pd.DataFrame) -> None:
    features = build_features(ethbtc).dropna()

    depth, zone = features["fib_pos_100"], features["fib_zone_100"]

    assert zone[depth < 0.236].eq(0).all()
    assert zone[(depth >= 0.5) & (depth < 0.618)].eq(3).all()
    assert zone[depth >= 0.786].eq(5).all()


def test_warmup_rows_are_nan_and_later_rows_are_complete(ethbtc: pd.DataFrame) -> None:
    features = build_features(ethbtc)

    assert features.iloc[0].isna().all()
    assert not features.iloc[200:].isna().any().any()


def test_a_missing_price_column_is_named() -> None:
    frame = pd.DataFrame({"open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0]})

    with pytest.raises(ValidationFailed) as caught:
        build_features(frame)

    assert caught.value.problems == [("volume", "missing column")]
