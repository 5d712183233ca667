"""The main screen's keys: panes, asset selection, kill and release, live, allocation, the tables.

In the ETHBTC 5m replay with sma_cross, after 100 bars the strategy holds one position and has no working
order; the whole file (5760 bars) closes 138 trades.
"""

from __future__ import annotations

from textual.widgets import Collapsible, TabbedContent

from app.domain.registry import StrategyState
from app.domain.values import Asset, OrderStatus
from app.tui import OperatorApp
from app.tui.screens.dialogs import ConfirmDialog, TypedConfirmDialog
from app.tui.widgets.paper_pane import PaperPane
from tests.tui.conftest import KEYS, Harness, journal, press_and_wait, screen_text, settle


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
    assert order.reduce_only
    assert order.status is OrderStatus.ACCEPTED
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
    assert page == 1
    assert len(rows) == 38
    assert loaded == 38
    assert first[0].exit_time > rows[0].exit_time
    assert back == 0


def test_escape_in_the_typed_confirmation_changes_nothing(harness):
    app = promoted_app(harness)

    async def steps(pilot):
        await pilot.press("l", *"spot", "escape")
        await settle(app, pilot)
        return app.screen

    assert not isinstance(harness.run(app, steps), TypedConfirmDialog)
    assert journal(harness, "live_refused") == []


def test_the_notes_about_the_inputs_are_on_the_message_line_and_each_a_notification(harness):
    first = harness.app()
    notes = [
        "ETHBTC bars come from the series ETHBTC_binance",
        "not replayed: ETHBTC_1h.csv (ETHBTC 1h; ETHBTC_binance.csv has the wanted 5m)",
    ]
    app = OperatorApp(first.runtime, home=harness.home, who="alice", notes=notes)

    async def steps(pilot):
        return app.state.message, [(n.title, n.message) for n in app._notifications]

    message, notifications = harness.run(app, steps)

    assert message == "; ".join(notes)
    assert notifications == [("about the inputs", note) for note in notes]
