"""Crash safety as a user would meet it: `app run --paper` SIGKILLed at random moments and restarted with the
same command ends with exactly the orders, fills, positions and balances of a run never interrupted: on one
symbol with two strategies, and on three symbols whose bars share their times, stopped by `--bars`."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, SHARED_DATA
from tests.support.restarts import killed_and_restarted, paper_args

DATA = SHARED_DATA / "crypto_spot_5m" / "ETHBTC.csv"
SPECS = [ROOT / "config" / "specs" / "sma_cross.yaml", ROOT / "config" / "specs" / "rsi_reversion.yaml"]
KILLS = 8


@pytest.mark.slow
def test_a_run_killed_many_times_ends_like_an_uninterrupted_one(tmp_path):
    _, problems = killed_and_restarted(
        lambda home: paper_args(home, DATA, SPECS), tmp_path, random.Random(20261125), kills=KILLS
    )

    assert not problems, "\n".join(problems)


def three_btc_pairs(folder: Path) -> list[Path]:
    """ADABTC, LTCBTC and XLMBTC 5m bars in ``folder/data``, and the demo spec on each (30% of the cash)."""
    data = folder / "data"
    data.mkdir()
    demo = yaml.safe_load((ROOT / "config" / "specs" / "sma_cross.yaml").read_text())
    specs = []
    for symbol in ("ADABTC", "LTCBTC", "XLMBTC"):
        (data / f"{symbol}.csv").symlink_to(SHARED_DATA / "crypto_spot_5m" / f"{symbol}.csv")
        spec = {**demo, "id": f"sma-cross-{symbol.lower()}", "symbol": symbol}
        spec["sizing"] = {**demo["sizing"], "fraction": 0.3}
        specs.append(folder / f"{symbol}.yaml")
        specs[-1].write_text(yaml.safe_dump(spec))
    return specs


@pytest.mark.slow
def test_a_run_on_three_symbols_killed_many_times_ends_at_its_bar_limit_like_an_uninterrupted_one(tmp_path):
    specs = three_btc_pairs(tmp_path)
    # 3 x 700 + 1: the last bar is the first of its time, so the limit falls between bars of one time too.
    _, problems = killed_and_restarted(
        lambda home: paper_args(home, tmp_path / "data", specs, bars=2101),
        tmp_path,
        random.Random(20261203),
        kills=KILLS,
    )

    assert not problems, "\n".join(problems)
