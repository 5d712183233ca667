"""The loopback fake itself, as the live-broker work will use it: documented routes and private pushes."""

from __future__ import annotations

import queue
from typing import Any

import pybit.unified_trading
import pytest
from pybit.unified_trading import HTTP, WebSocket

from tests.support.fake_bybit import FakeBybit, documented


def test_a_documented_route_answers_with_the_documented_result(fake: FakeBybit) -> None:
    fake.documented_route("GET", "/v5/market/orderbook", "market__orderbook")
    session = HTTP()
    session.endpoint = fake.rest_url

    body = session.get_orderbook(category="spot", symbol="BTCUSDT")

    assert body["result"] == documented("market__orderbook")[0]["result"]
    assert fake.requests_to("/v5/market/orderbook")[0].params == {"category": "spot", "symbol": "BTCUSDT"}


def test_a_private_stream_authenticates_and_receives_pushed_documented_messages(
    fake: FakeBybit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pybit.unified_trading, "PRIVATE_WSS", fake.private_wss)
    received: queue.Queue[dict[str, Any]] = queue.Queue()
    [message] = documented("websocket_private__order", "stream_examples")
    socket = WebSocket(
        channel_type="private",
        testnet=False,
        api_key="key",
        api_secret="not-a-secret",  # noqa: S106 - the fake accepts any signature
    )
    try:
        socket.order_stream(callback=received.put)
        fake.wait_for_subscription("order")

        assert fake.push("private", message) == 1
        assert received.get(timeout=5) == message
    finally:
        socket.exit()
