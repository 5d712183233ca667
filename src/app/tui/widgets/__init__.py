"""The operator app's widgets: equity chart, asset panel, quotes, paged tables, the Paper and Live panes."""

from app.tui.widgets.asset_panel import AssetPanel
from app.tui.widgets.equity_chart import EquityChart, Series
from app.tui.widgets.live_pane import LivePane
from app.tui.widgets.paper_pane import PaperPane
from app.tui.widgets.quotes_bar import QuotesBar
from app.tui.widgets.record_table import Column, RecordTable

__all__ = [
    "AssetPanel",
    "Column",
    "EquityChart",
    "LivePane",
    "PaperPane",
    "QuotesBar",
    "RecordTable",
    "Series",
]
