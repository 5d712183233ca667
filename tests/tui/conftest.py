"""Pilot helpers: the operator app over a real paper runtime (sim broker, replay of ETHBTC 5m, SQLite)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from textual.pilot import Pilot

from app.tui import OperatorApp
from tests.services.app_runtime.wiring import Wired, paper_runtime

T = TypeVar("T")
Steps = Callable[[Pilot[Any]], Awaitable[T]]


class Harness:
    """Builds the app on a fresh runtime and runs Pilot steps once the replay has finished."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.opened: list[Path] = []
        self.wired: Wired | None = None

    def app(self, bars: int | None = 120, event_capacity: int = 8192, **options: Any) -> OperatorApp:
        self.wired = paper_runtime(self.home, bars=bars, **options)
        return OperatorApp(
            self.wired.runtime,
            home=self.home,
            who="alice",
            open_path=self.opened.append,
            event_capacity=event_capacity,
        )

    def run(self, app: OperatorApp, steps: Steps[T], size: tuple[int, int] = (100, 40)) -> T:
        async def main() -> T:
            async with app.run_test(size=size) as pilot:
                await asyncio.wait_for(app.run_finished.wait(), 60)
                await settle(app, pilot)
                return await steps(pilot)

        return asyncio.run(main())

    def close(self) -> None:
        if self.wired is not None:
            self.wired.storage.close()


async def settle(app: OperatorApp, pilot: Pilot[Any]) -> None:
    """Let queued messages through, then draw now."""
    await pilot.pause()
    app.redraw_now()
    await pilot.pause()


async def press_and_wait(app: OperatorApp, pilot: Pilot[Any], *keys: str) -> None:
    """Press keys that end in an operator action; return once the runtime answered and it is drawn."""
    app.action_settled.clear()
    await pilot.press(*keys)
    await asyncio.wait_for(app.action_settled.wait(), 10)
    await settle(app, pilot)


def screen_text(app: OperatorApp) -> str:
    """The screen as plain text (what a user would read)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    h.close()


def write_report(home: Path, strategy_id: str, *, passed: bool) -> Path:
    folder = home / "reports" / "validation" / strategy_id
    folder.mkdir(parents=True)
    body = {
        "strategy_id": strategy_id,
        "metrics": {"trades": 138, "sharpe": 0.42, "profit_factor": 0.91, "max_drawdown": 0.12},
        "gate": {"passed": passed, "reasons": [] if passed else ["Sharpe 0.42 below 2.0"], "checks": []},
        "warnings": [],
    }
    path = folder / "20180130T045500.json"
    path.write_text(json.dumps(body))
    path.with_suffix(".html").write_text("<html></html>")
    return path


KEYS = {"BYBIT_API_KEY": "k" * 12, "BYBIT_API_SECRET": "s" * 12}


def journal(harness: Harness, kind: str) -> list[dict[str, Any]]:
    """The fields of every journal entry of ``kind``."""
    assert harness.wired is not None
    return [dict(fields) for _, _, _, fields in harness.wired.storage.events(kind=kind)]
