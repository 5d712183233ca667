"""The promotion gate: every criterion from the config, each failure a reason with value and threshold."""

from __future__ import annotations

import math

import pytest

from app.services.config_schema import ValidationConfig
from app.services.validation.promotion_gate import CRITERIA, decide

GOOD = {
    "profit_factor": 1.8,
    "sharpe": 2.5,
    "max_drawdown": -0.10,
    "cvar_95": -0.02,
    "trades": 250.0,
    "profitable_fold_share": 0.8,
    "stress_p5_max_drawdown": -0.20,
    "pbo": 0.2,
    "deflated_sharpe": 0.97,
}


def test_metrics_meeting_every_threshold_pass_without_reasons():
    decision = decide(GOOD)

    assert decision.passed
    assert decision.reasons == ()
    assert len(decision.checks) == len(CRITERIA)


@pytest.mark.parametrize(
    ("metric", "value", "expected"),
    [
        ("profit_factor", 1.2, "profit factor 1.200 is below the minimum 1.500 (min_profit_factor)"),
        ("sharpe", 1.0, "Sharpe ratio 1.000 is below the minimum 2.000 (min_sharpe)"),
        ("max_drawdown", -0.2, "max drawdown 20.00% is above the maximum 15.00% (max_drawdown)"),
        ("cvar_95", -0.08, "CVaR 95% loss 8.00% is above the maximum 5.00% (max_cvar_95)"),
        ("trades", 150.0, "trades 150 is below the minimum 200 (min_backtest_trades)"),
        ("profitable_fold_share", 0.4, "profitable walk-forward folds 40.00% is below the minimum 60.00%"),
        ("stress_p5_max_drawdown", -0.3, "5th-percentile stress drawdown 30.00% is above the maximum 25.00%"),
        ("pbo", 0.6, "probability of backtest overfitting 0.600 is above the maximum 0.500 (max_pbo)"),
        ("deflated_sharpe", 0.5, "deflated Sharpe ratio 0.500 is below the minimum 0.950"),
    ],
)
def test_each_failing_criterion_is_a_reason_with_its_value_and_threshold(metric, value, expected):
    decision = decide({**GOOD, metric: value})

    assert not decision.passed
    (reason,) = decision.reasons
    assert reason.startswith(expected)


def test_every_failing_criterion_is_reported_not_just_the_first():
    decision = decide({**GOOD, "sharpe": 0.5, "pbo": 0.9, "trades": 3.0})

    assert len(decision.reasons) == 3


def test_a_metric_nobody_measured_fails_and_says_what_would_measure_it():
    metrics = {k: v for k, v in GOOD.items() if k != "profitable_fold_share"}

    decision = decide(metrics)

    assert not decision.passed
    assert decision.reasons == (
        "profitable walk-forward folds was not measured (needs --walkforward);"
        " min_profitable_fold_share is 60.00%",
    )


def test_an_undefined_value_fails():
    assert not decide({**GOOD, "sharpe": math.nan}).passed


def test_thresholds_come_from_the_config():
    strict = ValidationConfig(min_sharpe=3.0)

    assert decide(GOOD).passed
    assert not decide(GOOD, strict).passed


def test_an_infinite_profit_factor_passes_its_minimum():
    assert decide({**GOOD, "profit_factor": math.inf}).passed
