"""The trio client: our own rate limiting and bounded retries, waiting on trio's clock only."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import pytest
import trio
import trio.testing

from app.adapters.feeds.bybit import RateLimit as Bucket
from app.ports.errors import DataError
from tests.adapters.feeds.bybit.conftest import T0, make_async_client
from tests.support.fake_bybit import ApiError, Delay, FakeBybit, FakeRequest, HttpStatus, RateLimit

T = TypeVar("T")
KLINE = "/v5/market/kline"
TIME = "/v5/market/time"


def run_on_mock_clock(scenario: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    """Run ``scenario`` under an autojumping MockClock; returns its result and the virtual seconds spent."""

    async def timed() -> tuple[T, float]:
        began = trio.current_time()
        result = await scenario()
        return result, trio.current_time() - began

    return trio.run(timed, clock=trio.testing.MockClock(autojump_threshold=0))


def test_a_rate_limit_answer_waits_until_the_documented_reset_then_retries(fake: FakeBybit) -> None:
    fake.add_klines("spot", "BTCUSDT", "1", start=T0 - timedelta(minutes=5))
    fake.inject(KLINE, RateLimit(reset_in_ms=3000))
    client = make_async_client(fake)
    began = time.monotonic()

    candles, waited = run_on_mock_clock(lambda: client.klines("spot", "BTCUSDT", "1m"))

    assert len(candles) == 6
    assert waited == pytest.approx(3.0, abs=0.01)
    assert time.monotonic() - began < 2.0, "the wait must be trio's, not a sleeping thread"
    assert len(fake.requests_to(KLINE)) == 2


def test_a_rate_limit_whose_reset_time_has_passed_backs_off_exponentially(fake: FakeBybit) -> None:
    @fake.route("GET", TIME)
    def limited_twice(_request: FakeRequest) -> dict[str, str]:
        if len(fake.requests_to(TIME)) <= 2:
            raise ApiError(10006, "Too many visits.")  # headers say the limit resets now
        return {"timeSecond": "0", "timeNano": "0"}

    client = make_async_client(fake, backoff=0.5)

    _, waited = run_on_mock_clock(client.server_time)

    assert waited == pytest.approx(0.5 + 1.0, abs=0.01)


def test_rate_limits_beyond_the_retry_budget_are_a_data_error(fake: FakeBybit) -> None:
    fake.inject(TIME, RateLimit(reset_in_ms=1000), times=3)
    client = make_async_client(fake, rate_limit_retries=2)

    with pytest.raises(DataError, match=r"rate limited \(10006\).*gave up after 3 attempts"):
        run_on_mock_clock(client.server_time)


def test_one_server_error_is_retried_and_the_answer_returned(fake: FakeBybit) -> None:
    fake.inject(TIME, HttpStatus(502))
    client = make_async_client(fake)

    now, _ = run_on_mock_clock(client.server_time)

    assert now == T0
    assert len(fake.requests_to(TIME)) == 2


def test_persistent_server_errors_end_in_a_data_error_after_bounded_retries(fake: FakeBybit) -> None:
    fake.inject(TIME, HttpStatus(503), times=10)
    client = make_async_client(fake, transient_retries=2)

    with pytest.raises(DataError, match=r"server error HTTP 503 \(gave up after 3 attempts\)"):
        run_on_mock_clock(client.server_time)
    assert len(fake.requests_to(TIME)) == 3


def test_persistent_timeouts_end_in_a_data_error_after_bounded_retries(fake: FakeBybit) -> None:
    fake.inject(TIME, Delay(5.0), times=10)
    client = make_async_client(fake, timeout=0.2, transient_retries=1)

    with pytest.raises(DataError, match=r"no answer within 0.2s \(gave up after 2 attempts\)"):
        run_on_mock_clock(client.server_time)


def test_the_endpoint_bucket_paces_a_burst_to_its_rate(fake: FakeBybit) -> None:
    client = make_async_client(fake, endpoint_limit=Bucket(5, 1.0))

    async def fifteen_calls() -> None:
        for _ in range(15):
            await client.server_time()

    _, waited = run_on_mock_clock(fifteen_calls)

    assert waited == pytest.approx(2.0, abs=0.01)  # 5 at once, then 10 more at 5 a second


def test_the_ip_bucket_is_shared_by_every_endpoint(fake: FakeBybit) -> None:
    client = make_async_client(fake, ip_limit=Bucket(2, 1.0), endpoint_limit=Bucket(100, 1.0))

    async def mixed_calls() -> None:
        for _ in range(3):
            await client.server_time()
            await client.tickers("spot")

    _, waited = run_on_mock_clock(mixed_calls)

    assert waited == pytest.approx(2.0, abs=0.01)  # 2 at once, then 4 more at 2 a second
