"""Restart soak: the crash-safety comparison (tests.support.restarts) on more data, specs and kill patterns
than the test suite runs, as many rounds as asked. Not collected by pytest; run it with ``make soak`` or::

    .venv/bin/python -m tests.restart_soak [--rounds N] [--scenario NAME ...] [--early] [--folder DIR]

Each round kills a fresh home up to 10 times at random moments, restarts it and compares it with the
scenario's uninterrupted run; ``--early`` kills within the first 40% of a run instead of 30-95%. Prints one
line per round and every difference found; exits 1 if any round differed.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.conftest import ROOT, SHARED_DATA
from tests.services.perp_replay import perp_folder, perp_spec
from tests.support.restarts import killed_and_restarted, paper_args

SPECS = ROOT / "config" / "specs"
Args = Callable[[Path], list[str]]


def respec(folder: Path, name: str, asset: str, symbol: str, timeframe: str) -> Path:
    """The shipped spec ``name`` on another market, at 30% of the cash when it sizes by a fraction."""
    spec = yaml.safe_load((SPECS / f"{name}.yaml").read_text())
    spec.update(
        id=f"{name.replace('_', '-')}-{symbol.lower()}", asset=asset, symbol=symbol, timeframe=timeframe
    )
    if spec.get("sizing", {}).get("mode") == "fraction":
        spec["sizing"]["fraction"] = 0.3
    path = folder / f"{spec['id']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def linked(folder: Path, files: dict[str, Path]) -> Path:
    """``folder`` holding each file under its new name (the replay feed names a symbol after its file)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        if not (folder / name).exists():
            (folder / name).symlink_to(source)
    return folder


def scenarios(folder: Path) -> dict[str, Args]:
    """Every scenario's command, by name, with its data and specs prepared under ``folder``."""
    spot5m = SHARED_DATA / "crypto_spot_5m"
    pairs = ("ADABTC", "LTCBTC", "XLMBTC")
    pair_data = linked(folder / "pairs", {f"{s}.csv": spot5m / f"{s}.csv" for s in pairs})
    pair_specs = [
        respec(folder, name, "spot", s, "5m")
        for s in pairs
        for name in ("sma_cross", "bb_breakout", "rsi_reversion")
    ]
    eurusd = SHARED_DATA / "forex_1h" / "EURUSD.csv"
    fx_specs = [respec(folder, name, "forex", "EURUSD", "1h") for name in ("rsi_reversion", "sma_cross")]
    btcusd = linked(folder / "btcusd", {"BTCUSD.csv": SHARED_DATA / "crypto_spot_1h" / "BTCUSD_coinbase.csv"})
    btc_specs = [respec(folder, name, "spot", "BTCUSD", "1h") for name in ("bb_breakout", "sma_cross")]
    xrpeth = SHARED_DATA / "crypto_spot_1m" / "XRPETH.csv"
    xrp_specs = [respec(folder, name, "spot", "XRPETH", "1m") for name in ("sma_cross", "rsi_reversion")]
    (folder / "perp").mkdir(exist_ok=True)
    perp_bars = perp_folder(folder / "perp")
    perp = folder / "perp.yaml"
    perp.write_text(yaml.safe_dump(perp_spec().model_dump(mode="json", exclude_unset=True)))
    # A wallet topped up when it has lost 50 cents: top-ups (new epochs) happen in the middle of the run.
    topup = folder / "topup.yaml"
    paper = {"start_equity": 30, "topup_threshold": 29.5, "topup_amount": 30}
    topup.write_text(yaml.safe_dump({"assets": {"spot": {"paper": paper}}}))
    demo = [SPECS / "sma_cross.yaml", SPECS / "rsi_reversion.yaml"]
    return {
        "btc-pairs": lambda home: paper_args(home, pair_data, pair_specs, bars=2500),
        "eurusd": lambda home: paper_args(home, eurusd, fx_specs),
        "btcusd": lambda home: paper_args(home, btcusd, btc_specs),
        "xrpeth-1m": lambda home: paper_args(home, xrpeth, xrp_specs, bars=2000),
        "perpetual": lambda home: paper_args(home, perp_bars, [perp]),
        "top-ups": lambda home: paper_args(home, spot5m / "ETHBTC.csv", demo, config=topup),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.restart_soak", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds per scenario (default 2)")
    parser.add_argument("--scenario", action="append", help="run only this one (repeatable)")
    parser.add_argument("--early", action="store_true", help="kill within the first 40%% of a run")
    parser.add_argument("--folder", type=Path, help="work folder kept afterwards (default: a temporary one)")
    args = parser.parse_args(argv)
    if not SHARED_DATA.exists():
        print(f"needs the shared data at {SHARED_DATA}", file=sys.stderr)
        return 2
    folder = args.folder or Path(tempfile.mkdtemp(prefix="restart-soak-"))
    folder.mkdir(parents=True, exist_ok=True)
    prepared = scenarios(folder)
    unknown = sorted(set(args.scenario or ()) - prepared.keys())
    if unknown:
        print(f"unknown scenario {', '.join(unknown)}; known: {', '.join(prepared)}", file=sys.stderr)
        return 2
    window = (0.0, 0.4) if args.early else (0.3, 0.95)
    failed = 0
    for name, command in prepared.items():
        if args.scenario and name not in args.scenario:
            continue
        for round_no in range(1, args.rounds + 1):
            work = folder / f"{name}-{round_no}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            rng = random.Random(f"{name}/{round_no}")
            killed, problems = killed_and_restarted(command, work, rng, kills=10, window=window)
            print(
                f"{name} round {round_no}: killed {killed} times, {'DIFFERS' if problems else 'same'}",
                flush=True,
            )
            for problem in problems:
                print(f"  {problem}", flush=True)
            failed += bool(problems)
    if args.folder is None:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{failed} round(s) differed" if failed else "every round ended like the uninterrupted run")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
