"""What the runtime tells a subscriber during a run, and that a run with no subscriber publishes nothing."""

from __future__ import annotations

import trio

from app.services.runtime_events import (
    AccountUpdated,
    BarProcessed,
    Delivery,
    LogEvent,
    PositionsChanged,
    RunFinished,
    TradeClosed,
)
from tests.services.app_runtime.wiring import Wired, paper_runtime


def run_and_collect(wired: Wired) -> list[Delivery]:
    async def scenario():
        subscription = wired.runtime.events.subscribe(capacity=100_000)
        await wired.runtime.run()
        return await subscription.receive_batch(limit=100_000)

    return trio.run(scenario)


def events_of(deliveries: list[Delivery], kind: type) -> list:
    return [event for _, event in deliveries if isinstance(event, kind)]


def test_each_processed_bar_is_published_once_in_order(tmp_path):
    deliveries = run_and_collect(paper_runtime(tmp_path, bars=150))

    bars = events_of(deliveries, BarProcessed)

    assert [b.bars for b in bars] == list(range(1, 151))


def test_every_closed_trade_is_published_as_the_journal_has_it(tmp_path):
    wired = paper_runtime(tmp_path, bars=300)

    closed = [e.trade for e in events_of(run_and_collect(wired), TradeClosed)]

    assert closed == list(wired.storage.trades())
    assert closed


def test_the_last_positions_published_are_the_stored_ones(tmp_path):
    wired = paper_runtime(tmp_path, bars=100)

    last = events_of(run_and_collect(wired), PositionsChanged)[-1]

    assert last.positions == tuple(wired.storage.positions())
    assert len(last.positions) == 1


def test_journal_entries_after_the_run_started_are_published_once_each_in_order(tmp_path):
    wired = paper_runtime(tmp_path, bars=300)

    logged = [e.seq for e in events_of(run_and_collect(wired), LogEvent)]
    [(started, *_)] = wired.storage.events(kind="run_started")

    assert logged == [seq for seq, *_ in wired.storage.events(after_seq=started)]
    assert len(logged) > 10


def test_account_valuations_follow_every_bar_and_the_run_ends_with_run_finished(tmp_path):
    deliveries = run_and_collect(paper_runtime(tmp_path, bars=50))

    accounts = events_of(deliveries, AccountUpdated)

    assert len(accounts) >= 50
    assert deliveries[-1][1] == RunFinished(50, accounts[-1].accounts[0].ts)


def test_a_run_without_subscribers_publishes_nothing(tmp_path):
    wired = paper_runtime(tmp_path, bars=150)

    trio.run(wired.runtime.run)

    assert wired.runtime.events.seq == 0


def test_the_snapshot_carries_the_bus_sequence_it_includes(tmp_path):
    wired = paper_runtime(tmp_path, bars=100)

    async def scenario():
        wired.runtime.events.subscribe()
        await wired.runtime.run()
        return wired.runtime.snapshot()

    snapshot = trio.run(scenario)

    assert snapshot.seq == wired.runtime.events.seq
    assert snapshot.finished
    assert snapshot.bars == 100
    assert snapshot.positions == tuple(wired.storage.positions())
