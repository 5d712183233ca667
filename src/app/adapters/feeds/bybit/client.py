"""Bybit public REST through pybit: a synchronous client and its rate-limited trio wrapper.

pybit's own retries sleep inside the calling thread (``time.sleep`` on 10006, on timeouts with
``force_retry``); they are switched off here, and every wait happens in trio (``trio.sleep``), so
the event loop never blocks and tests can run on trio's MockClock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
import trio
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP

from app.adapters.feeds.bybit.config import BybitClientConfig, RateLimit
from app.adapters.feeds.bybit.constants import HEADER_LIMIT_RESET, RET_OK, RET_RATE_LIMITED, Endpoint
from app.adapters.feeds.bybit.parsing import (
    KlinePager,
    Ticker24h,
    bybit_interval,
    ms_to_datetime,
    parse_instrument,
    parse_kline_rows,
    parse_server_time,
    parse_ticker,
)
from app.domain.values import Candle, Instrument
from app.ports.clock import Clock
from app.ports.errors import BrokerUnavailable, DataError

__all__ = ["AsyncBybitPublicClient", "BybitPublicClient", "RateLimited", "RateLimiter", "TransientError"]

_T = TypeVar("_T")

# pybit swaps an empty retry set for its defaults (10002, 10006, ...), each of which sleeps in the
# calling thread. retCode 0 never reaches that check, so this set disables the retries.
_NO_PYBIT_RETRIES = frozenset({RET_OK})


class RateLimited(DataError):
    """Bybit answered 10006 (too many visits). ``reset_at`` is when the limit resets, if it said."""

    def __init__(self, message: str, reset_at: datetime | None = None) -> None:
        self.reset_at = reset_at
        super().__init__(message)


class TransientError(DataError):
    """A failure worth one more try: a 5xx, a timeout, a body that is not JSON."""


def _reset_at(headers: Mapping[str, str] | None) -> datetime | None:
    raw = (headers or {}).get(HEADER_LIMIT_RESET)
    try:
        return ms_to_datetime(raw) if raw else None
    except (TypeError, ValueError, OverflowError):
        return None


class BybitPublicClient:
    """Synchronous public market data (no keys). Each method is one or more blocking HTTP calls.

    Errors: RateLimited (10006 or HTTP 429, not retried here), TransientError (5xx, timeout, garbled body),
    DataError (any other refusal or a malformed payload), BrokerUnavailable (cannot connect).
    """

    def __init__(self, config: BybitClientConfig | None = None) -> None:
        self.config = config or BybitClientConfig()
        self._http = HTTP(
            testnet=self.config.testnet,
            timeout=self.config.timeout,
            max_retries=1,
            retry_delay=0,
            force_retry=False,
            retry_codes=set(_NO_PYBIT_RETRIES),
            log_requests=False,
        )
        if self.config.endpoint is not None:
            # pybit's constructor has no URL argument; the attribute is what every request uses.
            self._http.endpoint = self.config.endpoint.rstrip("/")

    @property
    def endpoint(self) -> str:
        return str(self._http.endpoint)

    def close(self) -> None:
        """Release the pooled HTTP connections."""
        self._http.client.close()

    def call(self, path: str, method: Callable[..., Any], **params: Any) -> Mapping[str, Any]:
        """Run one pybit request and return the answer's body, translating every failure."""
        shown = " ".join(f"{key}={value}" for key, value in params.items() if value is not None)
        where = f"bybit {path} {shown}".rstrip()
        try:
            body = method(**params)
        except InvalidRequestError as e:
            if e.status_code == RET_RATE_LIMITED:
                msg = f"{where}: rate limited (10006): {e.message}"
                raise RateLimited(msg, _reset_at(e.resp_headers)) from e
            msg = f"{where}: refused with retCode {e.status_code}: {e.message}"
            raise DataError(msg) from e
        except FailedRequestError as e:
            raise self._failed(where, e) from e
        except requests.exceptions.ConnectTimeout as e:
            msg = f"cannot reach bybit at {self.endpoint}: connection timed out"
            raise BrokerUnavailable(msg) from e
        except requests.exceptions.Timeout as e:
            msg = f"{where}: no answer within {self.config.timeout:g}s"
            raise TransientError(msg) from e
        except requests.exceptions.ConnectionError as e:
            msg = f"cannot reach bybit at {self.endpoint}: {e}"
            raise BrokerUnavailable(msg) from e
        except requests.exceptions.RequestException as e:
            msg = f"{where}: request failed: {e}"
            raise TransientError(msg) from e
        if not isinstance(body, Mapping) or not isinstance(body.get("result"), Mapping):
            msg = f"{where}: the answer has no 'result' object"
            raise DataError(msg)
        return body

    @staticmethod
    def _failed(where: str, error: FailedRequestError) -> DataError:
        code = error.status_code
        if code == 403:
            # Not worth retrying: the documented IP ban lasts at least 10 minutes.
            return DataError(f"{where}: HTTP 403: IP rate limit breached or region blocked")
        if code == 429:  # documented: system-level frequency protection, retry later
            return RateLimited(f"{where}: HTTP 429: too many requests", _reset_at(error.resp_headers))
        if code == 409:  # pybit's code for a body it could not decode
            return TransientError(f"{where}: the answer is not JSON")
        if isinstance(code, int) and code >= 500:
            return TransientError(f"{where}: server error HTTP {code}")
        return DataError(f"{where}: HTTP {code}: {error.message}")

    def instrument_page(
        self, category: str, cursor: str | None = None
    ) -> tuple[list[Instrument], str | None]:
        """One page of instruments and the cursor of the next page (None on the last)."""
        result = self.call(
            Endpoint.INSTRUMENTS,
            self._http.get_instruments_info,
            category=category,
            limit=self.config.instruments_page_size,
            cursor=cursor,
        )["result"]
        items = [parse_instrument(category, item) for item in result.get("list") or []]
        return items, (str(result.get("nextPageCursor") or "") or None)

    def instruments(self, category: str) -> list[Instrument]:
        """Every instrument of ``category`` with its tick size, lot step, minimum qty and notional."""
        found, cursor = self.instrument_page(category)
        while cursor is not None:
            page, cursor = self.instrument_page(category, cursor)
            found.extend(page)
        return found

    def tickers(self, category: str, symbol: str | None = None) -> list[Ticker24h]:
        """Last price and 24-hour turnover and volume of every symbol (or one) of ``category``."""
        body = self.call(Endpoint.TICKERS, self._http.get_tickers, category=category, symbol=symbol)
        ts = ms_to_datetime(body.get("time") or 0)
        return [parse_ticker(item, ts) for item in body["result"].get("list") or []]

    def kline_page(
        self, category: str, symbol: str, timeframe: str, start_ms: int | None, end_ms: int | None
    ) -> list[Candle]:
        """The newest ``kline_page_size`` bars within [start, end], oldest first (the open bar included)."""
        result = self.call(
            Endpoint.KLINE,
            self._http.get_kline,
            category=category,
            symbol=symbol,
            interval=bybit_interval(timeframe),
            start=start_ms,
            end=end_ms,
            limit=self.config.kline_page_size,
        )["result"]
        return parse_kline_rows(symbol, timeframe, result.get("list") or [])

    def klines(
        self,
        category: str,
        symbol: str,
        timeframe: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> list[Candle]:
        """Bars of ``symbol`` with ts in [start, end], oldest first, paged backwards as needed.

        ``limit`` keeps the newest ``limit`` bars (reaching back past one page if it must); with
        neither ``start`` nor ``limit``, the latest page. Bybit includes the bar still open: callers
        decide what is closed.
        """
        pager = KlinePager(start, end, limit, self.config.kline_page_size)
        while (window := pager.window()) is not None:
            pager.add(self.kline_page(category, symbol, timeframe, *window))
        return pager.candles()

    def server_time(self) -> datetime:
        """The exchange's clock."""
        return parse_server_time(self.call(Endpoint.TIME, self._http.get_server_time)["result"])


class _TokenBucket:
    def __init__(self, limit: RateLimit) -> None:
        self._limit = limit
        self._tokens = float(limit.requests)
        self._stamp: float | None = None

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 if now), refilling first."""
        if self._stamp is not None:
            elapsed = now - self._stamp
            self._tokens = min(self._limit.requests, self._tokens + elapsed * self._limit.rate)
        self._stamp = now
        # The epsilon absorbs float error: a wait of 1e-17 s would never move the clock.
        return 0.0 if self._tokens >= 1 - 1e-9 else (1 - self._tokens) / self._limit.rate

    def take(self) -> None:
        self._tokens -= 1


class RateLimiter:
    """One bucket shared by every request (the IP limit) and one per endpoint, on trio's clock."""

    def __init__(self, ip_limit: RateLimit, endpoint_limit: RateLimit) -> None:
        self._ip = _TokenBucket(ip_limit)
        self._endpoint_limit = endpoint_limit
        self._endpoints: dict[str, _TokenBucket] = {}
        self._blocked_until = 0.0

    async def acquire(self, endpoint: str) -> None:
        """Wait (trio.sleep) until both buckets have a token and no 10006 pause is running; take them."""
        bucket = self._endpoints.setdefault(endpoint, _TokenBucket(self._endpoint_limit))
        while True:
            now = trio.current_time()
            wait = max(self._blocked_until - now, self._ip.wait_time(now), bucket.wait_time(now))
            if wait <= 0:
                self._ip.take()
                bucket.take()
                return
            await trio.sleep(wait)

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (after Bybit said the limit was exceeded)."""
        self._blocked_until = max(self._blocked_until, trio.current_time() + seconds)


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class AsyncBybitPublicClient:
    """The public client for trio code: rate-limited, retried within bounds, run in worker threads."""

    def __init__(
        self,
        client: BybitPublicClient,
        *,
        limiter: RateLimiter | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.sync = client
        config = client.config
        self._config = config
        self._limiter = limiter or RateLimiter(config.ip_limit, config.endpoint_limit)
        self._clock: Clock = clock or _SystemClock()

    async def _run(self, endpoint: str, fn: Callable[..., _T], *args: Any) -> _T:
        rate_limited = transient = 0
        while True:
            await self._limiter.acquire(endpoint)
            try:
                return await trio.to_thread.run_sync(fn, *args)
            except RateLimited as e:
                rate_limited += 1
                if rate_limited > self._config.rate_limit_retries:
                    msg = f"{e} (gave up after {rate_limited} attempts)"
                    raise DataError(msg) from e
                delay = self._rate_limit_delay(e.reset_at, rate_limited)
                self._limiter.pause(delay)
            except TransientError as e:
                transient += 1
                if transient > self._config.transient_retries:
                    msg = f"{e} (gave up after {transient} attempts)"
                    raise DataError(msg) from e
                await trio.sleep(self._backoff(transient))

    def _backoff(self, attempt: int) -> float:
        return min(self._config.backoff * 2.0 ** (attempt - 1), self._config.max_backoff)

    def _rate_limit_delay(self, reset_at: datetime | None, attempt: int) -> float:
        seconds = (reset_at - self._clock.now()).total_seconds() if reset_at else 0.0
        if seconds <= 0:  # no reset time, or one already past (clock skew): back off on our own
            return self._backoff(attempt)
        return min(seconds, self._config.max_backoff)

    async def instruments(self, category: str) -> list[Instrument]:
        """Every instrument of ``category`` (paged through the cursor)."""
        found, cursor = await self._run(Endpoint.INSTRUMENTS, self.sync.instrument_page, category)
        while cursor is not None:
            page, cursor = await self._run(Endpoint.INSTRUMENTS, self.sync.instrument_page, category, cursor)
            found.extend(page)
        return found

    async def tickers(self, category: str, symbol: str | None = None) -> list[Ticker24h]:
        """24-hour tickers of ``category`` (or one symbol)."""
        return await self._run(Endpoint.TICKERS, self.sync.tickers, category, symbol)

    async def klines(
        self,
        category: str,
        symbol: str,
        timeframe: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> list[Candle]:
        """As ``BybitPublicClient.klines``, each page through the limiter."""
        pager = KlinePager(start, end, limit, self._config.kline_page_size)
        while (window := pager.window()) is not None:
            page = await self._run(Endpoint.KLINE, self.sync.kline_page, category, symbol, timeframe, *window)
            pager.add(page)
        return pager.candles()

    async def server_time(self) -> datetime:
        """The exchange's clock."""
        return await self._run(Endpoint.TIME, self.sync.server_time)
