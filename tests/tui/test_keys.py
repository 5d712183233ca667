"""Every key binding and dialog of the operator app, with Pilot, against the real services.

The replay is ETHBTC 5m with the sma_cross spec: after 100 bars the strategy holds one position and has no
working order; the whole file (5760 bars) closes 138 trades.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from textual.widgets import Collapsible, DataTable, Input, TabbedContent

from app.domain.registry import StrategyFlag, StrategyState
from app.domain.values import Asset, OrderStatus
from app.tui.screens.dialogs import ConfirmDialog, FlagDialog, TypedConfirmDialog
from app.tui.screens.help import HelpScreen
from app.tui.screens.log import LogScreen
from app.tui.widgets.paper_pane import PaperPane
from tests.tui.conftest import Harness, press_and_wait, screen_text, settle, write_report

KEYS = {"BYBIT_API_KEY": "k" * 12, "BYBIT_API_SECRET": "s" * 12}


def journal(harness: Harness, kind: str) -> list[dict]:
    assert harness.wired is not None
    return [dict(fields) for _, _, _, fields in harness.wired.storage.events(kind=kind)]


# -- everywhere ---------------------------------------------------------------------------------------------


def test_q_stops_the_running_services_cleanly_and_exits(harness):
    app = harness.app(bars=None, speed=3000)

    async def main():
        async with app.run_test(size=(100, 40)) as pilot:
            await asyncio.wait_for(app.services_ready.wait(), 30)
            await pilot.press("q")
        return app.return_code

    assert asyncio.run(main()) == 0
    [stopped] = journal(harness, "run_stopped")
    assert 0 < stopped["bars"] < 5760
    assert not app.bridge.running


def test_question_mark_lists_every_key_binding(harness):
    app = harness.app()

    async def steps(pilot):
        await pilot.press("question_mark")
        await settle(app, pilot)
        return app.screen

    help_screen = harness.run(app, steps)

    assert isinstance(help_screen, HelpScreen)
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


# -- main screen --------------------------------------------------------------------------------------------


def test_2_shows_the_live_pane_with_live_off_and_1_goes_back_to_paper(harness):
    app = harness.app()

    async def steps(pilot):
        await pilot.press("2")
        await settle(app, pilot)
        live = (app.screen.query_one(TabbedContent).active, screen_text(app))
        await pilot.press("1")
        return live, app.screen.query_one(TabbedContent).active

    (pane, text), back = harness.run(app, steps)

    assert pane == "live"
    assert "LIVE TRADING IS OFF for every asset" in text
    assert text.count("LIVE OFF") == 4
    assert back == "paper"


def test_a_selects_the_next_asset_and_shift_a_the_previous(harness):
    app = harness.app()

    async def steps(pilot):
        seen = []
        for key in ("a", "a", "A", "A", "A"):
            await pilot.press(key)
            seen.append(app.selected_asset)
        return seen

    assert harness.run(app, steps) == [Asset.FUTURES, Asset.FOREX, Asset.FUTURES, Asset.SPOT, Asset.OPTIONS]


def test_k_then_y_kills_the_selected_asset_and_flattens_it(harness):
    app = harness.app(bars=100)

    async def steps(pilot):
        await press_and_wait(app, pilot, "k", "y")
        return screen_text(app)

    text = harness.run(app, steps)

    [killed] = journal(harness, "asset_killed")
    assert (killed["asset"], killed["who"], killed["why"]) == ("spot", "alice", "kill key (TUI)")
    [flatten] = killed["flattening"]
    order = harness.wired.storage.get_order(flatten)
    assert order.reduce_only and order.status is OrderStatus.ACCEPTED  # fills at the next bar
    assert "spot killed by alice: 0 order(s) cancelled, 1 flattening order(s) sent" in text
    assert "killed: spot" in text


def test_k_then_escape_kills_nothing(harness):
    app = harness.app()

    async def steps(pilot):
        await pilot.press("k", "escape")
        await settle(app, pilot)
        return app.screen

    assert not isinstance(harness.run(app, steps), ConfirmDialog)
    assert journal(harness, "asset_killed") == []


def test_u_then_y_releases_a_killed_asset(harness):
    app = harness.app()

    async def steps(pilot):
        await press_and_wait(app, pilot, "k", "y")
        await press_and_wait(app, pilot, "u", "y")

    harness.run(app, steps)

    assert app.runtime.entry_decision("x", Asset.SPOT).allowed
    assert journal(harness, "asset_released")[0]["who"] == "alice"


def test_l_is_refused_with_the_missing_preconditions(harness):
    app = harness.app()

    async def steps(pilot):
        await pilot.press("l")
        await settle(app, pilot)
        return app.screen, app.state.message

    screen, message = harness.run(app, steps)

    assert not isinstance(screen, TypedConfirmDialog)
    assert message.startswith("live refused: spot cannot go live: credentials not set")


def promoted_app(harness: Harness):
    app = harness.app(environ=KEYS)
    harness.wired.registry.set_state("sma-cross-demo", StrategyState.VALIDATING, "test")
    harness.wired.registry.set_state("sma-cross-demo", StrategyState.PROMOTED, "test")
    return app


def test_l_with_the_preconditions_met_asks_for_the_asset_name_then_refuses_live_as_not_built(harness):
    app = promoted_app(harness)

    async def steps(pilot):
        await pilot.press("l")
        dialog = app.screen
        await press_and_wait(app, pilot, *"spot", "enter")
        return dialog

    assert isinstance(harness.run(app, steps), TypedConfirmDialog)
    assert (
        app.state.message == "live spot: refused: live execution is not built yet: every asset stays on paper"
    )
    assert not app.runtime.live_enabled(Asset.SPOT)


def test_l_with_a_mistyped_asset_name_is_refused(harness):
    app = promoted_app(harness)

    async def steps(pilot):
        await press_and_wait(app, pilot, "l", *"sopt", "enter")

    harness.run(app, steps)

    assert app.state.message == "live spot: refused: typed 'sopt', expected 'spot'"


def test_plus_and_minus_move_the_allocation_by_100(harness):
    app = harness.app()

    async def steps(pilot):
        before = app.runtime.allocation(Asset.SPOT)
        await press_and_wait(app, pilot, "plus")
        up = app.runtime.allocation(Asset.SPOT)
        await press_and_wait(app, pilot, "minus")
        await press_and_wait(app, pilot, "minus")
        return before, up, app.state.controls.allocations[Asset.SPOT]

    before, up, shown = harness.run(app, steps)

    assert up == before + 100
    assert shown == before - 100


def test_an_allocation_refused_by_the_budget_shows_its_reason(harness):
    app = harness.app(operator_services=False)

    async def steps(pilot):
        await press_and_wait(app, pilot, "plus")

    harness.run(app, steps)

    assert app.state.message == "allocation spot +100: refused: allocation changes are not available"


def test_o_and_h_collapse_and_expand_the_open_and_history_tables(harness):
    app = harness.app()

    async def steps(pilot):
        boxes = [app.screen.query_one(f"#{name}", Collapsible) for name in ("open-box", "history-box")]
        states = [[b.collapsed for b in boxes]]
        for key in ("o", "h", "o"):
            await pilot.press(key)
            states.append([b.collapsed for b in boxes])
        return states

    assert harness.run(app, steps) == [[False, False], [True, False], [True, True], [False, True]]


def test_r_sorts_history_by_the_next_column_and_shift_r_reverses(harness):
    app = harness.app(bars=600)

    async def steps(pilot):
        table = app.screen.query_one(PaperPane).history_table
        order = [(table.sort_index, table.sort_reverse)]
        for key in ("r", "r", "r", "r", "r", "r", "R"):
            await pilot.press(key)
            order.append((table.sort_index, table.sort_reverse))
        return order, [t.pnl for t in table.rows_on_page()], table.columns_spec[table.sort_index].label

    order, pnls, label = harness.run(app, steps)

    assert order == [
        (1, True),
        (2, False),
        (3, False),
        (4, False),
        (5, False),
        (6, False),
        (7, False),
        (7, True),
    ]
    assert label == "P&L"
    assert pnls == sorted(pnls, reverse=True)


def test_brackets_page_through_a_long_history(harness):
    app = harness.app(bars=None)

    async def steps(pilot):
        table = app.screen.query_one(PaperPane).history_table
        first = table.rows_on_page()
        await pilot.press("right_square_bracket")
        second = (table.page, table.rows_on_page(), table.row_count)
        await pilot.press("left_square_bracket")
        return first, second, table.page, table.total

    first, (page, rows, loaded), back, total = harness.run(app, steps)

    assert total == 138
    assert page == 1 and len(rows) == 38 and loaded == 38
    assert first[0].exit_time > rows[0].exit_time
    assert back == 0


# -- strategies, validation, log ----------------------------------------------------------------------------


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
