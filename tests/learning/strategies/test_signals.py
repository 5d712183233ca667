"""Spec -> signals: batch evaluation, the live engine's agreement with it, and no lookahead."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib

from app.domain.errors import ValidationFailed
from app.domain.values import Candle
from app.learning.strategies import (
    RULE_NAMES,
    SignalEngine,
    SignalError,
    Signals,
    StrategySpec,
    compute_signals,
    load_spec,
    parse_spec,
    warmup_bars,
)
from tests.learning.conftest import SPECS

EXAMPLES = sorted(SPECS.glob("*.yaml"))


def spec_of(signal: dict[str, str], **extra: object) -> StrategySpec:
    data = {
        "id": "t",
        "asset": "spot",
        "symbol": "ETHBTC",
        "timeframe": "5m",
        "signal": {"kind": "rules", **signal},
    }
    return parse_spec({**data, **extra})


def candles(frame: pd.DataFrame, symbol: str = "ETHBTC", timeframe: str = "5m") -> list[Candle]:
    rows = zip(
        frame["timestamp"],
        frame["open"],
        frame["high"],
        frame["low"],
        frame["close"],
        frame["volume"],
        strict=True,
    )
    return [Candle(symbol, timeframe, ts.to_pydatetime(), o, h, lo, c, v) for ts, o, h, lo, c, v in rows]


def engine_signals(spec: StrategySpec, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    engine = SignalEngine(spec)
    bars = [engine.update(candle) for candle in candles(frame)]
    return {name: np.array([getattr(bar, name) for bar in bars]) for name in RULE_NAMES}


# --- batch ------------------------------------------------------------------------------------------------


def test_sma_cross_signals_match_crossings_of_talib_averages(ethbtc: pd.DataFrame) -> None:
    close = ethbtc["close"].to_numpy()
    fast, slow = talib.SMA(close, 10), talib.SMA(close, 30)
    above, below = fast > slow, fast < slow

    signals = compute_signals(load_spec(SPECS / "sma_cross.yaml"), ethbtc)

    np.testing.assert_array_equal(signals.long_entry[1:], above[1:] & below[:-1])
    np.testing.assert_array_equal(signals.long_exit[1:], below[1:] & above[:-1])
    assert signals.long_entry.sum() > 50


def test_rules_the_spec_lacks_are_all_false(ethbtc: pd.DataFrame) -> None:
    signals = compute_signals(load_spec(SPECS / "sma_cross.yaml"), ethbtc)

    assert len(signals) == len(ethbtc)
    assert not signals.short_entry.any()
    assert not signals.short_exit.any()


def test_a_mapping_of_arrays_gives_the_same_signals_as_a_dataframe(ethbtc: pd.DataFrame) -> None:
    spec = load_spec(SPECS / "rsi_reversion.yaml")
    arrays = {name: ethbtc[name].to_numpy() for name in ("open", "high", "low", "close", "volume")}

    from_frame, from_arrays = compute_signals(spec, ethbtc), compute_signals(spec, arrays)

    for name in RULE_NAMES:
        np.testing.assert_array_equal(getattr(from_frame, name), getattr(from_arrays, name))


def test_signals_cannot_be_changed(ethbtc: pd.DataFrame) -> None:
    signals = compute_signals(load_spec(SPECS / "sma_cross.yaml"), ethbtc)

    with pytest.raises(ValueError, match="read-only"):
        signals.long_entry[0] = True


def test_a_series_the_rules_read_must_be_in_the_data() -> None:
    spec = spec_of({"long_entry": "volume > 1"})

    with pytest.raises(ValidationFailed) as caught:
        compute_signals(spec, {"close": np.ones(3)})

    assert caught.value.problems == [("volume", "missing: the spec's rules read it")]


def test_series_of_different_lengths_are_refused() -> None:
    spec = spec_of({"long_entry": "close > open"})

    with pytest.raises(ValidationFailed, match="the series differ in length"):
        compute_signals(spec, {"close": np.ones(3), "open": np.ones(4)})


def test_signals_has_one_array_per_rule_name() -> None:
    assert [field.name for field in Signals.__attrs_attrs__] == list(RULE_NAMES)


@pytest.mark.parametrize(
    ("spec_file", "bars"),
    [
        ("sma_cross.yaml", 30),
        ("rsi_reversion.yaml", 99),
        ("ema_trend_short.yaml", 48),
        ("bb_breakout.yaml", 19),
    ],
)
def test_warmup_is_the_longest_rule_lookback(spec_file: str, bars: int) -> None:
    assert warmup_bars(load_spec(SPECS / spec_file)) == bars


def test_warmup_covers_the_atr_of_an_atr_stop() -> None:
    spec = spec_of({"long_entry": "close > open"}, stop_loss={"atr": 2.0, "atr_period": 50})

    assert warmup_bars(spec) == 50


# --- no lookahead -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_signals_on_truncated_data_equal_the_full_data_signals(ethbtc: pd.DataFrame, path: Path) -> None:
    spec = load_spec(path)
    full = compute_signals(spec, ethbtc)

    for cut in np.random.default_rng(7).integers(1, len(ethbtc), size=40):
        truncated = compute_signals(spec, ethbtc.iloc[:cut])
        for name in RULE_NAMES:
            np.testing.assert_array_equal(
                getattr(truncated, name), getattr(full, name)[:cut], err_msg=f"{name}@{cut}"
            )


# --- the live engine ------------------------------------------------------------------------------


def test_the_engine_gives_the_batch_signals_for_the_sma_cross(ethbtc: pd.DataFrame) -> None:
    spec = load_spec(SPECS / "sma_cross.yaml")

    live, batch = engine_signals(spec, ethbtc), compute_signals(spec, ethbtc)

    for name in RULE_NAMES:
        np.testing.assert_array_equal(live[name], getattr(batch, name), err_msg=name)


def test_the_engine_gives_the_batch_signals_for_ema_and_rsi_rules(ethbtc: pd.DataFrame) -> None:
    # EMA and RSI restart from a later seed in the engine's window; with the default window (ten times the
    # warm-up, at least 300 bars) the seed has decayed below anything that flips a comparison on this data.
    spec = spec_of(
        {
            "long_entry": "crosses_above(ema(close, 12), ema(close, 26)) and rsi(close, 14) > 50",
            "long_exit": "crosses_below(ema(close, 12), ema(close, 26)) or rsi(close, 14) > 75",
            "short_entry": "macd_hist(close, 12, 26, 9) < 0 and rsi(close, 14) < 40",
            "short_exit": "macd_hist(close, 12, 26, 9) > 0",
        }
    )

    live, batch = engine_signals(spec, ethbtc), compute_signals(spec, ethbtc)

    for name in RULE_NAMES:
        np.testing.assert_array_equal(live[name], getattr(batch, name), err_msg=name)
        assert getattr(batch, name).any()


def test_the_engine_keeps_a_bounded_window_in_the_same_buffers(ethbtc: pd.DataFrame) -> None:
    engine = SignalEngine(load_spec(SPECS / "sma_cross.yaml"), window=50)
    buffers = {name: id(values.base) for name, values in engine.frame().items()}

    for candle in candles(ethbtc.iloc[:500]):
        engine.update(candle)

    assert len(engine) == 50
    assert {name: id(values.base) for name, values in engine.frame().items()} == buffers
    np.testing.assert_array_equal(engine.frame()["close"], ethbtc["close"].to_numpy()[450:500])


def test_the_default_window_is_ten_warmups_and_at_least_300_bars() -> None:
    assert SignalEngine(load_spec(SPECS / "sma_cross.yaml")).window == 300
    assert SignalEngine(load_spec(SPECS / "rsi_reversion.yaml")).window == 990


def test_a_window_shorter_than_the_warmup_is_refused() -> None:
    with pytest.raises(SignalError, match="cannot hold the 30-bar warm-up"):
        SignalEngine(load_spec(SPECS / "sma_cross.yaml"), window=30)


def test_the_engine_is_quiet_during_the_warmup(ethbtc: pd.DataFrame) -> None:
    engine = SignalEngine(spec_of({"long_entry": "close > sma(close, 10) - 1"}))

    fired = [engine.update(candle).long_entry for candle in candles(ethbtc.iloc[:12])]

    assert fired == [False] * 9 + [True] * 3


def test_the_engine_refuses_another_symbol(ethbtc: pd.DataFrame) -> None:
    engine = SignalEngine(load_spec(SPECS / "sma_cross.yaml"))

    with pytest.raises(SignalError, match="trades ETHBTC, got a LTCBTC candle"):
        engine.update(candles(ethbtc.iloc[:1], symbol="LTCBTC")[0])


def test_the_engine_refuses_another_timeframe(ethbtc: pd.DataFrame) -> None:
    engine = SignalEngine(load_spec(SPECS / "sma_cross.yaml"))

    with pytest.raises(SignalError, match="runs on 5m bars, got a 1h candle"):
        engine.update(candles(ethbtc.iloc[:1], timeframe="1h")[0])


def test_the_engine_refuses_a_bar_that_is_not_newer(ethbtc: pd.DataFrame) -> None:
    engine = SignalEngine(load_spec(SPECS / "sma_cross.yaml"))
    first, second = candles(ethbtc.iloc[:2])
    engine.update(second)

    with pytest.raises(SignalError, match="is not after the last one"):
        engine.update(first)


def test_a_bar_signal_carries_its_bar_time(ethbtc: pd.DataFrame) -> None:
    engine = SignalEngine(load_spec(SPECS / "sma_cross.yaml"))
    candle = candles(ethbtc.iloc[:1])[0]

    assert engine.update(candle).ts == candle.ts
    assert candle.close_time - candle.ts == timedelta(minutes=5)
