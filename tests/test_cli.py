"""The `app` command as a user runs it: exit codes, messages, and what lands in the home folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from app.cli import main
from tests.conftest import ROOT, SHARED_DATA

APP = [sys.executable, "-m", "app.cli"]
SPEC = ROOT / "config" / "specs" / "sma_cross.yaml"
ETHBTC = SHARED_DATA / "crypto_spot_5m" / "ETHBTC.csv"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_help_lists_every_command_with_a_description():
    result = invoke("--help")

    assert result.exit_code == 0
    for command in ("run", "status", "trades", "config"):
        assert command in result.output


def test_config_check_summarises_the_defaults():
    result = invoke("config", "check")

    assert result.exit_code == 0
    assert "config version" in result.output


def test_config_check_names_each_bad_field_and_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("assets:\n  spot:\n    risk:\n      risk_fraction: 2\n  bogus: 1\n")

    result = invoke("config", "check", str(bad))

    assert result.exit_code == 2
    assert "assets.spot.risk.risk_fraction:" in result.output
    assert "assets.bogus:" in result.output


def test_a_bad_config_stops_the_run_before_the_home_folder_exists(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("runtime:\n  seed: [1, 2]\n")
    home = tmp_path / "home"

    result = invoke("run", "--paper", "--config", str(bad), "--home", str(home))

    assert result.exit_code == 2
    assert "runtime.seed" in result.output
    assert not home.exists()


def test_a_bad_data_file_is_named_with_its_line_and_nothing_is_written(tmp_path):
    data = tmp_path / "BTCUSDT.csv"
    data.write_text(
        "timestamp,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,2,1,1,1\nnot-a-time,1,2,1,1,1\n"
    )
    home = tmp_path / "home"

    result = invoke("run", "--paper", "--feed", "replay", "--data", str(data), "--home", str(home))

    assert result.exit_code == 2
    assert "BTCUSDT.csv" in result.output
    assert "line 3" in result.output
    assert not home.exists()


def test_a_spec_with_a_rule_error_points_at_the_column(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "id: x\nasset: spot\nsymbol: ETHBTC\ntimeframe: 5m\nsignal:\n  kind: rules\n"
        '  long_entry: "sma(close, 10) > smaa(close, 30)"\n'
    )
    home = tmp_path / "home"

    result = invoke(
        "run", "--paper", "--feed", "replay", "--data", str(ETHBTC), "--spec", str(spec), "--home", str(home)
    )

    assert result.exit_code == 2
    assert "signal.long_entry" in result.output
    assert "column 18" in result.output
    assert not home.exists()


def test_a_spec_whose_symbol_is_not_in_the_data_is_refused(tmp_path):
    other = SHARED_DATA / "crypto_spot_5m" / "LTCBTC.csv"
    home = tmp_path / "home"

    result = invoke(
        "run", "--paper", "--feed", "replay", "--data", str(other), "--spec", str(SPEC), "--home", str(home)
    )

    assert result.exit_code == 2
    assert "no ETHBTC" in result.output
    assert not home.exists()


def test_a_file_named_after_the_spec_symbol_with_a_tag_is_traded_as_in_a_backtest(tmp_path):
    data = tmp_path / "ETHBTC_binance.csv"
    data.write_text("".join(ETHBTC.read_text().splitlines(keepends=True)[:1500]))
    home = tmp_path / "home"

    result = invoke(
        "run", "--paper", "--feed", "replay", "--data", str(data), "--spec", str(SPEC),
        "--home", str(home), "--speed", "max", "--status-every", "60",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "note: ETHBTC bars come from the series ETHBTC_binance" in result.output
    trades = json.loads(invoke("trades", "--home", str(home), "--json").output)["trades"]
    assert trades
    assert {t["symbol"] for t in trades} == {"ETHBTC"}


def test_the_futures_folder_replays_the_spec_timeframe_and_charges_the_funding_beside_it(tmp_path):
    home = tmp_path / "home"

    result = invoke(
        "run", "--paper", "--feed", "replay", "--data", str(SHARED_DATA / "crypto_futures"),
        "--spec", str(ROOT / "config" / "specs" / "ema_trend_short.yaml"), "--home", str(home), "--speed", "max",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert (
        "note: not replayed: XRPUSDT_5m.csv (XRPUSDT 5m; XRPUSDT_1h.csv has the wanted 1h)" in result.output
    )
    assert "note: not replayed: XRPUSDT_8h_funding.csv (funding data, not traded prices)" in result.output
    (futures,) = json.loads(invoke("status", "--home", str(home), "--json").output)["assets"]
    assert futures["funding_payments"] > 0


def test_entries_on_several_symbols_at_one_time_keep_to_the_cluster_cap(tmp_path):
    # Four BTC-quoted alts (one configured cluster, at most 2 positions at once), each traded by its own spec
    # at 40% of the cash. Market entries fill at the next bar, so entries decided at the same time must count
    # the ones still working: an earlier version held up to 3 positions in the cluster within these bars.
    data = tmp_path / "data"
    data.mkdir()
    specs = []
    for symbol in ("ADABTC", "LTCBTC", "XLMBTC", "ETCBTC"):
        (data / f"{symbol}.csv").symlink_to(SHARED_DATA / "crypto_spot_5m" / f"{symbol}.csv")
        spec = yaml.safe_load(SPEC.read_text())
        spec.update(id=f"sma-{symbol.lower()}", symbol=symbol)
        spec["sizing"]["fraction"] = 0.4
        specs += ["--spec", str(tmp_path / f"{symbol}.yaml")]
        (tmp_path / f"{symbol}.yaml").write_text(yaml.safe_dump(spec))
    home = tmp_path / "home"

    result = invoke(
        "run", "--paper", "--feed", "replay", "--data", str(data), *specs, "--bars", "6000",
        "--home", str(home), "--speed", "max", "--status-every", "60",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    trades = json.loads(invoke("trades", "--home", str(home), "--json").output)["trades"]
    assert len({t["symbol"] for t in trades}) == 4
    changes = sorted([(t["entry_time"], 1) for t in trades] + [(t["exit_time"], -1) for t in trades])
    held = most = 0
    for _, change in changes:  # at one time, exits (-1) sort before entries
        held += change
        most = max(most, held)
    assert most == 2


def test_status_on_an_empty_home_says_what_to_do(tmp_path):
    result = invoke("status", "--home", str(tmp_path / "nothing"))

    assert result.exit_code == 2
    assert "app run --paper" in result.output


def test_live_is_refused_with_the_reason(tmp_path):
    result = invoke("run", "--live", "--home", str(tmp_path / "h"))

    assert result.exit_code == 2
    assert "--live" in result.output


def run_replay(home: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *APP,
            "run",
            "--paper",
            "--feed",
            "replay",
            "--data",
            str(ETHBTC),
            "--spec",
            str(SPEC),
            "--speed",
            "max",
            "--home",
            str(home),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        cwd=ROOT,
    )


def app_json(command: str, home: Path) -> dict:
    out = subprocess.run(
        [*APP, command, "--home", str(home), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout)


@pytest.mark.slow
def test_a_replay_run_trades_to_the_end_and_twice_gives_identical_trades(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"

    run_replay(first)
    run_replay(second)

    trades_a, trades_b = app_json("trades", first), app_json("trades", second)
    assert trades_a["trades"], "the demo spec trades on ETHBTC"
    # the strategy's own orders, and the venue's stop-loss / take-profit closes of the default protective stop
    assert all(o["client_order_id"].startswith(("sma-cross-demo-", "sim-")) for o in trades_a["orders"])
    assert any(o["client_order_id"].startswith("sma-cross-demo-") for o in trades_a["orders"])
    assert {o["status"] for o in trades_a["orders"]} == {"filled"}
    assert trades_a == trades_b
    status = app_json("status", first)
    assert status["assets"][0]["asset"] == "spot"
    assert status["assets"][0]["trades"] == len(trades_a["trades"])
    assert (first / "paper.db").stat().st_mode & 0o077 == 0
    assert first.stat().st_mode & 0o077 == 0


@pytest.mark.slow
def test_a_run_stopped_and_resumed_ends_like_an_uninterrupted_one(tmp_path):
    whole, pieces = tmp_path / "whole", tmp_path / "pieces"

    run_replay(whole)
    run_replay(pieces, "--bars", "700")
    run_replay(pieces, "--bars", "1900")
    run_replay(pieces)

    assert app_json("trades", pieces) == app_json("trades", whole)
    assert app_json("status", pieces) == app_json("status", whole)


@pytest.mark.slow
def test_sigint_stops_a_paced_run_cleanly_with_the_state_saved(tmp_path):
    import signal
    import time

    home = tmp_path / "h"
    proc = subprocess.Popen(
        [*APP, "run", "--paper", "--home", str(home), "--speed", "6000", "--status-every", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 60
    while not (home / "paper.db").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)

    assert proc.returncode == 0, err
    assert "[running]" in out
    assert "stopped on request" in out
    assert app_json("status", home)["assets"]


def test_a_run_started_again_says_where_it_resumes_and_bars_bounds_the_whole_run(tmp_path):
    home = tmp_path / "home"

    first = run_replay(home, "--bars", "30")
    again = run_replay(home, "--bars", "30")
    more = run_replay(home, "--bars", "40")

    assert "resuming" not in first.stdout
    assert "resuming after the bar opened 2018-01-10 07:20 UTC (30 bars processed)" in again.stdout
    assert "| bars 30 |" in again.stdout  # nothing more: the run had processed its 30 bars
    assert "(30 bars processed)" in more.stdout
    assert "| bars 40 |" in more.stdout
