"""Pure translation of Bybit payloads into domain values."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.adapters.feeds.bybit.parsing import (
    KlinePager,
    bybit_interval,
    datetime_to_ms,
    ms_to_datetime,
    parse_instrument,
    parse_kline_message,
    parse_kline_rows,
)
from app.domain.values import Candle
from app.ports.errors import DataError
from tests.support.fake_bybit import documented


@pytest.mark.parametrize(
    ("timeframe", "code"),
    [
        ("1m", "1"),
        ("5m", "5"),
        ("15m", "15"),
        ("1h", "60"),
        ("60m", "60"),
        ("4h", "240"),
        ("1d", "D"),
        ("1w", "W"),
    ],
)
def test_timeframes_map_to_bybit_interval_codes(timeframe: str, code: str) -> None:
    assert bybit_interval(timeframe) == code


def test_a_bar_length_bybit_lacks_is_a_data_error_listing_the_choices() -> None:
    with pytest.raises(DataError, match=r"no 7m klines.*1m, 3m, 5m"):
        bybit_interval("7m")


def test_milliseconds_round_trip_through_utc_datetimes() -> None:
    moment = datetime(2024, 1, 8, 12, 0, 0, 123000, tzinfo=UTC)
    assert ms_to_datetime(datetime_to_ms(moment)) == moment


def test_the_documented_kline_push_parses_as_an_unconfirmed_five_minute_bar() -> None:
    message = documented("websocket_public__kline")[0]

    [update] = parse_kline_message(message)

    assert not update.confirmed
    candle = update.candle
    assert (candle.symbol, candle.timeframe, candle.ts) == ("BTCUSDT", "5m", ms_to_datetime(1672324800000))
    assert (candle.open, candle.high, candle.low, candle.close, candle.volume) == (
        16649.5,
        16677.0,
        16608.0,
        16677.0,
        2.081,
    )


def test_a_stream_bar_with_a_non_numeric_price_is_a_data_error_naming_the_topic() -> None:
    message = documented("websocket_public__kline")[0]
    message["data"][0]["close"] = "n/a"

    with pytest.raises(DataError, match=r"kline\.5\.BTCUSDT"):
        parse_kline_message(message)


def test_an_instrument_without_a_tick_size_is_a_data_error_naming_symbol_and_field() -> None:
    item = documented("market__instrument")[0]["result"]["list"][0]
    del item["priceFilter"]["tickSize"]

    with pytest.raises(DataError, match=r"linear instrument BTCUSDT: missing field 'tickSize'"):
        parse_instrument("linear", item)


def test_spot_lot_step_comes_from_base_precision_and_min_notional_from_min_order_amount() -> None:
    spot = next(e for e in documented("market__instrument") if e["result"]["category"] == "spot")

    instrument = parse_instrument("spot", spot["result"]["list"][0])

    assert (instrument.lot_step, instrument.min_notional) == (Decimal("0.000001"), Decimal(5))


_ROW = st.integers(min_value=0, max_value=10_000).map(
    lambda i: [str(1_700_000_000_000 + i * 60_000), "1", "2", "0.5", "1.5", "10", "15"]
)


@given(st.lists(_ROW, unique_by=lambda row: row[0], max_size=50))
def test_kline_rows_come_out_oldest_first_whatever_order_they_came_in(rows: list[list[str]]) -> None:
    candles = parse_kline_rows("BTCUSDT", "1m", rows)

    assert [c.ts for c in candles] == sorted(ms_to_datetime(row[0]) for row in rows)


def _page(first_minute: int, count: int) -> list[Candle]:
    rows = [[str((first_minute + i) * 60_000), "1", "1", "1", "1", "1", "1"] for i in range(count)]
    return parse_kline_rows("X", "1m", rows)


def test_a_full_page_is_followed_by_one_ending_just_before_its_oldest_bar() -> None:
    pager = KlinePager(ms_to_datetime(0), None, None, page_size=3)

    pager.add(_page(10, 3))

    assert pager.window() == (0, 10 * 60_000 - 1)


def test_a_short_page_ends_the_walk() -> None:
    pager = KlinePager(ms_to_datetime(0), None, None, page_size=3)

    pager.add(_page(10, 2))

    assert pager.window() is None


def test_a_page_reaching_the_start_ends_the_walk() -> None:
    pager = KlinePager(ms_to_datetime(10 * 60_000), None, None, page_size=3)

    pager.add(_page(10, 3))

    assert pager.window() is None


def test_without_start_or_limit_one_page_is_all() -> None:
    pager = KlinePager(None, None, None, page_size=3)

    pager.add(_page(10, 3))

    assert pager.window() is None


def test_a_limit_keeps_walking_until_enough_then_keeps_the_newest() -> None:
    pager = KlinePager(None, None, 4, page_size=3)

    pager.add(_page(10, 3))
    assert pager.window() == (None, 10 * 60_000 - 1)
    pager.add(_page(7, 3))

    assert pager.window() is None
    assert [c.ts for c in pager.candles()] == [ms_to_datetime(m * 60_000) for m in (9, 10, 11, 12)]
