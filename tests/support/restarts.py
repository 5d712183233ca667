"""Kill and restart `app run --paper` as a user would, and compare it with a run never interrupted.

The crash-safety tests and the restart soak (``python -m tests.restart_soak``) share it: run the command once
to its end, then run it again in another home, SIGKILL it at random moments and start it again with the same
command each time, let the last start finish, and list every way the two homes differ.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ROOT

APP = [sys.executable, "-m", "app.cli"]
RUN_TIMEOUT_S = 1800


def paper_args(
    home: Path, data: Path, specs: list[Path], *, bars: int | None = None, config: Path | None = None
) -> list[str]:
    """`app run --paper` replaying ``data`` at full speed into ``home``."""
    args = [*APP, "run", "--paper", "--feed", "replay", "--data", str(data), "--speed", "max"]
    args += ["--home", str(home)]
    for spec in specs:
        args += ["--spec", str(spec)]
    if bars is not None:
        args += ["--bars", str(bars)]
    if config is not None:
        args += ["--config", str(config)]
    return args


def app_json(command: str, home: Path) -> dict:
    out = subprocess.run(
        [*APP, command, "--home", str(home), "--json"], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(out.stdout)


def killed_and_restarted(
    args: Callable[[Path], list[str]],
    folder: Path,
    rng: random.Random,
    *,
    kills: int = 8,
    window: tuple[float, float] = (0.3, 0.95),
) -> tuple[int, list[str]]:
    """Run ``args(home)`` whole in ``folder/whole``, then in ``folder/crashed`` killed up to ``kills`` times,
    each at a random share (``window``) of the whole run's duration, and once more to its end.

    Returns how many times it was killed, and the problems: a start that failed otherwise, a position without
    a stop after a kill, orders, trades or status that differ from the whole run's, an order id placed twice,
    a journal that does not rebuild the stored state, or a whole run without trades (nothing compared).
    """
    whole, crashed = folder / "whole", folder / "crashed"
    started = time.monotonic()
    subprocess.run(args(whole), check=True, capture_output=True, cwd=ROOT, timeout=RUN_TIMEOUT_S)
    duration = time.monotonic() - started
    problems: list[str] = []
    killed = 0
    for _ in range(kills):
        with (folder / "stderr.txt").open("wb") as err:
            proc = subprocess.Popen(args(crashed), stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
            try:
                proc.wait(timeout=rng.uniform(*window) * duration)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed += 1
        if proc.returncode == 0:
            break
        if proc.returncode != -signal.SIGKILL:
            problems.append(
                f"a start exited {proc.returncode}: {(folder / 'stderr.txt').read_text()[-2000:]}"
            )
            return killed, problems
        if (crashed / "paper.db").exists():
            positions = app_json("status", crashed)["positions"]
            unprotected = [p for p in positions if p["stop_loss"] is None]
            if unprotected:
                problems.append(f"positions without a stop after a kill: {unprotected}")
    subprocess.run(args(crashed), check=True, capture_output=True, cwd=ROOT, timeout=RUN_TIMEOUT_S)
    return killed, problems + differences(whole, crashed)


def differences(whole: Path, crashed: Path) -> list[str]:
    """How the crashed run's home differs from the whole run's (empty when it ends the same)."""
    problems = []
    trades_whole, trades_crashed = app_json("trades", whole), app_json("trades", crashed)
    if not trades_whole["trades"]:
        problems.append("the whole run made no trades: nothing to compare")
    for key in ("orders", "trades"):
        if trades_crashed[key] != trades_whole[key]:
            first = next(
                (
                    i
                    for i, (a, b) in enumerate(zip(trades_whole[key], trades_crashed[key], strict=False))
                    if a != b
                ),
                min(len(trades_whole[key]), len(trades_crashed[key])),
            )
            problems.append(
                f"{key} differ: {len(trades_crashed[key])} against {len(trades_whole[key])}, first at #{first}"
            )
    status_whole, status_crashed = app_json("status", whole), app_json("status", crashed)
    for key in sorted(status_whole.keys() | status_crashed.keys()):
        if status_crashed.get(key) != status_whole.get(key):
            problems.append(
                f"status {key} differs: {status_crashed.get(key)} against {status_whole.get(key)}"
            )
    ids = [o["client_order_id"] for o in trades_crashed["orders"]]
    if len(ids) != len(set(ids)):
        problems.append("an order id was placed twice")
    rebuilt = subprocess.run(
        [*APP, "status", "--home", str(crashed), "--rebuild"], capture_output=True, text=True, cwd=ROOT
    )
    if rebuilt.returncode != 0:
        problems.append(f"app status --rebuild failed: {rebuilt.stdout[-2000:]}{rebuilt.stderr[-2000:]}")
    return problems
