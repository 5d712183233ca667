from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from itertools import pairwise

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.errors import InvalidTransition
from app.domain.orders import TRANSITIONS, FillMismatch, apply_fill, can_transition, transition
from app.domain.values import Asset, Fill, Order, OrderStatus, OrderType, Side

S = OrderStatus
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def order(status=S.SUBMITTED, qty="2"):
    return Order("c-1", "s1", Asset.SPOT, "BTCUSDT", Side.BUY, D(qty), OrderType.MARKET, status, T0, T0)


def fill(fill_id, qty, price, fee="0", minutes=1, client_order_id="c-1"):
    return Fill(
        fill_id,
        client_order_id,
        Asset.SPOT,
        "BTCUSDT",
        Side.BUY,
        D(qty),
        D(price),
        D(fee),
        "USDT",
        T0 + timedelta(minutes=minutes),
    )


# --- the table --------------------------------------------------------------------------------------


def test_terminal_states_lead_nowhere():
    for status in S:
        assert (TRANSITIONS[status] == frozenset()) == status.is_terminal


def test_every_state_has_a_row_in_the_table():
    assert set(TRANSITIONS) == set(S)


def test_the_happy_path_is_allowed():
    path = [S.NEW, S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED]

    assert all(transition(a, b) is b for a, b in pairwise(path))


def test_an_ambiguous_outcome_is_never_a_rejection_before_it_is_settled():
    assert transition(S.SUBMITTED, S.IN_FLIGHT_UNKNOWN) is S.IN_FLIGHT_UNKNOWN
    assert transition(S.IN_FLIGHT_UNKNOWN, S.FILLED) is S.FILLED


def test_a_filled_order_cannot_be_cancelled():
    with pytest.raises(InvalidTransition, match="filled to cancelled"):
        transition(S.FILLED, S.CANCELLED)


@settings(max_examples=300)
@given(st.sampled_from(list(S)), st.sampled_from(list(S)))
def test_transition_follows_the_table_exactly(current, target):
    allowed = current == target or target in TRANSITIONS[current]

    assert can_transition(current, target) == allowed
    if not allowed:
        with pytest.raises(InvalidTransition):
            transition(current, target)


# --- fills, idempotent by fill id -------------------------------------------------------------------


def test_a_partial_fill_moves_quantity_price_fee_and_status():
    outcome = apply_fill(order(), fill("f1", "0.5", "100", "0.05"), frozenset())

    assert outcome.applied
    assert outcome.order.status is S.PARTIALLY_FILLED
    assert (outcome.order.filled_qty, outcome.order.avg_price, outcome.order.fee) == (
        D("0.5"),
        D(100),
        D("0.05"),
    )
    assert outcome.seen_fill_ids == {"f1"}


def test_the_average_price_is_volume_weighted():
    # 0.5 at 100 + 1.5 at 104 = 50 + 156 = 206 for 2 units -> 103
    first = apply_fill(order(), fill("f1", "0.5", "100", "0.05"), frozenset())
    second = apply_fill(first.order, fill("f2", "1.5", "104", "0.15", minutes=2), first.seen_fill_ids)

    assert second.order.status is S.FILLED
    assert (second.order.avg_price, second.order.fee) == (D(103), D("0.20"))
    assert second.order.updated_at == T0 + timedelta(minutes=2)


def test_a_fill_seen_before_changes_nothing():
    first = apply_fill(order(), fill("f1", "0.5", "100"), frozenset())

    again = apply_fill(first.order, fill("f1", "0.5", "100"), first.seen_fill_ids)

    assert not again.applied
    assert again.order == first.order


def test_a_fill_for_a_new_order_passes_through_submitted():
    assert apply_fill(order(S.NEW), fill("f1", "2", "100"), frozenset()).order.status is S.FILLED


def test_a_fill_for_another_order_is_refused():
    with pytest.raises(FillMismatch, match="does not belong"):
        apply_fill(order(), fill("f1", "1", "100", client_order_id="c-2"), frozenset())


def test_an_overfill_is_refused():
    with pytest.raises(FillMismatch, match="would fill 3"):
        apply_fill(order(), fill("f1", "3", "100"), frozenset())


def test_a_fill_for_a_cancelled_order_breaks_the_table():
    with pytest.raises(InvalidTransition):
        apply_fill(order(S.CANCELLED), fill("f1", "1", "100"), frozenset())


@settings(max_examples=300)
@given(
    st.lists(st.integers(1, 50), min_size=1, max_size=8),
    st.data(),
)
def test_duplicated_and_reordered_fills_count_once(lots, data):
    # unique fills of the given sizes (in 0.01 units), delivered with duplicates in any order
    fills = [fill(f"f{i}", D(n) / 100, 100 + i, "0.01", minutes=i) for i, n in enumerate(lots)]
    deliveries = data.draw(st.lists(st.sampled_from(fills), min_size=len(fills), max_size=3 * len(fills)))
    deliveries = data.draw(st.permutations(deliveries + fills))
    target = attrs.evolve(order(), qty=sum(f.qty for f in fills))

    current, seen, applied = target, frozenset(), 0
    for f in deliveries:
        outcome = apply_fill(current, f, seen)
        current, seen, applied = outcome.order, outcome.seen_fill_ids, applied + outcome.applied

    assert applied == len(fills)
    assert current.filled_qty == target.qty
    assert current.status is S.FILLED
    assert current.fee == D("0.01") * len(fills)
    paid = sum(f.qty * f.price for f in fills)
    assert abs(current.avg_price * current.filled_qty - paid) < D("1e-20")  # Decimal division keeps 28 digits
