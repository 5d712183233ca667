"""A History of 100,000 closed trades stays responsive: only a page is loaded into the table, and sorting,
paging and new trades work on the whole list."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from textual.app import App, ComposeResult

from app.domain.values import Asset, ClosedTrade, Side
from app.tui.widgets.record_table import RecordTable
from app.tui.widgets.trade_tables import history_table

T0 = datetime(2024, 1, 1, tzinfo=UTC)
N = 100_000


def trade(i: int) -> ClosedTrade:
    return ClosedTrade(
        strategy_id=f"s{i % 7}",
        asset=Asset.SPOT,
        symbol=("BTCUSDT", "ETHUSDT", "SOLUSDT")[i % 3],
        side=Side.BUY,
        qty=Decimal("0.1"),
        entry_time=T0 + timedelta(minutes=5 * i),
        exit_time=T0 + timedelta(minutes=5 * i + 3),
        entry_price=Decimal(100 + i % 50),
        exit_price=Decimal(101 + i % 40),
        fees=Decimal("0.02"),
        pnl=Decimal(i % 97 - 48) / 10,
        exit_reason="signal",
    )


class HistoryApp(App[None]):
    def compose(self) -> ComposeResult:
        yield history_table("history-table")


def run(steps):
    app = HistoryApp()

    async def main():
        async with app.run_test(size=(160, 40)) as pilot:
            table = app.query_one(RecordTable)
            return await steps(pilot, table)

    return asyncio.run(main())


TRADES = [trade(i) for i in range(N)]


def test_a_hundred_thousand_trades_load_one_page_into_the_table():
    async def steps(pilot, table):
        started = time.perf_counter()
        table.set_records(TRADES)
        await pilot.pause()
        return table.total, table.row_count, table.rows_on_page()[0], time.perf_counter() - started

    total, loaded, newest, seconds = run(steps)

    assert (total, loaded) == (N, 100)
    assert newest == TRADES[-1]
    assert seconds < 5


def test_sorting_a_hundred_thousand_trades_orders_the_whole_list():
    async def steps(pilot, table):
        table.set_records(TRADES)
        table.sort_by(7, reverse=False)  # P&L, ascending
        await pilot.pause()
        first_page = table.rows_on_page()
        table.turn_page(table.pages)
        return first_page, table.rows_on_page(), table.page

    first_page, last_page, page = run(steps)

    assert first_page[0].pnl == Decimal("-4.8")
    assert last_page[-1].pnl == Decimal("4.8")
    assert page == N // 100 - 1


def test_a_new_trade_lands_in_its_sorted_place_without_reloading_the_list():
    newer = trade(N)

    async def steps(pilot, table):
        table.set_records(TRADES)
        table.extend([newer])
        await pilot.pause()
        return table.total, table.rows_on_page()[0], table.row_count

    assert run(steps) == (N + 1, newer, 100)
