"""The Paper pane: the equity chart, the asset panels, the quotes, and the Open and History tables."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.widgets import Collapsible, Static

from app.domain.values import Asset
from app.tui.state import OperatorState
from app.tui.widgets.asset_panel import AssetPanel
from app.tui.widgets.equity_chart import EquityChart, Series
from app.tui.widgets.quotes_bar import QuotesBar
from app.tui.widgets.record_table import RecordTable
from app.tui.widgets.trade_tables import history_table, open_rows, open_table

__all__ = ["ASSET_STYLES", "PaperPane"]

ASSET_STYLES = {
    Asset.SPOT: "dark_orange",
    Asset.FUTURES: "dodger_blue2",
    Asset.FOREX: "magenta",
    Asset.OPTIONS: "green4",
}


class PaperPane(VerticalScroll):
    def __init__(self) -> None:
        super().__init__(id="paper-pane")
        self._trades_seen = (-1, 0)

    def compose(self) -> ComposeResult:
        yield EquityChart(id="paper-chart")
        with Grid(classes="panels"):
            for asset in Asset:
                yield AssetPanel(asset)
        yield QuotesBar(id="quotes")
        with Collapsible(title="Open: positions and working orders", collapsed=False, id="open-box"):
            yield open_table("open-table")
        with Collapsible(title="History: closed trades", collapsed=False, id="history-box"):
            yield Static(id="history-page")
            yield history_table("history-table")

    @property
    def open_table(self) -> RecordTable:
        return self.query_one("#open-table", RecordTable)

    @property
    def history_table(self) -> RecordTable:
        return self.query_one("#history-table", RecordTable)

    def show(self, state: OperatorState, dirty: set[str], selected: Asset) -> None:
        if dirty & {"accounts", "bar", "run"}:
            times = state.equity.times
            series = [Series(a.value, state.equity.values[a], ASSET_STYLES[a]) for a in Asset]
            series.append(Series("total", state.equity.totals(), "bold"))
            self.query_one(EquityChart).set_data(times, series)
        if dirty & {"accounts", "controls", "run"}:
            for panel in self.query(AssetPanel):
                panel.show(state, selected=panel.asset is selected)
        if dirty & {"bar", "run"}:
            self.query_one(QuotesBar).show(state)
        if dirty & {"positions", "bar", "run"}:
            marks = {symbol: quote.last for symbol, quote in state.quotes.items()}
            rows = open_rows(state.positions, state.open_orders, marks, state.market_time)
            self.open_table.set_records(rows)
        if dirty & {"trades", "run"}:
            self._show_trades(state)

    def _show_trades(self, state: OperatorState) -> None:
        table = self.history_table
        version, count = self._trades_seen
        if version != state.trades_version:
            table.set_records(state.trades)
        elif count < len(state.trades):
            table.extend(state.trades[count:])
        self._trades_seen = (state.trades_version, len(state.trades))
        self.show_history_page()

    def show_history_page(self) -> None:
        label = f"{self.history_table.page_label()}  ([ ] page, r sort, R reverse)"
        self.query_one("#history-page", Static).update(label, layout=False)
