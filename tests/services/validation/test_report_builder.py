"""Reports: JSON and a self-contained HTML page under <home>/reports/validation/<strategy_id>/."""

from __future__ import annotations

import json
import re
from html import escape

import pytest

from app.services.validation import validate
from app.services.validation.report_builder import build
from tests.services.validation.conftest import example_spec


@pytest.fixture(scope="module")
def report(ethbtc):
    spec = example_spec("bb_breakout", symbol="ETHBTC", timeframe="5m", params={})
    return validate(spec, ethbtc, run_gate=True, trials=5).report()


def test_build_writes_json_and_html_under_the_strategys_folder(report, tmp_path):
    paths = build("bb-breakout", report, tmp_path)

    folder = tmp_path / "reports" / "validation" / "bb-breakout"
    assert (paths.json, paths.html) == (folder / "report.json", folder / "report.html")
    assert json.loads(paths.json.read_text())["strategy_id"] == "bb-breakout"


def test_the_json_is_strict_and_holds_metrics_and_trades_with_their_fields(report, tmp_path):
    loaded = json.loads(build("x", report, tmp_path).json.read_text(), parse_constant=pytest.fail)

    for key in ("trades", "net_profit", "profit_factor", "sharpe", "sortino", "max_drawdown", "cvar_95"):
        assert key in loaded["metrics"]
    fields = {
        "entry_time",
        "exit_time",
        "side",
        "entry_price",
        "exit_price",
        "qty",
        "fees",
        "pnl",
        "exit_reason",
    }
    assert loaded["trades"]
    assert fields <= set(loaded["trades"][0])


def test_the_html_needs_no_network_and_shows_every_section(report, tmp_path):
    html = build("x", report, tmp_path).html.read_text()

    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script" not in html
    assert html.count("<svg") >= 6  # equity, drawdown, two histograms for each Monte Carlo method
    for title in (
        "Promotion gate",
        "Metrics",
        "Equity",
        "Drawdown",
        "Monthly returns",
        "Walk-forward",
        "Stress tests",
        "Overfitting guards",
        "Trades",
    ):
        assert f"<h2>{title}" in html
    assert report["gate"]["reasons"]
    for reason in report["gate"]["reasons"]:
        assert escape(reason) in html


def test_text_from_the_spec_is_escaped(report, tmp_path):
    tampered = {**report, "spec": {**report["spec"], "description": "<script>alert(1)</script>"}}

    html = build("x", tampered, tmp_path).html.read_text()

    assert "<script>" not in html
    assert "&lt;script&gt;" in html
