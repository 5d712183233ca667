"""Crash safety on a perpetual: `app run --paper` over the real XRPUSDT bars and funding series, SIGKILLed at
random moments and restarted, journals every funding payment exactly once (a restarted venue charges the past
times again while it warms up) and ends with the orders, trades, funding and balances of an uninterrupted run."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.adapters.storage.sqlite import SqliteStorage
from tests.conftest import ROOT
from tests.services.perp_replay import perp_folder, perp_spec

APP = [sys.executable, "-m", "app.cli"]
KILLS = 6


def run_args(home: Path, data: Path, spec: Path) -> list[str]:
    run = ["run", "--paper", "--feed", "replay", "--speed", "max"]
    return [*APP, *run, "--data", str(data), "--spec", str(spec), "--home", str(home)]


def app_json(command: str, home: Path) -> dict:
    out = subprocess.run(
        [*APP, command, "--home", str(home), "--json"], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(out.stdout)


def funding(home: Path) -> list[dict]:
    with SqliteStorage.open(home / "paper.db", readonly=True) as store:
        return [dict(fields) for _, _, _, fields in store.events(kind="funding")]


@pytest.mark.slow
def test_a_perpetual_run_killed_many_times_journals_its_funding_like_an_uninterrupted_one(tmp_path):
    data = perp_folder(tmp_path)
    spec = tmp_path / "perp.json"
    spec.write_text(json.dumps(perp_spec().model_dump(mode="json", exclude_unset=True)))
    rng = random.Random(20261202)
    whole, crashed = tmp_path / "whole", tmp_path / "crashed"
    started = time.monotonic()
    subprocess.run(run_args(whole, data, spec), check=True, capture_output=True, cwd=ROOT, timeout=600)
    duration = time.monotonic() - started

    kills = 0
    for _ in range(KILLS):
        proc = subprocess.Popen(
            run_args(crashed, data, spec), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT
        )
        try:
            proc.wait(timeout=rng.uniform(0.3, 0.95) * duration)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        _, err = proc.communicate()
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, err.decode()
    subprocess.run(run_args(crashed, data, spec), check=True, capture_output=True, cwd=ROOT, timeout=600)

    assert kills >= 1
    paid = funding(crashed)
    assert len(paid) >= 4
    assert len({f["id"] for f in paid}) == len(paid), "a funding payment journaled twice"
    assert paid == funding(whole)
    assert app_json("trades", crashed) == app_json("trades", whole)
    assert app_json("status", crashed) == app_json("status", whole)
    rebuilt = subprocess.run(
        [*APP, "status", "--home", str(crashed), "--rebuild", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert rebuilt.returncode == 0, rebuilt.stdout
    assert json.loads(rebuilt.stdout)["rebuild"]["cash"][0]["checked"]
