"""Help (``?``): every key binding of the app and of each screen."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HelpScreen", "binding_rows"]


def _key_text(key: str) -> str:
    names = {"question_mark": "?", "plus": "+", "minus": "-", "equals_sign": "=", "slash": "/",
             "left_square_bracket": "[", "right_square_bracket": "]", "escape": "Esc"}  # fmt: skip
    return ", ".join(names.get(k.strip(), k.strip()) for k in key.split(","))


def binding_rows(sections: list[tuple[str, list[BindingType]]]) -> list[tuple[str, str, str]]:
    """(section, keys, description) for every binding that has a description."""
    rows = []
    for section, bindings in sections:
        for binding in bindings:
            if isinstance(binding, Binding) and binding.description:
                rows.append((section, _key_text(binding.key), binding.description))
    return rows


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "close", "Close help")]

    def __init__(self, sections: list[tuple[str, list[BindingType]]]) -> None:
        super().__init__(classes="dialog")
        self.rows = binding_rows(sections)

    def compose(self) -> ComposeResult:
        table = Table(title="Keys (Esc or ? closes)", expand=True)
        table.add_column("Where", style="dim")
        table.add_column("Key", style="bold")
        table.add_column("Does")
        for row in self.rows:
            table.add_row(*row)
        with VerticalScroll(classes="dialog-box help-box"):
            yield Static(table, id="help-table")

    def action_close(self) -> None:
        self.dismiss(None)
