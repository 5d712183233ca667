"""The watched symbols' last prices (the feed's latest closes) with the change from the close before."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from app.tui.formatting import quote as quoted
from app.tui.formatting import when
from app.tui.state import OperatorState

__all__ = ["QuotesBar"]


class QuotesBar(Static):
    DEFAULT_CSS = """
    QuotesBar { height: 1; padding: 0 1; }
    """

    def show(self, state: OperatorState) -> None:
        line = Text("quotes ", "dim")
        if not state.quotes:
            line.append("waiting for the first bar", "dim")
        for symbol in sorted(state.quotes):
            quote = state.quotes[symbol]
            line.append(f"{symbol} ", "bold").append(quoted(quote.last))
            if quote.previous:
                change = (quote.last - quote.previous) / quote.previous * 100
                arrow, style = ("▲", "green") if change > 0 else ("▼", "red") if change < 0 else ("=", "dim")
                line.append(f" {arrow}{abs(change):.2f}%", style)
            line.append(f" @{when(quote.ts)}  ", "dim")
        self.update(line, layout=False)
