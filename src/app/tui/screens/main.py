"""The main screen: the Paper and Live panes, and the keys that act on the selected asset."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Collapsible, TabbedContent, TabPane

from app.tui.screens.base import OperatorScreen
from app.tui.state import OperatorState
from app.tui.widgets.live_pane import LivePane
from app.tui.widgets.paper_pane import PaperPane
from app.tui.widgets.record_table import RecordTable

__all__ = ["MainScreen"]


class MainScreen(OperatorScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "pane('paper')", "Paper"),
        Binding("2", "pane('live')", "Live"),
        Binding("a", "select_asset(1)", "Next asset"),
        Binding("A", "select_asset(-1)", "Previous asset", show=False),
        Binding("k", "app.kill", "Kill asset"),
        Binding("u", "app.release", "Release kill", show=False),
        Binding("l", "app.live", "Live"),
        Binding("plus,equals_sign", "app.allocation(1)", "+$100"),
        Binding("minus", "app.allocation(-1)", "-$100"),
        Binding("o", "collapse('open-box')", "Open table", show=False),
        Binding("h", "collapse('history-box')", "History table", show=False),
        Binding("r", "sort", "Sort by next column", show=False),
        Binding("R", "reverse", "Reverse sort", show=False),
        Binding("right_square_bracket", "page(1)", "Next history page", show=False),
        Binding("left_square_bracket", "page(-1)", "Previous history page", show=False),
    ]

    def compose_body(self) -> ComposeResult:
        with TabbedContent(initial="paper", id="panes"):
            with TabPane("Paper", id="paper"):
                yield PaperPane()
            with TabPane("Live", id="live"):
                yield LivePane()

    def show(self, state: OperatorState, dirty: set[str]) -> None:
        super().show(state, dirty)
        selected = self.operator.selected_asset
        self.query_one(PaperPane).show(state, dirty, selected)
        self.query_one(LivePane).show(state, dirty, selected)

    @property
    def active_pane(self) -> str:
        return self.query_one(TabbedContent).active

    def action_pane(self, pane: str) -> None:
        self.query_one(TabbedContent).active = pane

    def action_select_asset(self, step: int) -> None:
        self.operator.select_asset(step)

    def action_collapse(self, box: str) -> None:
        collapsible = self.query_one(f"#{box}", Collapsible)
        collapsible.collapsed = not collapsible.collapsed

    def _table(self) -> RecordTable:
        """The focused table, else History."""
        focused = self.focused
        if isinstance(focused, RecordTable):
            return focused
        return self.query_one(PaperPane).history_table

    def action_sort(self) -> None:
        self._table().cycle_sort()
        self.query_one(PaperPane).show_history_page()

    def action_reverse(self) -> None:
        self._table().toggle_reverse()
        self.query_one(PaperPane).show_history_page()

    def action_page(self, step: int) -> None:
        pane = self.query_one(PaperPane)
        pane.history_table.turn_page(step)
        pane.show_history_page()
