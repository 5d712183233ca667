"""Synthetic feeds: a seeded, correlated multi-asset random walk behind the MarketData port, and a
market of spot pairs, perpetuals (mark price, funding), a forex pair and an options underlying (IV)."""

from app.adapters.feeds.synthetic.feed import REGIMES, SyntheticBlock, SyntheticFeed
from app.adapters.feeds.synthetic.market import MarketBar, OptionsState, PerpetualState, SyntheticMarket

__all__ = [
    "REGIMES",
    "MarketBar",
    "OptionsState",
    "PerpetualState",
    "SyntheticBlock",
    "SyntheticFeed",
    "SyntheticMarket",
]
