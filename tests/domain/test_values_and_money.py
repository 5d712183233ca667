from datetime import timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.ids import CLIENT_ID_MAX_LEN, is_valid_client_order_id, make_client_order_id
from app.domain.money import quantize_down, quantize_nearest, to_decimal
from app.domain.symbols import split_symbol
from app.domain.timeframes import format_timeframe, parse_timeframe
from app.domain.values import Asset, Instrument

steps = st.sampled_from([D("1"), D("0.1"), D("0.01"), D("0.001"), D("0.00001"), D("5"), D("0.25")])
amounts = st.decimals(min_value=0, max_value=10**9, places=8, allow_nan=False, allow_infinity=False)


@given(amounts, steps)
def test_quantize_down_gives_a_multiple_of_the_step_never_above_the_value(value, step):
    result = quantize_down(value, step)

    assert result <= value
    assert value - result < step
    assert (result / step) == (result / step).to_integral_value()


def test_quantize_nearest_rounds_half_away_from_zero():
    assert quantize_nearest(D("1.05"), D("0.1")) == D("1.1")
    assert quantize_nearest(D("1.04"), D("0.1")) == D("1.0")


def test_a_zero_step_is_a_programming_error():
    with pytest.raises(ValueError, match="step must be positive"):
        quantize_down(D(1), D(0))


def test_to_decimal_uses_the_shortest_repr_of_a_float():
    assert to_decimal(0.1) == D("0.1")
    assert to_decimal(0.08945) == D("0.08945")


def test_instrument_rounds_sizes_down_and_prices_to_the_tick():
    inst = Instrument("BTCUSDT", Asset.SPOT, "BTC", "USDT", D("0.5"), D("0.001"), D("0.001"))

    assert inst.round_qty(D("1.23456")) == D("1.234")
    assert inst.round_price(D("100.26")) == D("100.5")


@given(st.text(min_size=0, max_size=80), st.integers(min_value=0, max_value=10**8 - 1))
def test_client_order_ids_are_always_valid(strategy_id, seq):
    cid = make_client_order_id(strategy_id, seq)

    assert len(cid) <= CLIENT_ID_MAX_LEN
    assert is_valid_client_order_id(cid)


def test_client_order_ids_differ_by_sequence():
    assert make_client_order_id("sma-cross-demo", 1) == "sma-cross-demo-00000001"
    assert make_client_order_id("sma-cross-demo", 1) != make_client_order_id("sma-cross-demo", 2)


@pytest.mark.parametrize(
    ("text", "minutes"), [("1m", 1), ("5m", 5), ("1h", 60), ("4h", 240), ("1d", 1440), ("1w", 10080)]
)
def test_timeframes_round_trip(text, minutes):
    assert parse_timeframe(text) == timedelta(minutes=minutes)
    assert format_timeframe(timedelta(minutes=minutes)) == text


@pytest.mark.parametrize("bad", ["", "5", "m", "0m", "5x", "-1m"])
def test_bad_timeframes_are_refused_with_the_text(bad):
    with pytest.raises(ValueError, match="invalid timeframe"):
        parse_timeframe(bad)


@pytest.mark.parametrize(
    ("symbol", "pair"),
    [
        ("ETHBTC", ("ETH", "BTC")),
        ("BTCUSDT", ("BTC", "USDT")),
        ("EURUSD", ("EUR", "USD")),
        ("BTC/USDT", ("BTC", "USDT")),
        ("GOOGL", ("GOOGL", "USD")),
    ],
)
def test_split_symbol(symbol, pair):
    assert split_symbol(symbol) == pair
