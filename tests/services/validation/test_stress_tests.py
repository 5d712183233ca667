"""Stress tests: seeded Monte Carlo on trades, parameter/cost/latency shocks and regime slicing."""

from __future__ import annotations

import numpy as np
import pytest

from app.services.validation import BacktestOptions, run
from app.services.validation.stress_tests import monte_carlo, regime_labels, stress, trade_returns
from app.services.validation.variants import param_shocks
from tests.services.validation.conftest import bars_of, example_spec

RETURNS = np.array([0.05, -0.02, 0.03, -0.04, 0.01, -0.01, 0.02])


def test_trade_returns_are_each_pnl_over_the_equity_before_it(ethbtc):
    result = run(example_spec("sma_cross", symbol="ETHBTC", timeframe="5m"), ethbtc)

    returns = trade_returns(result.trades, result.cash)

    assert result.cash * np.prod(1 + returns) == pytest.approx(result.metrics["final_equity"])


def test_a_reshuffle_keeps_the_final_equity_and_moves_the_drawdown():
    mc = monte_carlo(RETURNS, 1_000.0, n_sims=200, seed=1, bootstrap=False)

    finals = mc["final_equity"]
    assert finals["p5"] == pytest.approx(finals["p95"])
    assert mc["max_drawdown"]["p5"] < mc["max_drawdown"]["p95"] <= 0


def test_a_bootstrap_spreads_the_final_equity():
    mc = monte_carlo(RETURNS, 1_000.0, n_sims=500, seed=1, bootstrap=True)

    values = [mc["final_equity"][f"p{q}"] for q in (5, 25, 50, 75, 95)]
    assert values == sorted(values)
    assert values[0] < values[-1]


def test_the_same_seed_gives_the_same_distribution_and_another_seed_another():
    first = monte_carlo(RETURNS, 1_000.0, n_sims=300, seed=7, bootstrap=True)

    assert monte_carlo(RETURNS, 1_000.0, n_sims=300, seed=7, bootstrap=True) == first
    assert monte_carlo(RETURNS, 1_000.0, n_sims=300, seed=8, bootstrap=True) != first


def test_param_shocks_move_each_param_both_ways_and_keep_periods_whole():
    spec = example_spec("ema_trend_short")

    variants = dict(param_shocks(spec, 0.1))

    assert set(variants) == {"fast+10%", "fast-10%", "slow+10%", "slow-10%"}
    assert variants["fast+10%"].params["fast"] == 13  # 13.2 rounded to a whole period
    assert variants["slow-10%"].params["slow"] == 43
    assert variants["fast-10%"].params["slow"] == 48


def test_a_shock_that_breaks_the_spec_is_reported_not_raised():
    spec = example_spec("ema_trend_short", params={"fast": 1, "slow": 48})

    variants = dict(param_shocks(spec, 0.1))

    assert isinstance(variants["fast-10%"], str)  # a period of 0 is refused by the spec format
    assert "whole number from 1" in variants["fast-10%"]


def test_regimes_label_the_volatile_fifth_high_vol_and_split_the_rest_by_trend():
    rng = np.random.default_rng(3)
    calm = 100 + np.cumsum(rng.normal(0, 0.1, 400))
    wild = calm[-1] + np.cumsum(rng.normal(0, 3.0, 100))
    bars = bars_of(np.r_[calm, wild])

    labels = regime_labels(bars, window=20)

    assert (labels[:20] == "warmup").all()
    assert "warmup" not in labels[20:]
    assert (labels[-60:] == "high_vol").mean() > 0.9
    assert {"trend", "range"} <= set(labels[20:400])


def test_stress_reports_every_test_and_the_worse_fifth_percentile_drawdown(ethbtc):
    spec = example_spec("ema_trend_short", symbol="ETHBTC", timeframe="5m", asset="spot")
    result = run(spec, ethbtc, BacktestOptions(engine="fast"))

    report = stress(spec, ethbtc, result, n_sims=100, shock_pct=0.2, seed=3)

    assert len(report.param_shocks) == 4
    assert [row["shock"] for row in report.cost_shocks][-1] == "fees x2"
    assert len(report.latency_shocks) == 2
    assert {r["regime"] for r in report.regimes} == {"trend", "range", "high_vol", "warmup"}
    assert sum(r["trades"] for r in report.regimes) == len(result.trades)
    worse = min(report.monte_carlo["max_drawdown"]["p5"], report.bootstrap["max_drawdown"]["p5"])
    assert report.p5_max_drawdown == worse


def test_higher_slippage_never_improves_the_result(ethbtc):
    spec = example_spec("sma_cross", symbol="ETHBTC", timeframe="5m")
    result = run(spec, ethbtc, BacktestOptions(engine="fast"))

    rows = stress(spec, ethbtc, result, n_sims=10).cost_shocks

    profits = [row["net_profit"] for row in rows[:3]]
    assert result.metrics["net_profit"] > profits[0] > profits[1] > profits[2]
