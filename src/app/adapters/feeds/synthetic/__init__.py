"""Synthetic feed: a seeded, correlated multi-asset random walk behind the MarketData port."""

from app.adapters.feeds.synthetic.feed import SyntheticFeed

__all__ = ["SyntheticFeed"]
