"""The Validation screen: pick a strategy, see its latest validation report (metrics, the gate's verdict and
reasons) and open the HTML report. Paths are shown relative to the home folder."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Static

from app.domain.registry import StrategyRecord
from app.tui.screens.base import OperatorScreen
from app.tui.state import OperatorState
from app.tui.validation_reports import ValidationReport, latest_report, report_dir

__all__ = ["ValidationScreen", "render_report"]


def _shown(path: Path, home: Path) -> str:
    """Paths under the home folder are shown relative to it (the header names the home)."""
    return str(path.relative_to(home)) if path.is_relative_to(home) else str(path)


def render_report(strategy_id: str, report: ValidationReport | None, home: Path) -> Table | Text:
    if report is None:
        folder = _shown(report_dir(home, strategy_id), home)
        return Text(f"{strategy_id}: no validation report yet (looked in {folder})", "italic")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column()
    grid.add_row("report", _shown(report.path, home))
    verdict = {True: ("PASSED", "bold green"), False: ("FAILED", "bold red"), None: ("not gated", "dim")}
    grid.add_row("gate", Text(*verdict[report.passed]))
    for reason in report.reasons:
        grid.add_row("", Text(f"- {reason}", "red"))
    for name, value in report.metrics.items():
        grid.add_row(name, f"{value:.4g}" if isinstance(value, float) else str(value))
    for warning in report.warnings:
        grid.add_row("warning", Text(warning, "yellow"))
    for problem in report.problems:
        grid.add_row("problem", Text(problem, "red"))
    grid.add_row("html", _shown(report.html, home) if report.html else "-")
    return grid


class ValidationScreen(OperatorScreen):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("o", "open_html", "Open HTML report")]

    def __init__(self) -> None:
        super().__init__(id="validation")
        self.records: list[StrategyRecord] = []
        self.report: ValidationReport | None = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="validation-body"):
            table: DataTable[str] = DataTable(cursor_type="row", id="validation-strategies")
            table.add_columns("Strategy", "Asset", "State")
            yield table
            with VerticalScroll(id="validation-report-box"):
                yield Static(id="validation-report")

    def show(self, state: OperatorState, dirty: set[str]) -> None:
        super().show(state, dirty)
        if not dirty & {"controls", "run", "message"} and self.records:
            return
        self.records = self.operator.runtime.strategies()
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for record in self.records:
            table.add_row(record.strategy_id, record.asset.value, record.state.value)
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))
        self._show_report()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_report()

    def _show_report(self) -> None:
        row = self.query_one(DataTable).cursor_row
        if not self.records or row >= len(self.records):
            self.query_one("#validation-report", Static).update("no strategies in this run")
            return
        strategy_id = self.records[row].strategy_id
        home = self.operator.home
        self.report = latest_report(home, strategy_id)
        shown = render_report(strategy_id, self.report, home)
        self.query_one("#validation-report", Static).update(shown)

    def action_open_html(self) -> None:
        if self.report is None or self.report.html is None:
            self.operator.say("this strategy has no HTML report to open")
            return
        self.operator.open_path(self.report.html)
        self.operator.say(f"opened {self.report.html}")
