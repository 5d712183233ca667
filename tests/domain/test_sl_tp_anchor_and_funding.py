"""The values behind two promises: an entry's SL/TP follow its fill as the backtester places them
(``SlTpAnchor``), and a funding settlement has one id however often a venue reports it (``FundingPayment``)."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.values import Asset, FundingPayment, SlTpAnchor, same_currency

prices = st.decimals(min_value=D("0.0001"), max_value=D(100_000), places=8)
shares = st.sampled_from([D("0.003"), D("0.015"), D("0.02"), D("0.05"), D("0.0625")])


def test_a_distance_level_keeps_its_distance_in_price_units():
    anchor = SlTpAnchor(D("1.2067"))  # a short at the signal close: an ATR stop 0.0064 above, a target below

    stop, target = anchor.levels(D("1.2131"), D("1.1900"), D("1.2064"))

    assert (stop, target) == (D("1.2128"), D("1.1897"))


def test_a_relative_level_keeps_its_share_of_the_price():
    anchor = SlTpAnchor(D(100), stop_loss_relative=True, take_profit_relative=True)

    assert anchor.levels(D(98), D(106), D(110)) == (D("107.8"), D("116.6"))


@given(prices, prices, shares, st.sampled_from([-1, 1]))
def test_a_pct_level_moved_to_the_fill_equals_the_level_computed_at_the_fill(reference, fill, share, sign):
    """Exactly the backtester's ``fill + direction x fill x pct``, so both round to the same tick."""
    level = reference + reference * share * sign

    moved = SlTpAnchor(reference, stop_loss_relative=True).move(level, True, fill)

    assert moved == fill + fill * share * sign


def test_only_the_levels_given_move():
    assert SlTpAnchor(D(100)).levels(None, D(105), D(101)) == (None, D(106))
    assert SlTpAnchor(D(100)).levels(None, None, D(101)) == (None, None)


@pytest.mark.parametrize("reference", [D(0), D(-1)])
def test_an_anchor_needs_a_positive_reference_price(reference):
    with pytest.raises(ValueError, match="reference_price must be a positive price"):
        SlTpAnchor(reference)


def payment(ts: datetime, amount: str = "0.5") -> FundingPayment:
    return FundingPayment(Asset.FUTURES, "XRPUSDT", ts, D("0.0001"), D("1.1"), D(1000), D(amount), "USDT")


def test_a_funding_payment_is_identified_by_its_symbol_and_time_in_utc():
    utc = payment(datetime(2021, 11, 18, tzinfo=UTC))
    elsewhere = payment(datetime(2021, 11, 18, 2, tzinfo=timezone(timedelta(hours=2))), amount="0.7")

    assert utc.funding_id == "XRPUSDT@2021-11-18T00:00:00+00:00"
    assert elsewhere.funding_id == utc.funding_id  # the same settlement, however the time is written
    assert payment(datetime(2021, 11, 18, 8, tzinfo=UTC)).funding_id != utc.funding_id


def test_the_dollar_and_its_stablecoins_count_one_for_one():
    assert same_currency("USDT", "USD")
    assert same_currency("USD", "USDC")
    assert same_currency("BTC", "BTC")
    assert not same_currency("BTC", "USD")
    assert not same_currency("EUR", "USD")
