"""A DataTable over a list of records that may be very long: sortable by any column, shown a page at a time.

Only the current page is loaded into the DataTable, so 100,000 closed trades cost a sort (once per change of
sort column) and a page of rows, not 100,000 rows of widgets. New records are inserted into the sorted view
with a binary search.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

__all__ = ["Column", "RecordTable", "sort_key"]


def sort_key(value: Any) -> tuple[int, Any]:
    """A key that orders None last whatever the values' type."""
    return (1, 0) if value is None else (0, value)


@dataclass(frozen=True)
class Column:
    """``width`` is fixed (cells never resize the table, so an update costs no layout pass)."""

    label: str
    key: Callable[[Any], Any]
    text: Callable[[Any], str | Text]
    width: int
    right: bool = False


class RecordTable(DataTable[Any]):
    """``set_records`` replaces the records, ``extend`` adds some; ``r``/``R``-style calls sort and page."""

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        page_size: int = 100,
        sort_index: int = 0,
        sort_reverse: bool = False,
        id: str | None = None,
    ) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, id=id)
        self.columns_spec = list(columns)
        self.page_size = page_size
        self.sort_index = sort_index
        self.sort_reverse = sort_reverse
        self.page = 0
        self._view: list[Any] = []
        self._keys: list[Any] = []
        self._shown_labels: list[str] = []
        self._shown_rows: list[list[str | Text]] = []

    @property
    def total(self) -> int:
        return len(self._view)

    @property
    def pages(self) -> int:
        return max(1, -(-len(self._view) // self.page_size))

    def page_label(self) -> str:
        column = self.columns_spec[self.sort_index].label
        order = "desc" if self.sort_reverse else "asc"
        return f"page {self.page + 1}/{self.pages}, {self.total} rows, by {column} {order}"

    def set_records(self, records: Sequence[Any]) -> None:
        key = self._sort_key()
        self._view = sorted(records, key=key)
        self._keys = [key(r) for r in self._view]
        self.page = min(self.page, self.pages - 1)
        self.show_page()

    def extend(self, records: Sequence[Any]) -> None:
        key = self._sort_key()
        for record in records:
            k = key(record)
            at = bisect_right(self._keys, k)
            self._keys.insert(at, k)
            self._view.insert(at, record)
        if records:
            self.show_page()

    def rows_on_page(self) -> list[Any]:
        n, size, page = len(self._view), self.page_size, self.page
        if self.sort_reverse:
            return self._view[max(0, n - (page + 1) * size) : n - page * size][::-1]
        return self._view[page * size : (page + 1) * size]

    def sort_by(self, index: int, reverse: bool | None = None) -> None:
        if reverse is None:
            reverse = not self.sort_reverse if index == self.sort_index else False
        self.sort_index, self.sort_reverse, self.page = index, reverse, 0
        self.set_records(list(self._view))

    def cycle_sort(self) -> None:
        self.sort_by((self.sort_index + 1) % len(self.columns_spec), reverse=False)

    def toggle_reverse(self) -> None:
        self.sort_by(self.sort_index, reverse=not self.sort_reverse)

    def turn_page(self, step: int) -> None:
        self.page = min(max(0, self.page + step), self.pages - 1)
        self.show_page()

    def show_page(self) -> None:
        labels = [self._label(i, c) for i, c in enumerate(self.columns_spec)]
        rows = [self._cells(record) for record in self.rows_on_page()]
        if labels == self._shown_labels and len(rows) == len(self._shown_rows):
            # Same shape: change the cells that differ. Rebuilding would change the table's virtual size
            # and cost a layout pass of the whole screen.
            for y, (old, new) in enumerate(zip(self._shown_rows, rows, strict=True)):
                for x, (was, now) in enumerate(zip(old, new, strict=True)):
                    if was != now:
                        self.update_cell_at(Coordinate(y, x), now)
            self._shown_rows = rows
            return
        cursor = self.cursor_row
        if labels != self._shown_labels:
            self.clear(columns=True)
            for label, column in zip(labels, self.columns_spec, strict=True):
                self.add_column(label, width=max(column.width, len(column.label) + 2))
            self._shown_labels = labels
        else:
            self.clear()
        self.add_rows(rows)
        self._shown_rows = rows
        if self.row_count:
            self.move_cursor(row=min(cursor, self.row_count - 1), animate=False, scroll=False)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(event.column_index)

    def _sort_key(self) -> Callable[[Any], Any]:
        key = self.columns_spec[self.sort_index].key
        return lambda record: sort_key(key(record))

    def _label(self, index: int, column: Column) -> str:
        if index != self.sort_index:
            return column.label
        return f"{column.label} {'▼' if self.sort_reverse else '▲'}"

    def _cells(self, record: Any) -> list[str | Text]:
        cells: list[str | Text] = []
        for column in self.columns_spec:
            value = column.text(record)
            if column.right and isinstance(value, str):
                value = Text(value, justify="right")
            cells.append(value)
        return cells
