"""The columns of the Open table (positions and working orders) and the History table (closed trades)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from rich.text import Text

from app.domain.values import ClosedTrade, Order, Position
from app.tui.formatting import age, price, quote, signed, when
from app.tui.widgets.record_table import Column, RecordTable

__all__ = ["HISTORY_COLUMNS", "OPEN_COLUMNS", "OpenRow", "history_table", "open_rows", "open_table"]


@dataclass(frozen=True)
class OpenRow:
    """One line of the Open table: a position (``state`` open) or a working order (its status)."""

    symbol: str
    side: str
    qty: Decimal
    entry: Decimal | None
    mark: Decimal | None
    upnl: Decimal | None
    stop_loss: Decimal | None
    take_profit: Decimal | None
    strategy: str
    since: datetime
    state: str
    now: datetime | None


def open_rows(
    positions: Sequence[Position], orders: Sequence[Order], marks: Mapping[str, Decimal], now: datetime | None
) -> list[OpenRow]:
    rows = []
    for p in positions:
        mark = marks.get(p.symbol)
        rows.append(
            OpenRow(
                p.symbol, p.side.value, abs(p.qty), p.avg_price, mark,
                p.unrealized_pnl(mark) if mark is not None else None,
                p.stop_loss, p.take_profit, p.strategy_id, p.opened_at, "open", now,
            )
        )  # fmt: skip
    for o in orders:
        rows.append(
            OpenRow(
                o.symbol, o.side.value, o.qty, o.price, marks.get(o.symbol), None, None, None,
                o.strategy_id, o.created_at, o.status.value + (" reduce" if o.reduce_only else ""), now,
            )
        )  # fmt: skip
    return rows


def _pnl(value: Decimal | None) -> Text:
    if value is None:
        return Text("-", justify="right")
    style = "green" if value > 0 else "red" if value < 0 else ""
    return Text(quote(value) if abs(value) < 1 else signed(value), style=style, justify="right")


OPEN_COLUMNS = (
    Column("Symbol", lambda r: r.symbol, lambda r: r.symbol, 10),
    Column("Side", lambda r: r.side, lambda r: r.side, 4),
    Column("Qty", lambda r: r.qty, lambda r: price(r.qty), 11, right=True),
    Column("Entry", lambda r: r.entry, lambda r: price(r.entry), 11, right=True),
    Column("Mark", lambda r: r.mark, lambda r: quote(r.mark), 11, right=True),
    Column("uPnL", lambda r: r.upnl, lambda r: _pnl(r.upnl), 15),
    Column("SL", lambda r: r.stop_loss, lambda r: price(r.stop_loss), 11, right=True),
    Column("TP", lambda r: r.take_profit, lambda r: price(r.take_profit), 11, right=True),
    Column("Strategy", lambda r: r.strategy, lambda r: r.strategy, 16),
    Column("Age", lambda r: r.since, lambda r: age(r.since, r.now), 6, right=True),
    Column("State", lambda r: r.state, lambda r: r.state, 16),
)


def _trade_pnl(trade: ClosedTrade) -> Text:
    style = "green" if trade.pnl > 0 else "red" if trade.pnl < 0 else ""
    return Text(quote(trade.pnl), style=style, justify="right")


HISTORY_COLUMNS = (
    Column("Entry time", lambda t: t.entry_time, lambda t: when(t.entry_time), 16),
    Column("Exit time", lambda t: t.exit_time, lambda t: when(t.exit_time), 16),
    Column("Symbol", lambda t: t.symbol, lambda t: t.symbol, 10),
    Column("Side", lambda t: t.side.value, lambda t: t.side.value, 4),
    Column("Qty", lambda t: t.qty, lambda t: price(t.qty), 11, right=True),
    Column("Entry", lambda t: t.entry_price, lambda t: price(t.entry_price), 11, right=True),
    Column("Exit", lambda t: t.exit_price, lambda t: price(t.exit_price), 11, right=True),
    Column("P&L", lambda t: t.pnl, _trade_pnl, 15),
    Column("Fees", lambda t: t.fees, lambda t: quote(t.fees), 13, right=True),
    Column("Exit reason", lambda t: t.exit_reason, lambda t: t.exit_reason, 11),
    Column("Strategy", lambda t: t.strategy_id, lambda t: t.strategy_id, 16),
)


def open_table(id: str) -> RecordTable:
    return RecordTable(OPEN_COLUMNS, page_size=500, id=id)


def history_table(id: str) -> RecordTable:
    return RecordTable(HISTORY_COLUMNS, page_size=100, sort_index=1, sort_reverse=True, id=id)
