"""Snapshots of the main screens (pytest-textual-snapshot): fixed sizes, a finished replay, no wall clock."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.pilot import Pilot

from app.tui import OperatorApp
from tests.tui.conftest import settle, write_report


def finished(app: OperatorApp, *keys: str):
    async def run_before(pilot: Pilot[Any]) -> None:
        await asyncio.wait_for(app.run_finished.wait(), 60)
        await settle(app, pilot)
        for key in keys:
            await pilot.press(key)
            await settle(app, pilot)

    return run_before


def test_main_screen_paper_pane_in_80x24(snap_compare, harness):
    app = harness.app(bars=300)

    assert snap_compare(app, terminal_size=(80, 24), run_before=finished(app))


def test_main_screen_paper_pane_in_a_large_terminal(snap_compare, harness):
    app = harness.app(bars=600)

    assert snap_compare(app, terminal_size=(160, 50), run_before=finished(app))


def test_main_screen_paper_pane_light_theme(snap_compare, harness):
    app = harness.app(bars=300)

    assert snap_compare(app, terminal_size=(120, 40), run_before=finished(app, "t"))


def test_main_screen_live_pane(snap_compare, harness):
    app = harness.app(bars=300)

    assert snap_compare(app, terminal_size=(100, 30), run_before=finished(app, "2"))


def test_kill_confirmation_dialog(snap_compare, harness):
    app = harness.app(bars=100)

    assert snap_compare(app, terminal_size=(80, 24), run_before=finished(app, "k"))


def test_strategies_screen(snap_compare, harness):
    app = harness.app(bars=300)

    assert snap_compare(app, terminal_size=(120, 24), run_before=finished(app, "s"))


def test_validation_screen_with_a_failed_report(snap_compare, harness):
    app = harness.app(bars=100)
    write_report(harness.home, "sma-cross-demo", passed=False)

    assert snap_compare(app, terminal_size=(120, 30), run_before=finished(app, "v"))


def test_log_screen(snap_compare, harness):
    app = harness.app(bars=300)

    assert snap_compare(app, terminal_size=(120, 30), run_before=finished(app, "g"))


def test_help_screen(snap_compare, harness):
    app = harness.app(bars=50)

    assert snap_compare(app, terminal_size=(100, 50), run_before=finished(app, "question_mark"))
