"""Fixtures: a started loopback Bybit, and real pybit pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pybit.unified_trading
import pytest

from app.adapters.feeds.bybit import AsyncBybitPublicClient, BybitClientConfig, BybitPublicClient
from tests.support.fake_bybit import FakeBybit

T0 = datetime(2024, 1, 8, 12, 0, tzinfo=UTC)
"""The fake exchange's clock at the start of each test (a bar boundary for every interval)."""


class FixedClock:
    """The adapter's wall clock pinned to the fake exchange's time, so waits are exact."""

    def __init__(self, fake: FakeBybit) -> None:
        self._fake = fake

    def now(self) -> datetime:
        return self._fake.now


@pytest.fixture
def fake() -> Iterator[FakeBybit]:
    with FakeBybit(now=T0) as server:
        yield server


@pytest.fixture
def streams(fake: FakeBybit, monkeypatch: pytest.MonkeyPatch) -> FakeBybit:
    """pybit's public WebSocket URL template pointed at the fake (pybit reads it when connecting)."""
    monkeypatch.setattr(pybit.unified_trading, "PUBLIC_WSS", fake.public_wss)
    return fake


def make_client(fake: FakeBybit, **settings: Any) -> BybitPublicClient:
    return BybitPublicClient(BybitClientConfig(endpoint=fake.rest_url, **settings))


def make_async_client(fake: FakeBybit, **settings: Any) -> AsyncBybitPublicClient:
    return AsyncBybitPublicClient(make_client(fake, **settings), clock=FixedClock(fake))
