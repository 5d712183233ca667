"""strategy_registry remembers each strategy's entry gate between orders; every change to a record renews it."""

from __future__ import annotations

from datetime import UTC, datetime

from app.domain.registry import StrategyCounter, StrategyFlag, StrategyState
from app.domain.values import Asset
from app.services.market_clock import MarketClock
from app.services.strategy_registry import StrategyRegistry
from tests.fakes.memory_storage import MemoryStorage

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def registry() -> StrategyRegistry:
    return StrategyRegistry(MemoryStorage(), MarketClock(T0))


def test_the_same_answer_is_given_until_the_record_changes():
    strategies = registry()
    strategies.create("s1", Asset.SPOT, reason="test")

    assert strategies.can_enter("s1") is strategies.can_enter("s1")
    assert strategies.can_enter("s1").allowed


def test_a_strategy_registered_after_being_asked_about_may_enter():
    strategies = registry()
    assert strategies.can_enter("s1").code == "unregistered"

    strategies.create("s1", Asset.SPOT, reason="test")

    assert strategies.can_enter("s1").allowed


def test_a_blocking_flag_set_after_an_allowed_entry_blocks_the_next_one_and_clearing_it_allows_again():
    strategies = registry()
    strategies.create("s1", Asset.SPOT, reason="test")
    assert strategies.can_enter("s1").allowed

    strategies.add_flag("s1", StrategyFlag.KILLED, "operator")
    assert strategies.can_enter("s1").code == "flag_killed"

    strategies.remove_flag("s1", StrategyFlag.KILLED, "operator")
    assert strategies.can_enter("s1").allowed


def test_a_flag_on_the_asset_and_a_state_change_reach_the_gates_of_every_strategy_they_touch():
    strategies = registry()
    strategies.create("s1", Asset.SPOT, reason="test")
    strategies.create("s2", Asset.SPOT, reason="test")
    assert strategies.can_enter("s1").allowed
    assert strategies.can_enter("s2").allowed

    strategies.flag_asset(Asset.SPOT, StrategyFlag.DATA_STALE, "feed")
    assert strategies.can_enter("s1").code == strategies.can_enter("s2").code == "flag_data_stale"

    strategies.clear_asset_flag(Asset.SPOT, StrategyFlag.DATA_STALE, "feed")
    strategies.set_state("s2", StrategyState.RETIRED, "done")
    assert strategies.can_enter("s1").allowed
    assert strategies.can_enter("s2").code == "state_retired"


def test_a_counter_change_gives_the_same_answer_as_a_fresh_registry():
    storage = MemoryStorage()
    strategies = StrategyRegistry(storage, MarketClock(T0))
    strategies.create("s1", Asset.SPOT, reason="test")
    strategies.can_enter("s1")

    strategies.inc_counter("s1", StrategyCounter.TRADES)

    assert strategies.can_enter("s1") == StrategyRegistry(storage, MarketClock(T0)).can_enter("s1")
