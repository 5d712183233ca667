"""A line chart of equity over the session in Unicode braille (2 x 4 dots a cell): plain text, so it draws in
an 80x24 terminal and over SSH. A legend line on top, the value range on the left, the time span below."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from rich.text import Text
from textual.widget import Widget

from app.tui.formatting import money, when

__all__ = ["EquityChart", "Series", "braille_rows"]

_BASE = 0x2800
_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
_LABEL_WIDTH = 10


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[Decimal | None]
    style: str


def braille_rows(
    series: Sequence[tuple[Sequence[float | None], str]], cols: int, rows: int, lo: float, hi: float
) -> list[Text]:
    """Plot each (values, style) into ``rows`` lines of ``cols`` braille cells; later series draw on top."""
    width, height = 2 * cols, 4 * rows
    bits = [[0] * cols for _ in range(rows)]
    owner: list[list[str]] = [[""] * cols for _ in range(rows)]
    span = hi - lo or 1.0
    for values, style in series:
        n = len(values)
        previous: int | None = None
        for x in range(width):
            if n == 0:
                break
            value = values[round(x * (n - 1) / (width - 1))] if n > 1 and width > 1 else values[0]
            if value is None:
                previous = None
                continue
            y = height - 1 - round((value - lo) / span * (height - 1))
            low, high = (y, y) if previous is None else (min(y, previous), max(y, previous))
            for dot in range(low, high + 1):
                bits[dot // 4][x // 2] |= _BITS[x % 2][dot % 4]
                owner[dot // 4][x // 2] = style
            previous = y
    lines = []
    for r in range(rows):
        line = Text()
        for c in range(cols):
            line.append(chr(_BASE + bits[r][c]) if bits[r][c] else " ", owner[r][c] or None)
        lines.append(line)
    return lines


class EquityChart(Widget):
    DEFAULT_CSS = """
    EquityChart { height: 8; }
    """

    def __init__(self, *, empty_text: str = "no equity yet", id: str | None = None) -> None:
        super().__init__(id=id)
        self.empty_text = empty_text
        self._series: list[Series] = []
        self._times: Sequence[datetime] = ()

    def set_data(self, times: Sequence[datetime], series: Sequence[Series]) -> None:
        self._times, self._series = times, list(series)
        self.refresh()

    def render(self) -> Text:
        cols = max(1, self.size.width - _LABEL_WIDTH)
        rows = max(1, self.size.height - 2)
        legend = Text()
        for one in self._series:
            last = next((v for v in reversed(one.values) if v is not None), None)
            legend.append("━ ", one.style or None).append(f"{one.label} {money(last)}  ")
        drawn = [s for s in self._series if any(v is not None for v in s.values)]
        if not drawn:
            return Text.assemble(legend, "\n\n", (self.empty_text, "dim"))
        numbers = [float(v) for s in drawn for v in s.values if v is not None]
        lo, hi = min(numbers), max(numbers)
        if hi == lo:
            lo, hi = lo - 1.0, hi + 1.0
        plotted = [([None if v is None else float(v) for v in s.values], s.style) for s in drawn]
        out = Text()
        out.append_text(legend)
        for index, line in enumerate(braille_rows(plotted, cols, rows, lo, hi)):
            label = f"{hi:.2f}" if index == 0 else f"{lo:.2f}" if index == rows - 1 else ""
            out.append("\n").append(f"{label:>{_LABEL_WIDTH - 1}} ", "dim").append_text(line)
        span = f"{when(self._times[0])} … {when(self._times[-1])}" if self._times else ""
        out.append("\n").append(f"{'':>{_LABEL_WIDTH}}{span}", "dim")
        return out
