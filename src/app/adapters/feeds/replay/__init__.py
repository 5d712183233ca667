"""Replay feed: CSV, Parquet, Feather, freqtrade and trades files behind the MarketData port."""

from app.adapters.feeds.replay.feed import ReplayFeed
from app.adapters.feeds.replay.reader import (
    SUPPORTED_SUFFIXES,
    BarSeries,
    DataReport,
    LoadResult,
    folder_data_files,
    load_bars,
    not_traded_prices,
)

__all__ = [
    "SUPPORTED_SUFFIXES",
    "BarSeries",
    "DataReport",
    "LoadResult",
    "ReplayFeed",
    "folder_data_files",
    "load_bars",
    "not_traded_prices",
]
