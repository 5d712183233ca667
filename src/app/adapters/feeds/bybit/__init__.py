"""Bybit public market data (no keys): instruments, 24h tickers, klines over REST, the kline and ticker streams."""

from app.adapters.feeds.bybit.client import (
    AsyncBybitPublicClient,
    BybitPublicClient,
    RateLimited,
    RateLimiter,
    TransientError,
)
from app.adapters.feeds.bybit.config import BybitClientConfig, BybitFeedConfig, RateLimit
from app.adapters.feeds.bybit.feed import (
    BybitFeed,
    FeedStats,
    KlineSocket,
    KlineSocketFactory,
    public_stream_url,
    pybit_socket_factory,
)
from app.adapters.feeds.bybit.live import BybitEndpoints, LivePaperFeed, PaperFeedSettings, open_paper_feed
from app.adapters.feeds.bybit.parsing import KlineUpdate, Ticker24h
from app.adapters.feeds.bybit.quotes import QuoteStats, parse_ticker_message

__all__ = [
    "AsyncBybitPublicClient",
    "BybitClientConfig",
    "BybitEndpoints",
    "BybitFeed",
    "BybitFeedConfig",
    "BybitPublicClient",
    "FeedStats",
    "KlineSocket",
    "KlineSocketFactory",
    "KlineUpdate",
    "LivePaperFeed",
    "PaperFeedSettings",
    "QuoteStats",
    "RateLimit",
    "RateLimited",
    "RateLimiter",
    "Ticker24h",
    "TransientError",
    "open_paper_feed",
    "parse_ticker_message",
    "public_stream_url",
    "pybit_socket_factory",
]
