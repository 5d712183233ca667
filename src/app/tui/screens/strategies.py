"""The Strategies screen: the registry (state, flags, counters, last reason); set or clear a flag."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from app.domain.registry import StrategyCounter, StrategyFlag, StrategyRecord
from app.tui.screens.base import OperatorScreen
from app.tui.screens.dialogs import FlagDialog
from app.tui.state import OperatorState

__all__ = ["StrategiesScreen"]

_COLUMNS = ("Strategy", "Asset", "State", "Flags", "Trades", "Wins", "Losses", "Last reason")


class StrategiesScreen(OperatorScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "flag(True)", "Set flag"),
        Binding("c", "flag(False)", "Clear flag"),
    ]

    def __init__(self) -> None:
        super().__init__(id="strategies")
        self.records: list[StrategyRecord] = []

    def compose_body(self) -> ComposeResult:
        table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True, id="strategies-table")
        table.add_columns(*_COLUMNS)
        yield table

    def show(self, state: OperatorState, dirty: set[str]) -> None:
        super().show(state, dirty)
        if not dirty & {"controls", "trades", "run", "message"}:
            return
        self.records = self.operator.runtime.strategies()
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for r in self.records:
            table.add_row(
                r.strategy_id, r.asset.value, r.state.value, ", ".join(sorted(r.flags)) or "-",
                str(r.count(StrategyCounter.TRADES)), str(r.count(StrategyCounter.WINS)),
                str(r.count(StrategyCounter.LOSSES)), r.last_reason,
            )  # fmt: skip
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))

    def selected(self) -> StrategyRecord | None:
        table = self.query_one(DataTable)
        if not self.records or table.cursor_row >= len(self.records):
            return None
        return self.records[table.cursor_row]

    def action_flag(self, on: bool) -> None:
        record = self.selected()
        if record is None:
            self.operator.say("no strategy selected")
            return
        flags = [f for f in StrategyFlag if (f in record.flags) != on]
        if not flags:
            self.operator.say(f"{record.strategy_id} has no flag to clear")
            return
        verb = "Set a flag on" if on else "Clear a flag of"

        def chosen(answer: tuple[StrategyFlag, str] | None) -> None:
            if answer is not None:
                self.operator.set_flag(record.strategy_id, answer[0], on, answer[1])

        self.app.push_screen(FlagDialog(f"{verb} {record.strategy_id}", flags), chosen)
