import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import quantstats as qs
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.domain.metrics import (
    cagr,
    calmar,
    cvar,
    expectancy,
    max_drawdown,
    profit_factor,
    sharpe,
    sortino,
    win_rate,
)

RETURNS = [0.01, -0.02, 0.03, -0.01, 0.02]
DATA = Path("/work/shared/data")


# --- worked examples --------------------------------------------------------------------------------


def test_sharpe_is_mean_over_sample_std_annualised():
    # mean = 0.03 / 5 = 0.006; squared deviations 0.000016 + 0.000676 + 0.000576 + 0.000256 + 0.000196
    # = 0.00172; / (5 - 1) = 0.00043; std = 0.0207364; 0.006 / 0.0207364 x sqrt(252) = 4.5933
    expected = 0.006 / math.sqrt(0.00043) * math.sqrt(252)

    assert sharpe(RETURNS, 252) == pytest.approx(expected)
    assert sharpe(RETURNS, 252) == pytest.approx(4.5933, abs=1e-4)


def test_sortino_divides_by_the_downside_deviation():
    # negatives -0.02 and -0.01: (0.0004 + 0.0001) / 5 = 0.0001; sqrt = 0.01
    # 0.006 / 0.01 x sqrt(252) = 9.5247
    assert sortino(RETURNS, 252) == pytest.approx(0.6 * math.sqrt(252))


def test_max_drawdown_is_the_deepest_fall_from_a_peak():
    # peaks 100, 120, 120, 130, 130: the worst is 65 / 130 - 1 = -0.5 (not 90 / 120 - 1 = -0.25)
    assert max_drawdown([100, 120, 90, 130, 65]) == pytest.approx(-0.5)


def test_a_rising_curve_has_no_drawdown():
    assert max_drawdown([1, 2, 3]) == 0.0


def test_profit_factor_is_gross_profit_over_gross_loss():
    # (50 + 30) / (20 + 10) = 2.667
    assert profit_factor([50, -20, 30, -10]) == pytest.approx(80 / 30)


def test_profit_factor_without_losses_is_infinite_and_without_trades_zero():
    assert profit_factor([10, 5]) == math.inf
    assert profit_factor([]) == 0.0


def test_cvar_is_the_mean_of_the_worst_tail():
    # 20 returns -0.10 .. 0.09; the 5% quantile is -0.10 + 0.95 x 0.01 = -0.0905, only -0.10 is at or below
    returns = np.arange(-10, 10) / 100

    assert cvar(returns, 0.95) == pytest.approx(-0.10)


def test_cvar_at_a_wider_level_averages_more_of_the_tail():
    # 10% of 20: quantile -0.10 + 1.9 x 0.01 = -0.081 -> -0.10 and -0.09 -> mean -0.095
    assert cvar(np.arange(-10, 10) / 100, 0.90) == pytest.approx(-0.095)


def test_win_rate_counts_positive_trades_over_all_trades():
    # 2 winners of 4 trades (the break-even one is not a win)
    assert win_rate([50, -20, 0, 30]) == 0.5


def test_expectancy_is_the_average_trade():
    # (50 - 20 + 0 + 30) / 4 = 15
    assert expectancy([50, -20, 0, 30]) == 15.0


def test_calmar_is_growth_over_the_worst_drawdown():
    # one year of 3 periods: 1.1 x 0.5 x 1.2 = 0.66 -> CAGR -0.34; equity 1, 1.1, 0.55, 0.66 -> dd -0.5
    assert cagr([0.1, -0.5, 0.2], 3) == pytest.approx(-0.34)
    assert calmar([0.1, -0.5, 0.2], 3) == pytest.approx(-0.68)


def test_calmar_without_drawdown_is_infinite_when_growing():
    assert calmar([0.01, 0.02], 252) == math.inf


@pytest.mark.parametrize("metric", [sharpe, sortino])
def test_ratios_of_nothing_are_zero(metric):
    assert metric([], 252) == 0.0
    assert metric([0.01], 252) == 0.0
    assert metric([0.01, 0.01, 0.01], 252) == 0.0


def test_sortino_without_losing_periods_is_zero():
    assert sortino([0.01, 0.02], 252) == 0.0


def test_nan_returns_are_skipped():
    assert sharpe([*RETURNS, float("nan")], 252) == pytest.approx(sharpe(RETURNS, 252))


def test_cvar_rejects_a_level_outside_zero_and_one():
    with pytest.raises(ValueError, match="level"):
        cvar(RETURNS, 95)


# --- against quantstats -----------------------------------------------------------------------------


def _closes(path):
    frame = pd.read_csv(path, usecols=["timestamp", "close"])
    return frame.set_index(pd.to_datetime(frame["timestamp"]).dt.tz_localize(None))["close"]


REAL = [
    ("crypto_spot_1h/BTCUSD_coinbase.csv", 24 * 365),
    ("forex_1h/EURUSD.csv", 24 * 260),
    ("stocks_1d/GOOGL.csv", 252),
    ("crypto_futures/XRPUSDT_5m.csv", 12 * 24 * 365),
]


@pytest.mark.skipif(not DATA.exists(), reason="shared market data not present")
@pytest.mark.parametrize(("name", "periods"), REAL)
def test_metrics_match_quantstats_on_real_prices(name, periods):
    prices = _closes(DATA / name)
    returns = prices.pct_change().dropna()
    equity = 1000 * (1 + returns).cumprod()
    r = returns.to_numpy()

    assert sharpe(r, periods) == pytest.approx(qs.stats.sharpe(returns, periods=periods), rel=1e-9)
    assert sortino(r, periods) == pytest.approx(qs.stats.sortino(returns, periods=periods), rel=1e-9)
    assert max_drawdown(equity.to_numpy()) == pytest.approx(qs.stats.max_drawdown(equity), rel=1e-9)
    assert cvar(r) == pytest.approx(qs.stats.cvar(returns, method="historical"), rel=1e-9)
    assert calmar(r, periods) == pytest.approx(qs.stats.calmar(returns, periods=periods), rel=1e-9)


@pytest.mark.skipif(not DATA.exists(), reason="shared market data not present")
def test_max_drawdown_of_a_price_series_matches_quantstats():
    prices = _closes(DATA / "crypto_spot_1h/BTCUSD_coinbase.csv")

    assert max_drawdown(prices.to_numpy()) == pytest.approx(qs.stats.max_drawdown(prices), rel=1e-12)


random_returns = st.lists(
    st.floats(min_value=-0.5, max_value=0.5, allow_nan=False, allow_subnormal=False), min_size=3, max_size=300
)


def _series(values):
    return pd.Series(values, index=pd.date_range("2020-01-01", periods=len(values), freq="D"))


@settings(max_examples=300, deadline=None)
@given(random_returns, st.sampled_from([252, 365, 8760]))
def test_sharpe_and_sortino_match_quantstats_on_random_series(values, periods):
    r = np.array(values)
    # both ratios are defined (0.0 here, nan or inf in quantstats) only with real dispersion and losses
    assume(r.std(ddof=1) > 1e-9 and np.sqrt((r[r < 0] ** 2).sum() / len(r)) > 1e-9)

    assert sharpe(r, periods) == pytest.approx(qs.stats.sharpe(_series(values), periods=periods), rel=1e-6)
    assert sortino(r, periods) == pytest.approx(qs.stats.sortino(_series(values), periods=periods), rel=1e-6)


@settings(max_examples=300, deadline=None)
@given(random_returns)
def test_max_drawdown_matches_quantstats_on_random_series(values):
    # quantstats reads a series with a negative value as returns and starts its equity at 1
    equity = np.concatenate(([1.0], np.cumprod(1 + np.array(values))))
    assume(min(values) < 0)

    assert max_drawdown(equity) == pytest.approx(qs.stats.max_drawdown(_series(values)), rel=1e-9, abs=1e-12)


@settings(max_examples=300)
@given(random_returns)
def test_max_drawdown_is_a_fraction_between_minus_one_and_zero(values):
    equity = np.cumprod(1 + np.array(values))

    assert -1.0 <= max_drawdown(equity) <= 0.0
