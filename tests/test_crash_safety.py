"""Crash safety as a user would meet it: `app run --paper` SIGKILLed at random moments and restarted with the
same command ends with exactly the orders, fills, positions and balances of a run never interrupted: on one
symbol with two strategies, and on three symbols whose bars share their times, stopped by `--bars`."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, SHARED_DATA

APP = [sys.executable, "-m", "app.cli"]
DATA = SHARED_DATA / "crypto_spot_5m" / "ETHBTC.csv"
SPECS = [ROOT / "config" / "specs" / "sma_cross.yaml", ROOT / "config" / "specs" / "rsi_reversion.yaml"]


def run_args(home: Path, data: Path = DATA, specs: list[Path] = SPECS, bars: int | None = None) -> list[str]:
    args = [
        *APP,
        "run",
        "--paper",
        "--feed",
        "replay",
        "--data",
        str(data),
        "--speed",
        "max",
        "--home",
        str(home),
    ]
    for spec in specs:
        args += ["--spec", str(spec)]
    if bars is not None:
        args += ["--bars", str(bars)]
    return args


def app_json(command: str, home: Path) -> dict:
    out = subprocess.run(
        [*APP, command, "--home", str(home), "--json"], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(out.stdout)


KILLS = 8


@pytest.mark.slow
def test_a_run_killed_many_times_ends_like_an_uninterrupted_one(tmp_path):
    killed_and_restarted_ends_like_uninterrupted(tmp_path, run_args, random.Random(20261125))


@pytest.mark.slow
def test_a_run_on_three_symbols_killed_many_times_ends_at_its_bar_limit_like_an_uninterrupted_one(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    demo = yaml.safe_load((ROOT / "config" / "specs" / "sma_cross.yaml").read_text())
    specs = []
    for symbol in ("ADABTC", "LTCBTC", "XLMBTC"):
        (data / f"{symbol}.csv").symlink_to(SHARED_DATA / "crypto_spot_5m" / f"{symbol}.csv")
        spec = {**demo, "id": f"sma-cross-{symbol.lower()}", "symbol": symbol}
        spec["sizing"] = {**demo["sizing"], "fraction": 0.3}
        specs.append(tmp_path / f"{symbol}.yaml")
        specs[-1].write_text(yaml.safe_dump(spec))
    # 3 x 700 + 1: the last bar is the first of its time, so the limit falls between bars of one time too.
    killed_and_restarted_ends_like_uninterrupted(
        tmp_path, lambda home: run_args(home, data, specs, bars=2101), random.Random(20261203)
    )


def killed_and_restarted_ends_like_uninterrupted(
    tmp_path: Path, args: Callable[[Path], list[str]], rng: random.Random
) -> None:
    whole, crashed = tmp_path / "whole", tmp_path / "crashed"
    started = time.monotonic()
    subprocess.run(args(whole), check=True, capture_output=True, cwd=ROOT, timeout=600)
    duration = time.monotonic() - started

    for _ in range(KILLS):
        with (tmp_path / "stderr.txt").open("wb") as err:
            proc = subprocess.Popen(args(crashed), stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
            try:
                proc.wait(timeout=rng.uniform(0.3, 0.95) * duration)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, (tmp_path / "stderr.txt").read_text()
        if (crashed / "paper.db").exists():
            status = app_json("status", crashed)
            unprotected = [p for p in status["positions"] if p["stop_loss"] is None]
            assert not unprotected, f"positions without a stop after a kill: {unprotected}"
    subprocess.run(args(crashed), check=True, capture_output=True, cwd=ROOT, timeout=600)

    trades_whole, trades_crashed = app_json("trades", whole), app_json("trades", crashed)
    assert trades_whole["trades"], "the comparison needs trades"
    assert trades_crashed["orders"] == trades_whole["orders"]
    assert trades_crashed["trades"] == trades_whole["trades"]
    assert app_json("status", crashed) == app_json("status", whole)
    ids = [o["client_order_id"] for o in trades_crashed["orders"]]
    assert len(ids) == len(set(ids)), "no order placed twice"
    rebuilt = subprocess.run(
        [*APP, "status", "--home", str(crashed), "--rebuild"], capture_output=True, text=True, cwd=ROOT
    )
    assert rebuilt.returncode == 0, rebuilt.stdout
