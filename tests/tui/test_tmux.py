"""``app tui`` as a user sees it, in tmux: a paced replay of ETHBTC 5m, the panes and tables on screen, the
numbers equal to ``app status --json``, the kill key flattening the open position.

An external process is watched here, so the test polls (the screen, the status command) with a deadline.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.services.app_runtime.wiring import ETHBTC, SPEC

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

BARS = 400


class Tmux:
    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.name, "-f", "/dev/null", *args], check=True, capture_output=True, text=True
        )
        return done.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", self.name)

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", self.name, *keys)


def wait_until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def status(home: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "app.cli", "status", "--home", str(home), "--json"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    return json.loads(done.stdout) if done.returncode == 0 else {}


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[tuple[Tmux, Path]]:
    home = tmp_path / "home"
    name = f"apptui{os.getpid()}"
    session = Tmux(name)
    args = ["--feed", "replay", "--data", str(ETHBTC), "--spec", str(SPEC), "--speed", "6000"]
    args += ["--bars", str(BARS), "--home", str(home)]
    program = [sys.executable, "-c", "from app.cli.tui import tui; tui()", *args]
    shell = f"cd {shlex.quote(str(ROOT))} && {shlex.join(program)}; echo TUI-EXITED $?; sleep 120"
    session("new-session", "-d", "-s", name, "-x", "120", "-y", "45", shell)
    yield session, home
    subprocess.run(["tmux", "-L", name, "kill-server"], check=False, capture_output=True)


def cents(text: str) -> str:
    return str(Decimal(text).quantize(Decimal("0.01")))


def test_the_tui_shows_what_app_status_reports_and_the_kill_key_flattens(tmux):
    session, home = tmux

    wait_until(lambda: "Paper" in session.screen() and "[running]" in session.screen(), "the TUI to start")
    wait_until(lambda: status(home).get("trades", 0) >= 1, "a closed trade")
    screen = session.screen()
    for shown in (
        "Paper",
        "Live",
        "SPOT · paper",
        "Open: positions and working orders",
        "History: closed trades",
    ):
        assert shown in screen
    wait_until(lambda: status(home).get("positions"), "an open position")

    session.keys("k")
    wait_until(lambda: "Kill SPOT" in session.screen(), "the kill dialog")
    session.keys("y")

    wait_until(lambda: "spot killed by" in session.screen(), "the kill report")
    wait_until(lambda: not status(home).get("positions"), "the position to be flattened")
    final = wait_until(lambda: "[finished]" in (s := session.screen()) and s, "the replay to finish", 90)
    report = status(home)
    [spot] = report["assets"]
    assert report["positions"] == []
    assert report["open_orders"] == 0
    assert re.search(rf"equity\s+{re.escape(cents(spot['equity']))}", final)
    assert re.search(rf"balance\s+{re.escape(cents(spot['cash']))}", final)
    assert f"bars {BARS} total {cents(spot['equity'])} pos 0 ord 0 trades {report['trades']}" in final
    assert f"{report['trades']} rows" in final
    assert "killed: spot" in final

    session.keys("q")
    wait_until(lambda: "TUI-EXITED 0" in session.screen(), "a clean exit")
