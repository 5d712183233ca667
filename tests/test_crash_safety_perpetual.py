"""Crash safety on a perpetual: `app run --paper` over the real XRPUSDT bars and funding series, SIGKILLed at
random moments and restarted, journals every funding payment exactly once (a restarted venue charges the past
times again while it warms up) and ends with the orders, trades, funding and balances of an uninterrupted run."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from app.adapters.storage.sqlite import SqliteStorage
from tests.conftest import ROOT
from tests.services.perp_replay import perp_folder, perp_spec
from tests.support.restarts import APP, killed_and_restarted, paper_args

KILLS = 6


def funding(home: Path) -> list[dict]:
    with SqliteStorage.open(home / "paper.db", readonly=True) as store:
        return [dict(fields) for _, _, _, fields in store.events(kind="funding")]


@pytest.mark.slow
def test_a_perpetual_run_killed_many_times_journals_its_funding_like_an_uninterrupted_one(tmp_path):
    data = perp_folder(tmp_path)
    spec = tmp_path / "perp.json"
    spec.write_text(json.dumps(perp_spec().model_dump(mode="json", exclude_unset=True)))

    kills, problems = killed_and_restarted(
        lambda home: paper_args(home, data, [spec]), tmp_path, random.Random(20261202), kills=KILLS
    )

    assert not problems, "\n".join(problems)  # orders, trades, status and the rebuild as the whole run's
    assert kills >= 1
    whole, crashed = tmp_path / "whole", tmp_path / "crashed"
    paid = funding(crashed)
    assert len(paid) >= 4
    assert len({f["id"] for f in paid}) == len(paid), "a funding payment journaled twice"
    assert paid == funding(whole)
    rebuilt = subprocess.run(
        [*APP, "status", "--home", str(crashed), "--rebuild", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert rebuilt.returncode == 0, rebuilt.stdout
    assert json.loads(rebuilt.stdout)["rebuild"]["cash"][0]["checked"]
