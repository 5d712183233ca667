"""Modal dialogs: a yes/no confirmation, a typed confirmation, and the choice of a strategy flag."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList

from app.domain.registry import StrategyFlag

__all__ = ["ConfirmDialog", "FlagDialog", "TypedConfirmDialog"]


class ConfirmDialog(ModalScreen[bool]):
    """``y`` confirms, ``n`` or Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "Cancel"),
    ]

    def __init__(self, title: str, body: str) -> None:
        super().__init__(classes="dialog")
        self._heading_text, self._body = title, body

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self._heading_text, classes="dialog-title")
            yield Label(self._body)
            yield Label("[b]y[/b] confirm    [b]n[/b] / Esc cancel", classes="dialog-keys")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class TypedConfirmDialog(ModalScreen[str | None]):
    """The operator types a word (an asset's name) and presses Enter; Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, body: str, expected: str) -> None:
        super().__init__(classes="dialog")
        self._heading_text, self._body, self.expected = title, body, expected

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self._heading_text, classes="dialog-title")
            yield Label(self._body)
            yield Input(placeholder=f"type {self.expected} and press Enter", id="typed")
            yield Label("Enter submit    Esc cancel", classes="dialog-keys")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class FlagDialog(ModalScreen[tuple[StrategyFlag, str] | None]):
    """Pick a flag (arrows, Enter), then type a reason and press Enter; Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, flags: Sequence[StrategyFlag]) -> None:
        super().__init__(classes="dialog")
        self._heading_text, self.flags = title, list(flags)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self._heading_text, classes="dialog-title")
            yield OptionList(*[flag.value for flag in self.flags], id="flags")
            yield Input(placeholder="reason, then Enter", id="reason")
            yield Label("arrows + Enter pick    Enter submit    Esc cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.query_one("#reason", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        index = self.query_one(OptionList).highlighted
        self.dismiss((self.flags[index or 0], event.value.strip()))

    def action_cancel(self) -> None:
        self.dismiss(None)
