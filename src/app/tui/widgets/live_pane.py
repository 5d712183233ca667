"""The Live pane. Live trading is not built in this release: the pane says so for every asset, with the
runtime's answer to "could it go live?", and shows no live equity, positions or trades."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.widgets import Static

from app.domain.values import Asset
from app.tui.state import OperatorState
from app.tui.widgets.asset_panel import AssetPanel
from app.tui.widgets.equity_chart import EquityChart, Series
from app.tui.widgets.paper_pane import ASSET_STYLES

__all__ = ["LivePane"]


class LivePane(VerticalScroll):
    def __init__(self) -> None:
        super().__init__(id="live-pane")

    def compose(self) -> ComposeResult:
        yield Static("LIVE TRADING IS OFF for every asset: this build trades paper only.", id="live-banner")
        yield EquityChart(empty_text="live trading is off: no live equity", id="live-chart")
        with Grid(classes="panels"):
            for asset in Asset:
                yield AssetPanel(asset, live=True)
        yield Static("Open (live): none.  History (live): none.", id="live-tables")

    def on_mount(self) -> None:
        series = [Series(a.value, [], ASSET_STYLES[a]) for a in Asset]
        self.query_one(EquityChart).set_data((), [*series, Series("total", [], "bold")])

    def show(self, state: OperatorState, dirty: set[str], selected: Asset) -> None:
        if dirty & {"controls", "run", "accounts"}:
            for panel in self.query(AssetPanel):
                panel.show(state, selected=panel.asset is selected)
