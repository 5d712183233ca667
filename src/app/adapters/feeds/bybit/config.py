"""Settings of the Bybit public-data client and feed. Every default is documented on its field."""

from __future__ import annotations

from typing import Any, final

import attrs

from app.adapters.feeds.bybit.constants import (
    INSTRUMENTS_PAGE_MAX,
    IP_LIMIT_REQUESTS,
    IP_LIMIT_WINDOW_S,
    KLINE_PAGE_MAX,
)

__all__ = ["BybitClientConfig", "BybitFeedConfig", "RateLimit"]


def _positive(_instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        msg = f"{attribute.name} must be positive, got {value}"
        raise ValueError(msg)


@final
@attrs.frozen
class RateLimit:
    """A token bucket: bursts of up to ``requests`` then ``requests / per_seconds`` a second."""

    requests: int = attrs.field(validator=_positive)
    per_seconds: float = attrs.field(validator=_positive)

    @property
    def rate(self) -> float:
        return self.requests / self.per_seconds


@final
@attrs.frozen
class BybitClientConfig:
    """How the REST client reaches Bybit and how hard it may push.

    Args:
        testnet: use api-testnet.bybit.com instead of api.bybit.com (default False).
        endpoint: a base URL that replaces pybit's (a loopback fake in tests); None keeps pybit's.
        timeout: seconds to wait for an answer before the request counts as failed (default 10).
        ip_limit: the bucket shared by all requests: 300 per 5 s, half the documented 600 per 5 s
            per IP, because other programs on the host may share the address.
        endpoint_limit: a bucket per endpoint: 10 per second (Bybit publishes no per-endpoint limit
            for market data; 10/s keeps one busy endpoint from starving the others).
        rate_limit_retries: attempts after a 10006 answer before giving up (default 5).
        transient_retries: attempts after a 5xx, a timeout or a garbled body (default 2).
        backoff: first wait in seconds when the answer gives no reset time; doubles each retry.
        max_backoff: longest single wait in seconds (default 30).
        kline_page_size: bars per kline request (default 1000, the documented maximum).
        instruments_page_size: instruments per request (default 1000, the documented maximum).
    """

    testnet: bool = False
    endpoint: str | None = None
    timeout: float = attrs.field(default=10.0, validator=_positive)
    ip_limit: RateLimit = RateLimit(IP_LIMIT_REQUESTS // 2, IP_LIMIT_WINDOW_S)
    endpoint_limit: RateLimit = RateLimit(10, 1.0)
    rate_limit_retries: int = attrs.field(default=5, validator=attrs.validators.ge(0))
    transient_retries: int = attrs.field(default=2, validator=attrs.validators.ge(0))
    backoff: float = attrs.field(default=0.5, validator=_positive)
    max_backoff: float = attrs.field(default=30.0, validator=_positive)
    kline_page_size: int = attrs.field(
        default=KLINE_PAGE_MAX, validator=attrs.validators.in_(range(1, KLINE_PAGE_MAX + 1))
    )
    instruments_page_size: int = attrs.field(
        default=INSTRUMENTS_PAGE_MAX,
        validator=attrs.validators.in_(range(1, INSTRUMENTS_PAGE_MAX + 1)),
    )


@final
@attrs.frozen
class BybitFeedConfig:
    """How the kline stream behaves.

    Args:
        silence_timeout: seconds without any stream message before the socket is rebuilt; Bybit
            pushes klines every 1-60 s, so the default 90 s only fires on a dead connection.
        reconnect_attempts: consecutive failed connections before the stream raises (default 10).
        reconnect_backoff: first wait in seconds between connection attempts; doubles, capped at 60.
        align_grace: seconds a closed bar waits for the other symbols' bars of the same time, so
            candles leave in time order across symbols; after it, the bar goes out anyway (default 5).
        buffer: stream messages held between pybit's thread and the feed; when full, messages are
            dropped and counted (a dropped closed bar is recovered through REST) (default 1024).
    """

    silence_timeout: float = attrs.field(default=90.0, validator=_positive)
    reconnect_attempts: int = attrs.field(default=10, validator=_positive)
    reconnect_backoff: float = attrs.field(default=1.0, validator=_positive)
    align_grace: float = attrs.field(default=5.0, validator=_positive)
    buffer: int = attrs.field(default=1024, validator=_positive)
