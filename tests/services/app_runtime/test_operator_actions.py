"""The operator's actions on the runtime, against the real services (sim broker, replay of ETHBTC 5m, SQLite).

In this replay the strategy has a working entry order after bar 51, holds a position from bar 83 and has a
working exit order after bar 124.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from decimal import Decimal

import trio

from app.domain.registry import StrategyFlag, StrategyState
from app.domain.values import Asset, OrderStatus
from app.services.runtime_events import Killed
from tests.services.app_runtime.wiring import Wired, paper_runtime

Action = Callable[[], Awaitable[object]]
KEYS = {"BYBIT_API_KEY": "k" * 12, "BYBIT_API_SECRET": "s" * 12}


def drive(wired: Wired, bars: int, actions: dict[int, Action] | None = None) -> None:
    """Process ``bars`` bars through ``on_candle``, running ``actions[n]`` right after bar n."""

    async def scenario():
        done = 0
        async with contextlib.aclosing(wired.feed.stream()) as candles:
            async for candle in candles:
                await wired.runtime.on_candle(candle)
                done += 1
                if actions and done in actions:
                    await actions[done]()
                if done >= bars:
                    return

    trio.run(scenario)


def kill_spot(wired: Wired, why: str = "test") -> Action:
    async def action():
        return await wired.runtime.kill(Asset.SPOT, "alice", why)

    return action


def test_kill_cancels_the_assets_working_orders(tmp_path):
    wired = paper_runtime(tmp_path)

    drive(wired, 51, {51: kill_spot(wired)})

    assert wired.storage.orders(open_only=True) == []
    assert wired.storage.get_order("sma-cross-demo-00000001").status is OrderStatus.CANCELLED


def test_kill_flattens_the_position_at_the_next_bar(tmp_path):
    wired = paper_runtime(tmp_path)

    drive(wired, 101, {100: kill_spot(wired)})

    assert wired.storage.positions() == []
    assert wired.storage.trades()[-1].exit_reason == "kill"


def test_kill_cancels_a_working_exit_and_flattens_with_one_reduce_only_order(tmp_path):
    wired = paper_runtime(tmp_path)
    reports: list[Killed] = []

    async def kill():
        reports.append(await wired.runtime.kill(Asset.SPOT, "alice", "test"))

    drive(wired, 125, {124: kill})

    assert reports[0].cancelled == ("sma-cross-demo-00000003",)
    flatten = wired.storage.get_order(reports[0].flattening[0])
    assert flatten.reduce_only
    assert flatten.status is OrderStatus.FILLED
    assert wired.storage.positions() == []


def test_a_killed_asset_opens_no_new_position(tmp_path):
    wired = paper_runtime(tmp_path)

    drive(wired, 600, {10: kill_spot(wired)})

    assert wired.storage.orders() == []
    assert wired.storage.positions() == []


def test_the_kill_is_journaled_with_who_when_and_why(tmp_path):
    wired = paper_runtime(tmp_path)

    drive(wired, 100, {100: kill_spot(wired, why="spread blew out")})

    [(_, at, _, fields)] = list(wired.storage.events(kind="asset_killed"))
    assert (fields["asset"], fields["who"], fields["why"]) == ("spot", "alice", "spread blew out")
    assert at == wired.clock.now()
    assert len(fields["flattening"]) == 1


def test_kill_flags_every_strategy_of_the_asset_killed_in_the_registry(tmp_path):
    wired = paper_runtime(tmp_path)

    drive(wired, 10, {10: kill_spot(wired)})

    assert StrategyFlag.KILLED in wired.registry.get("sma-cross-demo").flags


def test_a_killed_asset_stays_killed_after_a_restart(tmp_path):
    first = paper_runtime(tmp_path)
    drive(first, 10, {10: kill_spot(first)})
    first.storage.close()

    again = paper_runtime(tmp_path)

    assert again.runtime.entry_decision("sma-cross-demo", Asset.SPOT).code == "killed"


def test_release_allows_entries_again_and_clears_the_flag(tmp_path):
    wired = paper_runtime(tmp_path)
    drive(wired, 10, {10: kill_spot(wired)})

    decision = wired.runtime.release(Asset.SPOT, "alice", "spread normal again")

    assert decision.allowed
    assert wired.runtime.entry_decision("sma-cross-demo", Asset.SPOT).allowed
    assert StrategyFlag.KILLED not in wired.registry.get("sma-cross-demo").flags


def test_kill_all_kills_every_traded_asset(tmp_path):
    wired = paper_runtime(tmp_path)
    killed: list[list[Killed]] = []

    async def kill_all():
        killed.append(await wired.runtime.kill_all("alice", "test"))

    drive(wired, 10, {10: kill_all})

    assert [k.asset for k in killed[0]] == [Asset.SPOT]


def test_pause_stops_entries_but_the_open_position_still_exits(tmp_path):
    wired = paper_runtime(tmp_path)

    async def pause():
        wired.runtime.pause_exploration("alice", "news")

    drive(wired, 400, {100: pause})

    orders = wired.storage.orders()
    after_pause = [o for o in orders if o.client_order_id > "sma-cross-demo-00000002"]
    assert after_pause
    assert all(o.reduce_only for o in after_pause)
    assert wired.storage.positions() == []


def test_resume_lets_entries_happen_again(tmp_path):
    wired = paper_runtime(tmp_path)

    async def pause():
        wired.runtime.pause_exploration()

    async def resume():
        wired.runtime.resume_exploration()

    drive(wired, 600, {10: pause, 20: resume})

    assert any(not o.reduce_only for o in wired.storage.orders())


def test_live_preconditions_name_every_missing_piece(tmp_path):
    wired = paper_runtime(tmp_path)

    decision = wired.runtime.live_preconditions(Asset.SPOT)

    assert not decision.allowed
    assert "credentials not set: BYBIT_API_KEY, BYBIT_API_SECRET" in decision.reason
    assert "no promoted strategy for spot" in decision.reason


def test_forex_names_no_credentials_so_it_cannot_go_live(tmp_path):
    wired = paper_runtime(tmp_path, environ=KEYS)

    decision = wired.runtime.live_preconditions(Asset.FOREX)

    assert "no credential variables are configured for ibkr" in decision.reason


def promote(wired: Wired) -> None:
    wired.registry.set_state("sma-cross-demo", StrategyState.VALIDATING, "test")
    wired.registry.set_state("sma-cross-demo", StrategyState.PROMOTED, "test")


def test_with_every_precondition_met_live_is_still_refused_as_not_built(tmp_path):
    wired = paper_runtime(tmp_path, environ=KEYS)
    promote(wired)

    ready = wired.runtime.live_preconditions(Asset.SPOT)
    decision = wired.runtime.enable_live(Asset.SPOT, "spot", "alice")

    assert ready.allowed
    assert (decision.allowed, decision.code) == (False, "live_not_built")
    assert not wired.runtime.live_enabled(Asset.SPOT)


def test_a_mistyped_confirmation_is_refused_and_journaled(tmp_path):
    wired = paper_runtime(tmp_path, environ=KEYS)
    promote(wired)

    decision = wired.runtime.enable_live(Asset.SPOT, "spto", "alice")

    assert decision.code == "confirmation"
    [(_, _, _, fields)] = list(wired.storage.events(kind="live_refused"))
    assert fields["who"] == "alice"


def test_a_broker_desync_flag_makes_reconciliation_unclean(tmp_path):
    wired = paper_runtime(tmp_path, environ=KEYS)
    promote(wired)
    wired.registry.add_flag("sma-cross-demo", StrategyFlag.BROKER_DESYNC, "test")

    decision = wired.runtime.live_preconditions(Asset.SPOT)

    assert "reconciliation not clean (1 desynced" in decision.reason


def test_allocation_changes_go_through_budget_manager(tmp_path):
    wired = paper_runtime(tmp_path)
    before = wired.runtime.allocation(Asset.SPOT)

    decision = wired.runtime.adjust_allocation(Asset.SPOT, Decimal(100))

    assert decision.allowed
    assert wired.runtime.allocation(Asset.SPOT) == before + 100


def test_the_budget_managers_refusal_is_the_answer(tmp_path):
    wired = paper_runtime(tmp_path)

    decision = wired.runtime.adjust_allocation(Asset.SPOT, Decimal(-1_000_000))

    assert not decision.allowed
    assert decision.reason


def test_without_a_budget_manager_allocation_changes_are_not_available(tmp_path):
    wired = paper_runtime(tmp_path, operator_services=False)

    decision = wired.runtime.adjust_allocation(Asset.SPOT, Decimal(100))

    assert decision.reason == "allocation changes are not available"


def test_a_strategy_flag_is_set_and_cleared_in_the_registry(tmp_path):
    wired = paper_runtime(tmp_path)

    wired.runtime.set_strategy_flag("sma-cross-demo", StrategyFlag.REVIEW, True, "alice", "odd fills")
    flagged = wired.registry.get("sma-cross-demo").flags
    wired.runtime.set_strategy_flag("sma-cross-demo", StrategyFlag.REVIEW, False, "alice", "checked")

    assert StrategyFlag.REVIEW in flagged
    assert StrategyFlag.REVIEW not in wired.registry.get("sma-cross-demo").flags


def test_an_unknown_strategy_flag_change_is_refused(tmp_path):
    wired = paper_runtime(tmp_path)

    decision = wired.runtime.set_strategy_flag("nope", StrategyFlag.REVIEW, True, "alice", "")

    assert decision.code == "unknown_strategy"


def test_without_a_registry_strategies_come_from_the_specs_with_journal_counters(tmp_path):
    wired = paper_runtime(tmp_path, operator_services=False)
    drive(wired, 300)

    [record] = wired.runtime.strategies()

    assert record.strategy_id == "sma-cross-demo"
    assert record.counters["trades"] == len(wired.storage.trades())
    assert wired.runtime.set_strategy_flag("sma-cross-demo", StrategyFlag.REVIEW, True, "a", "").code == (
        "no_registry"
    )
