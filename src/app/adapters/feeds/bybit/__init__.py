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
    pybit_socket_factory,
)
from app.adapters.feeds.bybit.parsing import KlineUpdate, Ticker24h
from app.adapters.feeds.bybit.quotes import QuoteStats, parse_ticker_message

__all__ = [
    "AsyncBybitPublicClient",
    "BybitClientConfig",
    "BybitFeed",
    "BybitFeedConfig",
    "BybitPublicClient",
    "FeedStats",
    "KlineSocket",
    "KlineSocketFactory",
    "KlineUpdate",
    "QuoteStats",
    "RateLimit",
    "RateLimited",
    "RateLimiter",
    "Ticker24h",
    "TransientError",
    "parse_ticker_message",
    "pybit_socket_factory",
]
