"""The keys that work on every screen (quit, help, screens, pause, kill all, theme), with Pilot against the
real services (sim broker, ETHBTC 5m replay, SQLite)."""

from __future__ import annotations

import asyncio

from app.domain.values import Asset
from app.tui.screens.dialogs import ConfirmDialog
from app.tui.screens.help import HelpScreen
from tests.tui.conftest import journal, press_and_wait, screen_text, settle


def test_q_stops_the_running_services_cleanly_and_exits(harness):
    app = harness.app(bars=None, speed=3000)

    async def main():
        async with app.run_test(size=(100, 40)) as pilot:
            await asyncio.wait_for(app.services_ready.wait(), 30)
            await asyncio.wait_for(
                _first_bar(app), 30
            )  # a paced bar takes 0.1 s: stop in the middle of the run
            await pilot.press("q")
        return app.return_code

    assert asyncio.run(main()) == 0
    [stopped] = journal(harness, "run_stopped")
    assert 0 < stopped["bars"] < 5760
    assert not app.bridge.running


async def _first_bar(app) -> None:
    while app.runtime.status().bars == 0:  # noqa: ASYNC110 (a count kept on the trio side: polled)
        await asyncio.sleep(0.01)


def test_question_mark_lists_every_key_binding(harness):
    app = harness.app()

    async def steps(pilot):
        await pilot.press("question_mark")
        await settle(app, pilot)
        shown = app.screen
        await pilot.press("escape")
        return shown, app.screen

    help_screen, after = harness.run(app, steps)

    assert isinstance(help_screen, HelpScreen)
    assert not isinstance(after, HelpScreen)
    described = {row[2] for row in help_screen.rows}
    for action in ("Kill asset", "Kill all", "Live", "+$100", "-$100", "Pause/resume", "Set flag", "Clear flag",
                   "Open HTML report", "Filter", "Theme", "Next history page", "Open table", "Quit"):  # fmt: skip
        assert action in described


def test_m_s_v_g_switch_between_the_screens(harness):
    app = harness.app()

    async def steps(pilot):
        seen = []
        for key in ("s", "v", "g", "m"):
            await pilot.press(key)
            await settle(app, pilot)
            seen.append(app.current_mode)
        return seen

    assert harness.run(app, steps) == ["strategies", "validation", "log", "main"]


def test_p_pauses_exploration_and_p_again_resumes_it(harness):
    app = harness.app()

    async def steps(pilot):
        await press_and_wait(app, pilot, "p")
        paused = (app.runtime.entry_decision("x", Asset.SPOT).code, screen_text(app))
        await press_and_wait(app, pilot, "p")
        return paused, app.runtime.entry_decision("x", Asset.SPOT).allowed

    (code, text), resumed = harness.run(app, steps)

    assert code == "exploration_paused"
    assert "PAUSED" in text
    assert resumed
    assert [e["who"] for e in journal(harness, "exploration_paused")] == ["alice"]


def test_shift_k_then_y_kills_every_traded_asset(harness):
    app = harness.app(bars=100)

    async def steps(pilot):
        await pilot.press("K")
        dialog = app.screen
        await press_and_wait(app, pilot, "y")
        return dialog

    dialog = harness.run(app, steps)

    assert isinstance(dialog, ConfirmDialog)
    assert app.state.controls.killed == {Asset.SPOT}
    assert journal(harness, "asset_killed")[0]["why"] == "kill-all key (TUI)"


def test_shift_k_then_n_kills_nothing(harness):
    app = harness.app()

    async def steps(pilot):
        await pilot.press("K", "n")
        await settle(app, pilot)

    harness.run(app, steps)

    assert journal(harness, "asset_killed") == []
    assert app.runtime.entry_decision("x", Asset.SPOT).allowed


def test_t_switches_between_the_dark_and_the_light_theme(harness):
    app = harness.app()

    async def steps(pilot):
        themes = [app.theme]
        for _ in range(2):
            await pilot.press("t")
            themes.append(app.theme)
        return themes

    assert harness.run(app, steps) == ["textual-dark", "textual-light", "textual-dark"]
