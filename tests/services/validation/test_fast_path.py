"""The array fast path gives the event path's trades, bar for bar and price for price."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.validation import BacktestOptions, BacktestResult, BarData, run
from app.services.validation.bars import BarData as Bars
from tests.services.validation.conftest import bars_of, example_spec, spec_of, whole_units


def assert_same_trades(event: BacktestResult, fast: BacktestResult) -> None:
    assert len(event.trades) == len(fast.trades)
    for a, b in zip(event.trades, fast.trades, strict=True):
        assert (a.entry_bar, a.exit_bar, a.side, a.exit_reason) == (
            b.entry_bar,
            b.exit_bar,
            b.side,
            b.exit_reason,
        )
        assert a.entry_price == pytest.approx(b.entry_price, rel=1e-12)
        assert a.exit_price == pytest.approx(b.exit_price, rel=1e-12)
        assert a.qty == pytest.approx(b.qty, rel=1e-9, abs=1e-6)  # at most one lot apart after float sizing
        assert a.pnl == pytest.approx(b.pnl, rel=1e-6, abs=1e-6)
    np.testing.assert_allclose(event.equity, fast.equity, rtol=1e-9)


def both(spec, bars: BarData, **options) -> tuple[BacktestResult, BacktestResult]:
    event = run(spec, bars, BacktestOptions(engine="event", **options))
    fast = run(spec, bars, BacktestOptions(engine="fast", **options))
    return event, fast


@pytest.mark.parametrize("name", ["sma_cross", "rsi_reversion", "bb_breakout"])
def test_fast_path_matches_the_event_path_on_the_example_spot_specs(ethbtc, name):
    spec = example_spec(name, symbol="ETHBTC", timeframe="5m")

    event, fast = both(spec, ethbtc)

    assert event.trades, "the spec should trade on this data"
    assert_same_trades(event, fast)


def test_fast_path_matches_on_stops_targets_and_trailing_stops_both_ways(ethbtc):
    spec = example_spec(
        "ema_trend_short",
        symbol="ETHBTC",
        timeframe="5m",
        stop_loss={"pct": 0.004},
        take_profit={"pct": 0.01},
        trailing_stop={"atr": 3.0, "atr_period": 14},
        costs={"fee_rate": 0.00055, "slippage_bps": 3},
    )

    event, fast = both(spec, ethbtc)

    reasons = {t.exit_reason for t in event.trades}
    assert {"stop_loss", "take_profit", "trailing_stop", "signal"} <= reasons
    assert {t.side for t in event.trades} == {"long", "short"}
    assert_same_trades(event, fast)


def test_fast_path_matches_with_risk_sizing_latency_and_whole_units(ethbtc):
    spec = example_spec(
        "rsi_reversion",
        symbol="ETHBTC",
        timeframe="5m",
        params={
            "rsi_period": 14,
            "oversold": 35,
            "recovered": 60,
            "trend": 200,
        },
        execution={"latency_bars": 2},
    )

    event, fast = both(spec, ethbtc, instrument=whole_units("ETHBTC"), cash=1_000_000)

    assert len(event.trades) > 5
    assert_same_trades(event, fast)


def test_fast_path_matches_with_funding_on_a_perpetual(xrpusdt):
    rates = np.zeros(len(xrpusdt))
    rates[::8] = 0.0001
    bars = Bars(
        "XRPUSDT",
        "1h",
        xrpusdt.ts,
        xrpusdt.open,
        xrpusdt.high,
        xrpusdt.low,
        xrpusdt.close,
        xrpusdt.volume,
        funding=rates,
    )
    spec = example_spec("ema_trend_short", params={"fast": 3, "slow": 8})

    event, fast = both(spec, bars)

    assert any(t.funding != 0 for t in event.trades)
    assert_same_trades(event, fast)


@settings(max_examples=25)
@given(
    seed=st.integers(0, 2**32 - 1),
    stop=st.sampled_from([None, {"pct": 0.01}, {"atr": 1.5, "atr_period": 5}]),
    target=st.sampled_from([None, {"pct": 0.02}, {"atr": 2.0, "atr_period": 3}]),
    trailing=st.sampled_from([None, {"pct": 0.015}, {"atr": 1.0, "atr_period": 4}]),
    asset=st.sampled_from(["spot", "futures"]),
)
def test_fast_path_matches_on_random_walks_with_random_protection(seed, stop, target, trailing, asset):
    rng = np.random.default_rng(seed)
    n = 300
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    opens = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0, 0.002, n))
    highs = np.maximum(opens, close) * np.exp(np.abs(rng.normal(0, 0.005, n)))
    lows = np.minimum(opens, close) * np.exp(-np.abs(rng.normal(0, 0.005, n)))
    codes = rng.choice([10.0, 0.0, 1.0], size=n, p=[0.1, 0.1, 0.8])
    bars = bars_of(opens, highs, lows, close, codes, funding=rng.choice([0.0, 0.0005], size=n))
    signal = {
        "kind": "rules",
        "long_entry": "volume > 5 and close > open",
        "long_exit": "volume < 0.5",
        "short_entry": "volume > 5 and close < open",
        "short_exit": "volume < 0.5",
    }
    spec = spec_of(
        asset=asset,
        signal=signal,
        stop_loss=stop,
        take_profit=target,
        trailing_stop=trailing,
        costs={"fee_rate": 0.001, "slippage_bps": 2},
    )

    event, fast = both(spec, bars)

    assert_same_trades(event, fast)
