from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.budget import Bucket, Budget, BudgetError, affordable_notional, required_spend
from app.domain.values import Asset

SPOT, FUTURES, FOREX, OPTIONS = Asset.SPOT, Asset.FUTURES, Asset.FOREX, Asset.OPTIONS


def budget(**allocations):
    return Budget.create({Asset(name): D(amount) for name, amount in allocations.items()})


# --- spending: cash for spot and options, margin for futures and forex -------------------------------


def test_spot_spends_the_whole_notional_and_futures_the_margin():
    # 2000 notional: spot pays 2000; futures at 5x post 2000 / 5 = 400
    assert required_spend(SPOT, D(2000)) == D(2000)
    assert required_spend(FUTURES, D(2000), D(5)) == D(400)
    assert affordable_notional(FUTURES, D(400), D(5)) == D(2000)


def test_a_spot_order_within_the_allocation_is_affordable():
    assert budget(spot=1000).can_afford(SPOT, D(800)).allowed


def test_a_spot_order_above_the_allocation_is_denied():
    decision = budget(spot=1000).can_afford(SPOT, D(1200))

    assert decision.code == "insufficient_budget"
    assert "needs 1200 but has 1000" in decision.reason


def test_a_futures_order_is_affordable_when_its_margin_is():
    # 2000 notional at 5x = 400 margin <= 500; at 2x = 1000 margin > 500
    futures = budget(futures=500)

    assert futures.can_afford(FUTURES, D(2000), D(5)).allowed
    assert futures.can_afford(FUTURES, D(2000), D(2)).code == "insufficient_budget"


def test_spot_cannot_use_leverage():
    assert budget(spot=1000).can_afford(SPOT, D(100), D(2)).code == "cash_asset_leverage"


def test_an_asset_without_a_bucket_cannot_spend():
    assert budget(spot=1000).can_afford(FUTURES, D(1), D(1)).code == "no_bucket"


def test_a_bucket_judges_a_spend_against_what_its_positions_use():
    # allocation 1000, 700 used by open positions -> 300 available
    bucket = Bucket(SPOT, D(1000), used=D(700))

    assert bucket.can_afford(D(300)).allowed
    decision = bucket.can_afford(D(400))
    assert decision.code == "insufficient_budget"
    assert decision.reason == "spot needs 400 but has 300 available (allocation 1000, used 700)"


def test_a_budget_counts_what_its_buckets_positions_use():
    # futures 500, 200 used -> 300 of margin left: 1000 at 5x posts 200, 2000 at 5x would post 400
    used = Budget((Bucket(FUTURES, D(500), used=D(200)),))

    assert used.can_afford(FUTURES, D(1000), D(5)).allowed
    assert used.can_afford(FUTURES, D(2000), D(5)).code == "insufficient_budget"
    assert used.can_afford(FUTURES, D(0), D(5)).code == "bad_notional"
    assert used.can_afford(FUTURES, D(100), D("0.5")).code == "bad_leverage"


def test_reserving_uses_the_bucket_until_released():
    # spot 1000; a 600 position uses 600 -> 400 left, so 500 more is unaffordable
    reserved, decision = budget(spot=1000).reserve(SPOT, D(600))

    assert decision.allowed
    assert reserved.available(SPOT) == D(400)
    assert not reserved.can_afford(SPOT, D(500)).allowed
    assert reserved.release(SPOT, D(600)).available(SPOT) == D(1000)


def test_an_unaffordable_reservation_leaves_the_budget_unchanged():
    start = budget(spot=100)

    after, decision = start.reserve(SPOT, D(500))

    assert not decision.allowed
    assert after == start


def test_releasing_more_than_is_used_is_a_programming_error():
    with pytest.raises(BudgetError, match="cannot release"):
        budget(spot=1000).release(SPOT, D(1))


def test_futures_margin_never_draws_on_the_spot_bucket():
    # Bybit UTA holds both; futures has 100 of margin, spot 1000 of cash
    both = budget(spot=1000, futures=100)

    after, decision = both.reserve(FUTURES, D(1000), D(5))  # 200 margin > 100

    assert decision.code == "insufficient_budget"
    assert after.available(SPOT) == D(1000)


# --- P&L compounds inside its bucket -----------------------------------------------------------------


def test_realised_pnl_compounds_in_its_own_bucket():
    after = budget(spot=1000, futures=500).apply_pnl(SPOT, D(50))

    assert after.get_alloc(SPOT) == D(1050)
    assert after.bucket(SPOT).realized_pnl == D(50)
    assert after.get_alloc(FUTURES) == D(500)


def test_a_loss_may_take_the_allocation_below_zero():
    # the books record what happened; nothing is affordable until capital is added
    after = budget(spot=1000).apply_pnl(SPOT, D(-1200))

    assert after.get_alloc(SPOT) == D(-200)
    assert not after.can_afford(SPOT, D(1)).allowed


# --- reallocation in $100 steps ---------------------------------------------------------------------


def test_reallocation_moves_whole_steps_between_buckets():
    moved, decision = budget(spot=1000, futures=500).reallocate(SPOT, FUTURES, D(200))

    assert decision.allowed
    assert (moved.get_alloc(SPOT), moved.get_alloc(FUTURES)) == (D(800), D(700))


def test_reallocation_off_the_step_is_denied():
    assert budget(spot=1000, futures=500).reallocate(SPOT, FUTURES, D(150))[1].code == "bad_step"


def test_reallocation_never_takes_a_bucket_below_what_positions_use():
    # spot 1000 with 850 used: 150 is free, so 100 can move and 200 cannot
    used, _ = budget(spot=1000, futures=500).reserve(SPOT, D(850))

    assert used.reallocate(SPOT, FUTURES, D(100))[1].allowed
    assert used.reallocate(SPOT, FUTURES, D(200))[1].code == "below_used"


def test_reallocation_between_brokers_is_denied():
    # spot lives on Bybit, forex on IBKR: a virtual move would not move real money
    assert budget(spot=1000, forex=500).reallocate(SPOT, FOREX, D(100))[1].code == "cross_account"


def test_reallocation_to_the_same_bucket_is_denied():
    assert budget(spot=1000).reallocate(SPOT, SPOT, D(100))[1].code == "same_bucket"


def test_adjusting_adds_or_withdraws_capital_in_steps():
    added, decision = budget(spot=1000).adjust(SPOT, D(100))

    assert decision.allowed
    assert added.get_alloc(SPOT) == D(1100)
    assert budget(spot=1000).adjust(SPOT, D(-100))[0].get_alloc(SPOT) == D(900)


def test_a_withdrawal_cannot_free_what_positions_use():
    used, _ = budget(spot=1000).reserve(SPOT, D(950))

    assert used.adjust(SPOT, D(-100))[1].code == "below_used"


def test_buckets_must_be_covered_by_the_real_account():
    # Bybit buckets hold 1000 + 500 = 1500
    both = budget(spot=1000, futures=500, forex=300)

    assert both.covered_by("bybit", D(1500)).allowed
    assert both.covered_by("bybit", D(1400)).code == "overcommitted"
    assert both.covered_by("ibkr", D(300)).allowed


def test_two_buckets_for_one_asset_are_rejected():
    with pytest.raises(BudgetError, match="one bucket per asset"):
        Budget((Bucket(SPOT, D(1)), Bucket(SPOT, D(2))))


# --- invariants -------------------------------------------------------------------------------------

amounts = st.integers(0, 10**7).map(lambda n: D(n) / 100)
pnls = st.integers(-(10**7), 10**7).map(lambda n: D(n) / 100)
assets = st.sampled_from(list(Asset))
# Mostly pairs on one account (the moves that can succeed), plus a cross-account and a self move.
PAIRS = [(SPOT, FUTURES), (FUTURES, SPOT), (FOREX, OPTIONS), (OPTIONS, FOREX), (SPOT, FOREX), (SPOT, SPOT)]
operations = st.one_of(
    st.tuples(st.just("reserve"), assets, amounts, st.sampled_from([D(1), D(2), D(5), D(10)])),
    st.tuples(st.just("release"), assets, st.integers(0, 100)),
    st.tuples(st.just("pnl"), assets, pnls),
    st.tuples(st.just("realloc"), st.sampled_from(PAIRS), st.integers(-3, 50).map(lambda n: D(n) * 100)).map(
        lambda t: (t[0], *t[1], t[2])
    ),
)
starts = st.fixed_dictionaries({a: st.integers(0, 10**5).map(D) for a in Asset})


def _run(start, ops):
    """Apply ops; yield (before, op, after, decision) for each."""
    current = start
    for op in ops:
        before, decision = current, None
        if op[0] == "reserve":
            current, decision = current.reserve(op[1], op[2], op[3])
        elif op[0] == "release":
            current = current.release(op[1], current.bucket(op[1]).used * op[2] / 100)
        elif op[0] == "pnl":
            current = current.apply_pnl(op[1], op[2])
        else:
            current, decision = current.reallocate(op[1], op[2], op[3])
        yield before, op, current, decision


@settings(max_examples=500)
@given(starts, st.lists(operations, max_size=30))
def test_reallocation_never_changes_the_total_and_respects_what_is_used(allocations, ops):
    for before, op, after, decision in _run(Budget.create(allocations), ops):
        if op[0] != "realloc":
            continue
        assert after.total_allocation == before.total_allocation
        if decision.allowed:
            assert after.get_alloc(op[1]) >= after.bucket(op[1]).used
        else:
            assert after == before


@settings(max_examples=500)
@given(starts, st.lists(operations, max_size=30))
def test_money_is_conserved_through_every_operation(allocations, ops):
    start = Budget.create(allocations)
    booked = D(0)
    for before, op, after, _ in _run(start, ops):
        if op[0] == "pnl":
            booked += op[2]
            assert after.get_alloc(op[1]) == before.get_alloc(op[1]) + op[2]
            others = [b for b in after.buckets if b.asset is not op[1]]
            assert others == [b for b in before.buckets if b.asset is not op[1]]
        assert after.total_allocation == start.total_allocation + booked
        assert sum(b.realized_pnl for b in after.buckets) == booked
        assert all(b.used >= 0 for b in after.buckets)


@settings(max_examples=500)
@given(starts, st.lists(operations, max_size=30))
def test_an_allowed_reservation_always_fits_in_its_own_bucket(allocations, ops):
    for before, op, after, decision in _run(Budget.create(allocations), ops):
        if op[0] == "reserve" and decision.allowed:
            asset = op[1]
            assert after.bucket(asset).used <= after.get_alloc(asset)
            assert [b for b in after.buckets if b.asset is not asset] == [
                b for b in before.buckets if b.asset is not asset
            ]
