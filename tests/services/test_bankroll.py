"""Paper sessions and top-ups: start at $1,000, top up by $1,000 at $10 or less, each top-up a new epoch."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import trio

from app.adapters.brokers.sim import SimBroker, SimConfig
from app.domain.session import PaperRules
from app.domain.symbols import generic_instrument
from app.domain.values import AccountSnapshot, Asset
from app.services.bankroll_manager import BankrollManager
from app.services.market_clock import MarketClock
from app.services.session_manager import SessionManager
from tests.fakes.memory_storage import MemoryStorage

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def sim(cash: str) -> SimBroker:
    return SimBroker(
        SimConfig(
            asset=Asset.SPOT,
            currency="USD",
            starting_cash=D(cash),
            instruments=lambda s: generic_instrument(s, Asset.SPOT),
        )
    )


def snapshot(equity: str) -> AccountSnapshot:
    return AccountSnapshot(Asset.SPOT, "USD", D(equity), D(equity), D(0), T0)


def test_a_new_session_starts_each_asset_at_1000_with_zero_reward():
    sessions = SessionManager(MemoryStorage(), MarketClock(T0), {Asset.SPOT: PaperRules()})

    wallets = sessions.start_session()

    assert wallets[Asset.SPOT].equity == D(1000)
    assert wallets[Asset.SPOT].reward == D(0)
    assert wallets[Asset.SPOT].epoch == 1


def test_equity_at_10_or_less_is_topped_up_by_1000_in_a_new_journaled_epoch():
    storage = MemoryStorage()
    sessions = SessionManager(storage, MarketClock(T0), {Asset.SPOT: PaperRules()})
    sessions.start_session()
    broker = sim("10")
    bankroll = BankrollManager(sessions, {Asset.SPOT: broker})

    epoch = trio.run(bankroll.ensure_min_equity, snapshot("10"))

    assert epoch is not None
    assert epoch.number == 2
    assert epoch.equity_before == D(10)
    assert epoch.equity_after == D(1010)
    assert broker.equity() == D(1010)
    assert [k for _, _, k, _ in storage.events(kind="epoch_started")] == ["epoch_started"]


def test_equity_above_the_threshold_is_left_alone():
    sessions = SessionManager(MemoryStorage(), MarketClock(T0), {Asset.SPOT: PaperRules()})
    sessions.start_session()
    broker = sim("11")

    epoch = trio.run(BankrollManager(sessions, {Asset.SPOT: broker}).ensure_min_equity, snapshot("11"))

    assert epoch is None
    assert broker.equity() == D(11)


def test_a_restart_resumes_the_session_and_reapplies_its_top_ups_to_the_rebuilt_account():
    storage = MemoryStorage()
    clock = MarketClock(T0)
    first = SessionManager(storage, clock, {Asset.SPOT: PaperRules()})
    first.start_session()
    trio.run(BankrollManager(first, {Asset.SPOT: sim("5")}).ensure_min_equity, snapshot("5"))

    resumed = SessionManager(storage, clock, {Asset.SPOT: PaperRules()})
    wallets = resumed.resume_session()
    rebuilt = sim("5")
    BankrollManager(resumed, {Asset.SPOT: rebuilt}).restore_deposits({Asset.SPOT: "USD"})

    assert wallets[Asset.SPOT].epoch == 2
    assert wallets[Asset.SPOT].topped_up == D(1000)
    assert rebuilt.equity() == D(1005)
