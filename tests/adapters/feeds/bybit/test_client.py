"""The synchronous REST client, with real pybit against the loopback fake."""

from __future__ import annotations

import socket
import time
from datetime import timedelta
from decimal import Decimal

import pytest

from app.adapters.feeds.bybit import BybitClientConfig, BybitPublicClient, RateLimited, TransientError
from app.adapters.feeds.bybit.parsing import ms_to_datetime
from app.domain.values import Asset
from app.ports.errors import BrokerUnavailable, DataError
from tests.adapters.feeds.bybit.conftest import T0, make_client
from tests.support.fake_bybit import Delay, DropConnection, FakeBybit, HttpStatus, RateLimit, documented

KLINE = "/v5/market/kline"


def _documented_list(name: str, category: str) -> list[dict]:
    return [
        item for e in documented(name) if e["result"]["category"] == category for item in e["result"]["list"]
    ]


def test_linear_instruments_carry_the_documented_tick_lot_and_minimums(fake: FakeBybit) -> None:
    instruments = make_client(fake).instruments("linear")

    expected = [
        (
            item["symbol"],
            Decimal(item["priceFilter"]["tickSize"]),
            Decimal(item["lotSizeFilter"]["qtyStep"]),
            Decimal(item["lotSizeFilter"]["minOrderQty"]),
            Decimal(item["lotSizeFilter"]["minNotionalValue"]),
        )
        for item in _documented_list("market__instrument", "linear")
    ]
    assert [(i.symbol, i.tick_size, i.lot_step, i.min_qty, i.min_notional) for i in instruments] == expected
    assert {i.asset for i in instruments} == {Asset.FUTURES}


def test_instruments_follow_the_cursor_across_pages(fake: FakeBybit) -> None:
    client = make_client(fake, instruments_page_size=1)

    symbols = [i.symbol for i in client.instruments("linear")]

    assert symbols == ["BTCUSDT", "BIOUSDT"]
    assert len(fake.requests_to("/v5/market/instruments-info")) == 2


def test_option_instruments_have_no_minimum_notional(fake: FakeBybit) -> None:
    [option] = make_client(fake).instruments("option")

    assert (option.asset, option.tick_size, option.min_notional) == (Asset.OPTIONS, Decimal(5), Decimal(0))


def test_spot_tickers_carry_the_documented_last_price_turnover_and_volume(fake: FakeBybit) -> None:
    [documented_ticker] = _documented_list("market__tickers", "spot")

    [ticker] = make_client(fake).tickers("spot")

    assert (ticker.symbol, ticker.last, ticker.turnover_24h, ticker.volume_24h) == (
        documented_ticker["symbol"],
        float(documented_ticker["lastPrice"]),
        float(documented_ticker["turnover24h"]),
        float(documented_ticker["volume24h"]),
    )
    assert ticker.ts == fake.now


def test_klines_equal_the_documented_rows_oldest_first(fake: FakeBybit) -> None:
    rows = documented("market__kline")[0]["result"]["list"]

    candles = make_client(fake).klines(
        "inverse", "BTCUSD", "1h", ms_to_datetime(rows[-1][0]), ms_to_datetime(rows[0][0])
    )

    assert [(c.ts, c.open, c.high, c.low, c.close, c.volume) for c in candles] == [
        (ms_to_datetime(r[0]), *(float(v) for v in r[1:6])) for r in reversed(rows)
    ]
    assert {c.timeframe for c in candles} == {"1h"}


def test_klines_page_backwards_until_the_start_without_gaps_or_doubles(fake: FakeBybit) -> None:
    series = fake.add_klines("spot", "BTCUSDT", "1", start=T0 - timedelta(minutes=2500))

    candles = make_client(fake).klines("spot", "BTCUSDT", "1m", T0 - timedelta(minutes=2500), T0)

    assert len(fake.requests_to(KLINE)) == 3
    assert [c.ts for c in candles] == [T0 - timedelta(minutes=2500 - i) for i in range(2501)]
    assert candles[0].close == float(series.bar(0)[4])


def test_klines_without_a_start_are_the_latest_page(fake: FakeBybit) -> None:
    fake.add_klines("spot", "BTCUSDT", "1", start=T0 - timedelta(minutes=50))

    candles = make_client(fake, kline_page_size=10).klines("spot", "BTCUSDT", "1m")

    assert [c.ts for c in candles] == [T0 - timedelta(minutes=9 - i) for i in range(10)]
    assert len(fake.requests_to(KLINE)) == 1


def test_a_limit_beyond_one_page_reaches_back_for_the_newest_bars(fake: FakeBybit) -> None:
    fake.add_klines("spot", "BTCUSDT", "1", start=T0 - timedelta(minutes=3000))

    candles = make_client(fake).klines("spot", "BTCUSDT", "1m", limit=1500)

    assert [c.ts for c in candles] == [T0 - timedelta(minutes=1499 - i) for i in range(1500)]
    assert len(fake.requests_to(KLINE)) == 2


def test_server_time_is_the_exchange_clock(fake: FakeBybit) -> None:
    assert make_client(fake).server_time() == T0


def test_a_refused_request_is_a_data_error_naming_the_ret_code(fake: FakeBybit) -> None:
    with pytest.raises(DataError, match=r"retCode 10001.*NOPE"):
        make_client(fake).klines("spot", "NOPE", "1m")


def test_rate_limit_is_raised_at_once_with_the_documented_reset_time(fake: FakeBybit) -> None:
    fake.inject(KLINE, RateLimit(reset_in_ms=5000))
    fake.add_klines("spot", "BTCUSDT", "1", start=T0)
    began = time.monotonic()

    with pytest.raises(RateLimited) as caught:
        make_client(fake).klines("spot", "BTCUSDT", "1m")

    assert time.monotonic() - began < 2.5, "pybit must not sleep until the reset"
    assert caught.value.reset_at == T0 + timedelta(seconds=5)
    assert len(fake.requests_to(KLINE)) == 1


def test_a_server_error_is_transient_and_names_the_status(fake: FakeBybit) -> None:
    fake.inject("/v5/market/time", HttpStatus(503))

    with pytest.raises(TransientError, match=r"/v5/market/time: server error HTTP 503"):
        make_client(fake).server_time()


def test_http_429_counts_as_a_rate_limit(fake: FakeBybit) -> None:
    fake.inject("/v5/market/time", HttpStatus(429))

    with pytest.raises(RateLimited, match="HTTP 429"):
        make_client(fake).server_time()


def test_an_answer_that_is_not_json_is_transient(fake: FakeBybit) -> None:
    fake.inject("/v5/market/time", HttpStatus(200))  # the fake's error page, with status 200

    with pytest.raises(TransientError, match="not JSON"):
        make_client(fake).server_time()


def test_an_answer_slower_than_the_timeout_is_transient(fake: FakeBybit) -> None:
    fake.inject("/v5/market/time", Delay(5.0))

    with pytest.raises(TransientError, match=r"no answer within 0.2s"):
        make_client(fake, timeout=0.2).server_time()


def test_a_dropped_connection_means_bybit_is_unavailable(fake: FakeBybit) -> None:
    fake.inject("/v5/market/time", DropConnection())

    with pytest.raises(BrokerUnavailable, match="cannot reach bybit"):
        make_client(fake).server_time()


def test_a_closed_port_means_bybit_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = BybitPublicClient(BybitClientConfig(endpoint=f"http://127.0.0.1:{port}", timeout=1.0))

    with pytest.raises(BrokerUnavailable, match=f"127.0.0.1:{port}"):
        client.server_time()
