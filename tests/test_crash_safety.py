"""Crash safety as a user would meet it: `app run --paper` SIGKILLed at random moments and restarted with the
same command ends with exactly the orders, fills, positions and balances of a run never interrupted."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SHARED_DATA

APP = [sys.executable, "-m", "app.cli"]
DATA = SHARED_DATA / "crypto_spot_5m" / "ETHBTC.csv"
SPECS = [ROOT / "config" / "specs" / "sma_cross.yaml", ROOT / "config" / "specs" / "rsi_reversion.yaml"]


def run_args(home: Path) -> list[str]:
    args = [*APP, "run", "--paper", "--feed", "replay", "--data", str(DATA), "--speed", "max", "--home", str(home)]
    for spec in SPECS:
        args += ["--spec", str(spec)]
    return args


def app_json(command: str, home: Path) -> dict:
    out = subprocess.run(
        [*APP, command, "--home", str(home), "--json"], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(out.stdout)


@pytest.mark.slow
def test_a_run_killed_many_times_ends_like_an_uninterrupted_one(tmp_path):
    rng = random.Random(20261125)
    whole, crashed = tmp_path / "whole", tmp_path / "crashed"
    subprocess.run(run_args(whole), check=True, capture_output=True, cwd=ROOT, timeout=600)

    kills = 0
    for _ in range(40):
        proc = subprocess.Popen(run_args(crashed), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
        try:
            proc.wait(timeout=rng.uniform(0.8, 4.0))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            if (crashed / "paper.db").exists():
                status = app_json("status", crashed)
                unprotected = [p for p in status["positions"] if p["stop_loss"] is None]
                assert not unprotected, f"positions without a stop after a kill: {unprotected}"
            continue
        assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""
        break
    else:
        pytest.fail("the crashed run never finished")

    assert kills >= 3, "the test must actually interrupt the run"
    trades_whole, trades_crashed = app_json("trades", whole), app_json("trades", crashed)
    assert trades_crashed["orders"] == trades_whole["orders"]
    assert trades_crashed["trades"] == trades_whole["trades"]
    assert app_json("status", crashed) == app_json("status", whole)
    ids = [o["client_order_id"] for o in trades_crashed["orders"]]
    assert len(ids) == len(set(ids)), "no order placed twice"
