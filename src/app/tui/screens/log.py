"""The Log screen: the journal's structured events (orders, trades, operator actions), newest last, with a
filter on kind and fields (every word must match)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input

from app.services.runtime_events import LogEvent
from app.tui.formatting import when
from app.tui.screens.base import OperatorScreen
from app.tui.state import OperatorState

__all__ = ["LogScreen", "matches"]

SHOWN = 2000


def matches(event: LogEvent, words: list[str]) -> bool:
    text = f"{event.kind} {event.text()}".lower()
    return all(word in text for word in words)


class LogScreen(OperatorScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("escape", "leave_filter", "Back", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="log")
        self._shown_version = -1
        self._filter: list[str] = []

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="/ filter: words that must all appear (kind or fields)", id="log-filter")
        table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True, id="log-table")
        table.add_columns("#", "Time", "Kind", "Fields")
        yield table

    def on_mount(self) -> None:
        self.query_one("#log-table", DataTable).focus()

    def show(self, state: OperatorState, dirty: set[str]) -> None:
        super().show(state, dirty)
        if state.log_version == self._shown_version:
            return
        self._shown_version = state.log_version
        self.reload(state)

    def reload(self, state: OperatorState) -> None:
        table = self.query_one("#log-table", DataTable)
        table.clear()
        shown = [e for e in state.log if matches(e, self._filter)][-SHOWN:]
        table.add_rows([(str(e.seq), when(e.ts), e.kind, e.text()) for e in shown])
        if table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._filter = event.value.lower().split()
        self.reload(self.operator.state)

    def action_filter(self) -> None:
        self.query_one("#log-filter", Input).focus()

    def action_leave_filter(self) -> None:
        if isinstance(self.focused, Input):
            self.query_one("#log-table", DataTable).focus()
        else:
            self.app.switch_mode("main")
