"""The watched symbols' last prices (the feed's latest closes) with the change from the close before.

Two fixed lines: a new quote never changes the layout. Quotes come with the bars the runtime publishes, so
showing them costs no request to any venue; the screen redraws them at most ten times a second.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from app.tui.formatting import quote as quoted
from app.tui.formatting import when
from app.tui.state import OperatorState

__all__ = ["QuotesBar"]


class QuotesBar(Static):
    DEFAULT_CSS = """
    QuotesBar { height: 2; padding: 0 1; }
    """

    def show(self, state: OperatorState) -> None:
        line = Text("quotes ", "dim")
        if not state.quotes:
            line.append("waiting for the first bar", "dim")
        else:
            latest = max(quote.ts for quote in state.quotes.values())
            line.append(f"@{when(latest)}  ", "dim")
        for symbol in sorted(state.quotes):
            quote = state.quotes[symbol]
            line.append(f"{symbol} ", "bold").append(quoted(quote.last))
            if quote.previous:
                change = (quote.last - quote.previous) / quote.previous * 100
                arrow, style = ("▲", "green") if change > 0 else ("▼", "red") if change < 0 else ("=", "dim")
                line.append(f" {arrow}{abs(change):.2f}%", style)
            line.append("  ")
        self.update(line, layout=False)
