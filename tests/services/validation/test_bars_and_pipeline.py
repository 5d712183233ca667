"""Bars, annualisation, and the validation pipeline that `app backtest` runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.domain.errors import ValidationFailed
from app.domain.values import Asset
from app.services.validation import BarData, periods_per_year, validate
from tests.services.validation.conftest import example_spec


@pytest.mark.parametrize(
    ("asset", "timeframe", "expected"),
    [
        (Asset.SPOT, "1d", 365.0),
        (Asset.FUTURES, "1h", 8760.0),
        (Asset.SPOT, "5m", 105_120.0),
        (Asset.FOREX, "1h", 6240.0),
        (Asset.FOREX, "1d", 260.0),
        (Asset.OPTIONS, "1d", 252.0),
        (Asset.OPTIONS, "1h", 1638.0),
    ],
)
def test_periods_per_year_follow_each_markets_trading_time(asset, timeframe, expected):
    assert periods_per_year(asset, timeframe) == pytest.approx(expected)


def test_bars_refuse_columns_of_different_lengths():
    with pytest.raises(ValidationFailed, match="close"):
        BarData("X", "1h", [1, 2, 3], [1.0] * 3, [1.0] * 3, [1.0] * 3, [1.0] * 2, [1.0] * 3)


def test_bars_refuse_timestamps_out_of_order():
    with pytest.raises(ValidationFailed, match="strictly increasing"):
        BarData("X", "1h", [1, 3, 2], *([[1.0] * 3] * 5))


def test_a_plain_backtest_runs_nothing_else(ethbtc):
    run = validate(example_spec("sma_cross", symbol="ETHBTC", timeframe="5m"), ethbtc)

    report = run.report()
    assert report["walkforward"] is None
    assert report["stress"] is None
    assert report["gate"] is None


def test_the_gate_runs_walk_forward_stress_and_the_overfitting_guards(ethbtc):
    spec = example_spec("ema_trend_short", symbol="ETHBTC", timeframe="5m", asset="spot")

    run = validate(spec, ethbtc, run_gate=True)

    assert run.walkforward is not None
    assert run.stress is not None
    assert run.gate is not None
    assert run.overfitting is not None
    assert run.overfitting["configurations"] == 5  # the spec and its four param shocks
    assert run.overfitting["pbo"] is not None
    assert run.overfitting["deflated_sharpe"]["trials"] == 5
    json.dumps(run.report(), allow_nan=False)


def test_the_report_curve_is_thinned_but_keeps_the_last_equity(ethbtc):
    run = validate(example_spec("sma_cross", symbol="ETHBTC", timeframe="5m"), ethbtc)

    curve = run.report()["equity_curve"]
    assert len(curve["equity"]) <= 4001
    assert curve["equity"][-1] == pytest.approx(float(np.asarray(run.backtest.equity)[-1]))
