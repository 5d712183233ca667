"""Bybit V5 facts the adapter relies on: categories, kline intervals, limits, codes and headers."""

from __future__ import annotations

from typing import Final

from app.domain.values import Asset

__all__ = [
    "CATEGORY_ASSETS",
    "HEADER_LIMIT",
    "HEADER_LIMIT_RESET",
    "HEADER_LIMIT_STATUS",
    "INSTRUMENTS_PAGE_MAX",
    "INTERVAL_CODES",
    "IP_LIMIT_REQUESTS",
    "IP_LIMIT_WINDOW_S",
    "KLINE_PAGE_MAX",
    "RET_OK",
    "RET_RATE_LIMITED",
    "Endpoint",
]

CATEGORY_ASSETS: Final[dict[str, Asset]] = {
    "spot": Asset.SPOT,
    "linear": Asset.FUTURES,
    "inverse": Asset.FUTURES,
    "option": Asset.OPTIONS,
}
"""Bybit product category -> our asset class (both perpetual kinds trade in the futures bucket)."""

INTERVAL_CODES: Final[dict[int, str]] = {
    60: "1",
    180: "3",
    300: "5",
    900: "15",
    1800: "30",
    3600: "60",
    7200: "120",
    14400: "240",
    21600: "360",
    43200: "720",
    86400: "D",
    604800: "W",
}
"""Bar length in seconds -> the ``interval`` value of /v5/market/kline and ``kline.{interval}.{symbol}``.

Bybit's monthly bar ("M") has no fixed length, so it has no entry.
"""

KLINE_PAGE_MAX: Final = 1000
INSTRUMENTS_PAGE_MAX: Final = 1000

# Documented HTTP IP limit: 600 requests in any 5-second window, shared by every endpoint and category.
IP_LIMIT_REQUESTS: Final = 600
IP_LIMIT_WINDOW_S: Final = 5.0

RET_OK: Final = 0
RET_RATE_LIMITED: Final = 10006

HEADER_LIMIT_STATUS: Final = "X-Bapi-Limit-Status"
HEADER_LIMIT: Final = "X-Bapi-Limit"
HEADER_LIMIT_RESET: Final = "X-Bapi-Limit-Reset-Timestamp"


class Endpoint:
    """Paths of the public market endpoints (also the keys of the per-endpoint rate buckets)."""

    INSTRUMENTS: Final = "/v5/market/instruments-info"
    TICKERS: Final = "/v5/market/tickers"
    KLINE: Final = "/v5/market/kline"
    TIME: Final = "/v5/market/time"
