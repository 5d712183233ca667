"""What every operator screen shares: header, body, the run and message lines, footer; ``show`` refreshes
the body from the state for the areas that changed."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from app.tui.formatting import money, when
from app.tui.state import ALL_AREAS, OperatorState

if TYPE_CHECKING:
    from app.tui.app import OperatorApp

__all__ = ["OperatorScreen", "run_line"]


def run_line(state: OperatorState) -> Text:
    """``[running] 2018-01-10 09:10 bars 110 total 1000.00 pos 1 ord 0 trades 3 exploring`` (fits 80)."""
    total = state.total_equity()
    line = Text.assemble(
        (f"[{state.services}]", "bold"),
        f" {when(state.market_time)} bars {state.bars} total {money(total)} ",
        f"pos {len(state.positions)} ord {len(state.open_orders)} trades {len(state.trades)} ",
    )
    if state.controls.paused:
        line.append("PAUSED", "bold yellow")
    else:
        line.append("exploring")
    killed = ", ".join(sorted(a.value for a in state.controls.killed))
    if killed:
        line.append(f" killed: {killed}", "bold red")
    if state.dropped:
        line.append(f" resynced ({state.dropped} dropped)", "dim")
    return line


class OperatorScreen(Screen[None]):
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield from self.compose_body()
        yield Static(id="run-line", classes="run-line")
        yield Static(id="message-line", classes="message-line")
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    @property
    def operator(self) -> OperatorApp:
        return cast("OperatorApp", self.app)

    def on_screen_resume(self) -> None:
        self.show(self.operator.state, set(ALL_AREAS))

    def show(self, state: OperatorState, dirty: set[str]) -> None:
        """Refresh what depends on the ``dirty`` areas (subclasses add their body)."""
        # Both lines have a fixed height: no layout pass for a new text.
        self.query_one("#run-line", Static).update(run_line(state), layout=False)
        self.query_one("#message-line", Static).update(Text(state.message, "italic"), layout=False)
