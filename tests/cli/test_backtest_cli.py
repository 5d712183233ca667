"""`app backtest` as a user runs it: reports, exit codes, warnings and refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli.backtest import backtest
from tests.conftest import ROOT, SHARED_DATA

SPECS = ROOT / "config" / "specs"
SPOT_5M = SHARED_DATA / "crypto_spot_5m"
ETHBTC = SPOT_5M / "ETHBTC.csv"
METRICS = (
    "trades",
    "net_profit",
    "profit_factor",
    "sharpe",
    "sortino",
    "max_drawdown",
    "cvar_95",
    "win_rate",
    "exposure",
    "final_equity",
)
TRADE_FIELDS = (
    "entry_time",
    "exit_time",
    "side",
    "entry_price",
    "exit_price",
    "qty",
    "fees",
    "pnl",
    "exit_reason",
)


def invoke(*args: object):
    return CliRunner().invoke(backtest, [str(a) for a in args], catch_exceptions=False)


def spec_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_a_backtest_writes_the_json_it_was_asked_for_and_the_home_reports(tmp_path):
    out = tmp_path / "out" / "bt.json"

    result = invoke(SPECS / "sma_cross.yaml", "--data", SPOT_5M, "--json", out, "--home", tmp_path / "home")

    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert set(METRICS) <= set(report["metrics"])
    assert report["metrics"]["trades"] == len(report["trades"]) > 0
    assert set(TRADE_FIELDS) <= set(report["trades"][0])
    folder = tmp_path / "home" / "reports" / "validation" / "sma-cross-demo"
    assert (folder / "report.json").exists()
    assert (folder / "report.html").exists()
    assert "final_equity" in result.stdout


def test_html_goes_where_it_is_asked(tmp_path):
    out = tmp_path / "report.html"

    result = invoke(SPECS / "sma_cross.yaml", "--data", ETHBTC, "--html", out, "--home", tmp_path)

    assert result.exit_code == 0
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_a_spec_without_a_stop_runs_with_a_warning_about_the_default_stop(tmp_path):
    result = invoke(SPECS / "sma_cross.yaml", "--data", ETHBTC, "--home", tmp_path)

    assert result.exit_code == 0
    assert "has no stop_loss" in result.stderr
    assert "default protective stop (2.00%)" in result.stderr


def test_from_and_to_limit_the_bars(tmp_path):
    out = tmp_path / "bt.json"

    result = invoke(
        SPECS / "sma_cross.yaml",
        "--data",
        ETHBTC,
        "--from",
        "2018-01-20",
        "--to",
        "2018-01-21T00:00Z",
        "--json",
        out,
        "--home",
        tmp_path,
    )

    assert result.exit_code == 0
    data = json.loads(out.read_text())["data"]
    assert (data["first"], data["last"], data["bars"]) == (
        "2018-01-20T00:00:00+00:00",
        "2018-01-20T23:55:00+00:00",
        288,
    )


def test_the_fast_engine_reports_the_same_trades(tmp_path):
    outputs = []
    for engine in ("event", "fast"):
        out = tmp_path / f"{engine}.json"
        invoke(
            SPECS / "bb_breakout.yaml",
            "--data",
            SHARED_DATA / "crypto_spot_1h",
            "--engine",
            engine,
            "--json",
            out,
            "--home",
            tmp_path,
        )
        outputs.append(json.loads(out.read_text())["trades"])

    assert [t["entry_time"] for t in outputs[0]] == [t["entry_time"] for t in outputs[1]]


def test_a_failing_gate_lists_its_reasons_and_exits_1(tmp_path):
    result = invoke(SPECS / "sma_cross.yaml", "--data", ETHBTC, "--gate", "--home", tmp_path)

    assert result.exit_code == 1
    assert "gate: FAILED" in result.stdout
    assert "profit factor" in result.stdout
    assert "(min_profit_factor)" in result.stdout


def test_a_spec_with_an_error_is_refused_with_exit_2(tmp_path):
    bad = spec_file(
        tmp_path,
        "id: x\nasset: spot\nsymbol: ETHBTC\ntimeframe: 5m\nsignal:\n  kind: rules\n"
        "  long_entry: 'smaa(close, 3) > 1'\n",
    )

    result = invoke(bad, "--data", ETHBTC, "--home", tmp_path / "home")

    assert result.exit_code == 2
    assert "unknown name 'smaa'" in result.stderr
    assert not (tmp_path / "home").exists()


def test_data_without_the_specs_symbol_is_refused_with_exit_2(tmp_path):
    result = invoke(
        SPECS / "sma_cross.yaml", "--data", SHARED_DATA / "forex_1h" / "EURUSD.csv", "--home", tmp_path
    )

    assert result.exit_code == 2
    assert "the data has no ETHBTC bars (it has EURUSD)" in result.stderr


def test_data_of_another_timeframe_is_refused_with_exit_2(tmp_path):
    text = (SPECS / "ema_trend_short.yaml").read_text().replace("timeframe: 1h", "timeframe: 15m")

    result = invoke(spec_file(tmp_path, text), "--data", SHARED_DATA / "crypto_futures", "--home", tmp_path)

    assert result.exit_code == 2
    assert "runs on 15m bars" in result.stderr


def test_a_range_too_short_for_the_warm_up_is_refused_with_exit_2(tmp_path):
    result = invoke(
        SPECS / "sma_cross.yaml", "--data", ETHBTC, "--from", "2018-01-30T04:00", "--home", tmp_path
    )

    assert result.exit_code == 2
    assert "the spec needs at least 32" in result.stderr


def test_a_bad_date_is_refused_with_exit_2(tmp_path):
    result = invoke(SPECS / "sma_cross.yaml", "--data", ETHBTC, "--to", "yesterday", "--home", tmp_path)

    assert result.exit_code == 2
    assert "--to: expected an ISO-8601 date" in result.stderr


def test_a_futures_spec_picks_up_funding_beside_its_bars(tmp_path):
    result = invoke(
        SPECS / "ema_trend_short.yaml", "--data", SHARED_DATA / "crypto_futures", "--home", tmp_path
    )

    assert result.exit_code == 0
    assert "XRPUSDT_8h_funding.csv" in result.stderr


@pytest.mark.slow
def test_the_command_runs_in_a_fresh_interpreter(tmp_path):
    code = "from app.cli.backtest import backtest; backtest()"
    args = [str(SPECS / "sma_cross.yaml"), "--data", str(ETHBTC), "--home", str(tmp_path)]

    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)

    assert done.returncode == 0, done.stderr
    assert "report:" in done.stdout
