from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.errors import ValidationFailed
from app.domain.session import (
    Epoch,
    PaperRules,
    SessionError,
    apply_realized_pnl,
    ensure_min_equity,
    start_session,
)
from app.domain.values import Asset

RULES = PaperRules()  # start 1000, top up by 1000 at 10 or less
T0 = datetime(2024, 3, 1, tzinfo=UTC)
T1 = T0 + timedelta(hours=5)


def fresh():
    return start_session(Asset.SPOT, RULES, T0)


def test_a_session_starts_at_1000_with_no_reward_in_epoch_one():
    wallet = fresh()

    assert (wallet.equity, wallet.reward, wallet.epoch) == (D(1000), D(0), 1)
    assert wallet.epochs == (Epoch(1, T0, D(0), D(1000), "session start"),)


def test_realised_pnl_moves_equity_and_reward_together():
    # 1000 + 25.5 - 10 = 1015.5; reward 15.5
    wallet = apply_realized_pnl(apply_realized_pnl(fresh(), D("25.5")), D(-10))

    assert (wallet.equity, wallet.reward) == (D("1015.5"), D("15.5"))


def test_equity_at_the_threshold_is_topped_up_into_a_new_epoch():
    # 1000 - 990 = 10 <= 10 -> +1000 = 1010, epoch 2
    drained = apply_realized_pnl(fresh(), D(-990))

    wallet, epoch = ensure_min_equity(drained, RULES, T1)

    assert wallet.equity == D(1010)
    assert epoch == Epoch(2, T1, D(10), D(1010), epoch.reason)
    assert "topped up by 1000" in epoch.reason
    assert (wallet.epoch, wallet.epochs[-1], wallet.topped_up) == (2, epoch, D(1000))


def test_equity_above_the_threshold_is_left_alone():
    # 1000 - 989.99 = 10.01 > 10
    wallet = apply_realized_pnl(fresh(), D("-989.99"))

    assert ensure_min_equity(wallet, RULES, T1) == (wallet, None)


def test_the_reward_survives_a_top_up():
    drained = apply_realized_pnl(fresh(), D(-995))

    wallet, _ = ensure_min_equity(drained, RULES, T1)

    assert wallet.reward == D(-995)


def test_a_loss_larger_than_the_equity_stops_at_zero_and_keeps_the_shortfall():
    # 1000 - 1500: equity 0, the 500 the wallet could not pay is the shortfall; reward carries all 1500
    wallet = apply_realized_pnl(fresh(), D(-1500))

    assert (wallet.equity, wallet.shortfall, wallet.reward) == (D(0), D(500), D(-1500))


def test_a_naive_time_is_refused():
    with pytest.raises(SessionError, match="timezone-aware"):
        start_session(Asset.SPOT, RULES, datetime(2024, 3, 1))  # noqa: DTZ001 - the point of the test


def test_a_non_finite_pnl_is_refused():
    with pytest.raises(SessionError, match="finite"):
        apply_realized_pnl(fresh(), D("NaN"))


def test_a_top_up_that_does_not_clear_the_threshold_is_rejected():
    with pytest.raises(ValidationFailed, match="topup_amount"):
        PaperRules(topup_threshold=D(100), topup_amount=D(50))


# --- invariants -------------------------------------------------------------------------------------

pnls = st.integers(-300_000, 200_000).map(lambda n: D(n) / 100)
steps = st.lists(st.one_of(pnls, st.just("ensure")), max_size=60)


@settings(max_examples=500)
@given(steps)
def test_paper_equity_never_goes_below_zero_and_every_top_up_starts_an_epoch(ops):
    wallet = fresh()
    topups = 0
    for i, op in enumerate(ops):
        if op == "ensure":
            before = wallet
            wallet, epoch = ensure_min_equity(wallet, RULES, T0 + timedelta(minutes=i))
            if epoch is not None:
                topups += 1
                assert before.equity <= RULES.topup_threshold
                assert epoch.number == before.epoch + 1
                assert (epoch.equity_before, epoch.equity_after) == (before.equity, before.equity + D(1000))
            assert wallet.equity > RULES.topup_threshold
        else:
            wallet = apply_realized_pnl(wallet, op)
        assert wallet.equity >= 0
        assert wallet.equity == RULES.start_equity + wallet.topped_up + wallet.reward + wallet.shortfall
    assert len(wallet.epochs) == 1 + topups
    assert [e.number for e in wallet.epochs] == list(range(1, topups + 2))
    assert wallet.topped_up == topups * RULES.topup_amount
