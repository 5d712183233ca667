from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from app.domain.positions import apply_fill, book_funding
from app.domain.values import Asset, Fill, Side

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def fill(side: Side, qty: str, price: str, fee: str = "0", minutes: int = 0, fid: str = "f") -> Fill:
    return Fill(
        fill_id=f"{fid}{minutes}",
        client_order_id="c",
        asset=Asset.SPOT,
        symbol="BTCUSDT",
        side=side,
        qty=D(qty),
        price=D(price),
        fee=D(fee),
        fee_currency="USDT",
        ts=T0 + timedelta(minutes=minutes),
    )


def test_a_fill_on_a_flat_book_opens_a_position_at_its_price():
    change = apply_fill(None, fill(Side.BUY, "2", "100", fee="0.2"), strategy_id="s1")

    assert change.position is not None
    assert change.position.qty == D("2")
    assert change.position.avg_price == D("100")
    assert change.position.entry_fees == D("0.2")
    assert change.closed is None


def test_adding_to_a_position_averages_its_price():
    opened = apply_fill(None, fill(Side.BUY, "1", "100")).position
    grown = apply_fill(opened, fill(Side.BUY, "3", "120", minutes=1)).position

    # (1 x 100 + 3 x 120) / 4 = 115
    assert grown is not None
    assert grown.qty == D("4")
    assert grown.avg_price == D("115")


def test_closing_a_long_books_price_pnl_net_of_both_fees():
    opened = apply_fill(None, fill(Side.BUY, "2", "100", fee="0.2"), strategy_id="s1").position
    change = apply_fill(opened, fill(Side.SELL, "2", "110", fee="0.22", minutes=5), exit_reason="stop_loss")

    # (110 - 100) x 2 = 20 gross; fees 0.2 + 0.22 = 0.42; net 19.58
    assert change.position is None
    assert change.closed is not None
    assert change.closed.pnl == D("19.58")
    assert change.closed.fees == D("0.42")
    assert change.closed.exit_reason == "stop_loss"
    assert change.closed.strategy_id == "s1"


def test_a_partial_close_keeps_the_rest_with_its_share_of_entry_fees():
    opened = apply_fill(None, fill(Side.BUY, "4", "100", fee="0.4")).position
    change = apply_fill(opened, fill(Side.SELL, "1", "90", fee="0.09", minutes=1))

    # closed 1 of 4: entry fee share 0.1; (90 - 100) x 1 - 0.1 - 0.09 = -10.19
    assert change.closed is not None
    assert change.closed.pnl == D("-10.19")
    assert change.position is not None
    assert change.position.qty == D("3")
    assert change.position.entry_fees == D("0.3")


def test_a_short_profits_when_price_falls():
    opened = apply_fill(None, fill(Side.SELL, "1", "100")).position
    change = apply_fill(opened, fill(Side.BUY, "1", "80", minutes=1))

    assert change.closed is not None
    assert change.closed.pnl == D("20")
    assert change.closed.side is Side.SELL


def test_a_fill_larger_than_the_position_flips_it():
    opened = apply_fill(None, fill(Side.BUY, "1", "100")).position
    change = apply_fill(opened, fill(Side.SELL, "3", "105", minutes=1))

    assert change.closed is not None
    assert change.closed.qty == D("1")
    assert change.position is not None
    assert change.position.qty == D("-2")
    assert change.position.avg_price == D("105")


# -- perpetual funding: carried by the position, taken by the trade that closes it ----------------------


def test_funding_settled_on_a_position_accumulates_signed_like_pnl():
    opened = apply_fill(None, fill(Side.BUY, "10", "100")).position
    assert opened is not None

    paid_then_received = book_funding(book_funding(opened, D("1.5")), D("-0.25"))

    assert opened.funding == D(0)
    assert paid_then_received.funding == D("-1.25")  # paid 1.5, received 0.25
    assert (paid_then_received.qty, paid_then_received.avg_price) == (opened.qty, opened.avg_price)


def test_a_whole_close_takes_all_the_funding_into_the_trade_and_its_pnl():
    opened = apply_fill(None, fill(Side.BUY, "2", "100", fee="0.2")).position
    assert opened is not None
    change = apply_fill(book_funding(opened, D("0.3")), fill(Side.SELL, "2", "110", fee="0.22", minutes=5))

    # 20 gross - 0.42 fees - 0.3 funding paid
    assert change.position is None
    assert change.closed is not None
    assert change.closed.funding == D("-0.3")
    assert change.closed.pnl == D("19.28")
    assert change.closed.price_pnl == D("20")


def test_a_partial_close_takes_its_share_of_the_funding_as_of_the_entry_fees():
    opened = apply_fill(None, fill(Side.BUY, "4", "100", fee="0.4")).position
    assert opened is not None
    change = apply_fill(book_funding(opened, D("-2")), fill(Side.SELL, "1", "90", fee="0.09", minutes=1))

    # closed 1 of 4: fee share 0.1, funding share 0.5 received; (90 - 100) x 1 - 0.1 - 0.09 + 0.5 = -9.69
    assert change.closed is not None
    assert (change.closed.funding, change.closed.fees, change.closed.pnl) == (D("0.5"), D("0.19"), D("-9.69"))
    assert change.position is not None
    assert (change.position.qty, change.position.entry_fees, change.position.funding) == (
        D("3"),
        D("0.3"),
        D("1.5"),
    )


def test_adding_to_a_position_keeps_its_funding_for_the_whole_of_it():
    opened = apply_fill(None, fill(Side.BUY, "1", "100")).position
    assert opened is not None
    grown = apply_fill(book_funding(opened, D("1")), fill(Side.BUY, "1", "100", minutes=1)).position
    assert grown is not None
    change = apply_fill(grown, fill(Side.SELL, "1", "100", minutes=2))

    assert grown.funding == D("-1")
    assert change.closed is not None
    assert change.closed.funding == D("-0.5")  # half the position closed: half its funding
    assert change.position is not None
    assert change.position.funding == D("-0.5")


def test_a_flip_closes_the_position_with_all_its_funding_and_opens_the_rest_without_any():
    opened = apply_fill(None, fill(Side.BUY, "1", "100")).position
    assert opened is not None
    change = apply_fill(book_funding(opened, D("0.7")), fill(Side.SELL, "3", "105", minutes=1))

    assert change.closed is not None
    assert (change.closed.funding, change.closed.pnl) == (D("-0.7"), D("4.3"))
    assert change.position is not None
    assert (change.position.qty, change.position.funding) == (D("-2"), D(0))
