"""The Strategies, Validation and Log screens' keys and dialogs."""

from __future__ import annotations

from textual.widgets import DataTable, Input

from app.domain.registry import StrategyFlag
from app.tui.screens.dialogs import FlagDialog
from app.tui.screens.log import LogScreen
from tests.tui.conftest import journal, press_and_wait, screen_text, settle, write_report


def test_f_on_the_strategies_screen_sets_a_flag_with_a_reason(harness):
    app = harness.app()

    async def steps(pilot):
        await pilot.press("s", "f")
        dialog = app.screen
        review = dialog.flags.index(StrategyFlag.REVIEW)
        await pilot.press(*["down"] * review, "enter")
        await press_and_wait(app, pilot, *"odd", "enter")
        return dialog, screen_text(app)

    dialog, text = harness.run(app, steps)

    assert isinstance(dialog, FlagDialog)
    assert StrategyFlag.REVIEW in harness.wired.registry.get("sma-cross-demo").flags
    assert journal(harness, "flag_set")[-1] == {"strategy_id": "sma-cross-demo", "flag": "review",
                                                 "reason": "alice: odd"}  # fmt: skip
    assert "review" in text


def test_c_on_the_strategies_screen_clears_a_flag(harness):
    app = harness.app()
    harness.wired.registry.add_flag("sma-cross-demo", StrategyFlag.MANUAL_HOLD, "before")

    async def steps(pilot):
        await pilot.press("s", "c")
        flags = app.screen.flags
        await pilot.press("enter")
        await press_and_wait(app, pilot, *"done", "enter")
        return flags

    assert harness.run(app, steps) == [StrategyFlag.MANUAL_HOLD]
    assert harness.wired.registry.get("sma-cross-demo").flags == frozenset()


def test_the_validation_screen_shows_metrics_gate_reasons_and_the_html_path(harness):
    app = harness.app()
    report = write_report(harness.home, "sma-cross-demo", passed=False)

    async def steps(pilot):
        await pilot.press("v")
        await settle(app, pilot)
        return screen_text(app)

    text = harness.run(app, steps, size=(160, 40))

    assert "FAILED" in text
    assert "Sharpe 0.42 below 2.0" in text
    assert "profit_factor" in text
    assert str(report.with_suffix(".html").relative_to(harness.home)) in text


def test_o_on_the_validation_screen_opens_the_html_report(harness):
    app = harness.app()
    report = write_report(harness.home, "sma-cross-demo", passed=True)

    async def steps(pilot):
        await pilot.press("v", "o")

    harness.run(app, steps)

    assert harness.opened == [report.with_suffix(".html")]


def test_a_strategy_without_a_report_says_where_it_looked(harness):
    app = harness.app()

    async def steps(pilot):
        await pilot.press("v", "o")
        await settle(app, pilot)
        return screen_text(app)

    text = harness.run(app, steps, size=(160, 40))

    assert "no validation report yet" in text
    assert harness.opened == []


def test_the_log_screen_lists_the_journal_and_slash_filters_it(harness):
    app = harness.app(bars=300)

    async def steps(pilot):
        await pilot.press("g")
        await settle(app, pilot)
        table = app.screen.query_one("#log-table", DataTable)
        everything = table.row_count
        await pilot.press("slash", *"trade_closed")
        await settle(app, pilot)
        kinds = {table.get_row_at(i)[2] for i in range(table.row_count)}
        return everything, table.row_count, kinds

    everything, filtered, kinds = harness.run(app, steps)

    assert everything > filtered > 0
    assert kinds == {"trade_closed"}
    assert filtered == len(harness.wired.storage.trades())


def test_escape_leaves_the_log_filter_then_the_log_screen(harness):
    app = harness.app()

    async def steps(pilot):
        await pilot.press("g", "slash")
        in_filter = isinstance(app.focused, Input)
        await pilot.press("escape")
        on_log = isinstance(app.screen, LogScreen) and not isinstance(app.focused, Input)
        await pilot.press("escape")
        return in_filter, on_log, app.current_mode

    assert harness.run(app, steps) == (True, True, "main")


def test_escape_in_the_flag_dialog_sets_nothing(harness):
    app = harness.app()

    async def steps(pilot):
        await pilot.press("s", "f", "enter", *"why", "escape")
        await settle(app, pilot)
        return app.screen

    assert not isinstance(harness.run(app, steps), FlagDialog)
    assert harness.wired.registry.get("sma-cross-demo").flags == frozenset()
