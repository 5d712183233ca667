"""The runtime's broadcast bus: every subscriber sees every event in order; a full one loses its oldest."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import trio
import trio.testing

from app.services.runtime_events import EventBus, LogEvent, RunFinished

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def log(n: int) -> LogEvent:
    return LogEvent(n, T0, f"kind{n}", {"n": n})


def test_every_subscriber_receives_every_event_in_publication_order():
    async def scenario():
        bus = EventBus()
        first, second = bus.subscribe(), bus.subscribe()
        for n in range(3):
            bus.publish(log(n))
        return await first.receive_batch(), await second.receive_batch()

    first, second = trio.run(scenario)

    assert [seq for seq, _ in first] == [1, 2, 3]
    assert first == second


def test_a_full_subscription_drops_its_oldest_events_and_counts_them():
    async def scenario():
        bus = EventBus()
        slow = bus.subscribe(capacity=2)
        for n in range(5):
            bus.publish(log(n))
        return await slow.receive_batch(), slow.dropped

    batch, dropped = trio.run(scenario)

    assert [event.seq for _, event in batch] == [3, 4]
    assert dropped == 3


def test_a_subscriber_that_never_reads_costs_the_publisher_nothing_but_drops():
    async def scenario():
        bus = EventBus()
        idle = bus.subscribe(capacity=1)
        for n in range(10_000):
            bus.publish(log(n))
        return bus.seq, idle.dropped, await idle.receive_batch()

    seq, dropped, kept = trio.run(scenario)

    assert (seq, dropped) == (10_000, 9_999)
    assert kept == [(10_000, log(9_999))]


def test_a_closed_subscription_no_longer_counts_as_a_subscriber():
    async def scenario():
        bus = EventBus()
        async with bus.subscribe():
            inside = bus.has_subscribers
        bus.publish(RunFinished(0, None))
        return inside, bus.has_subscribers

    assert trio.run(scenario) == (True, False)


def test_a_waiting_subscriber_wakes_up_on_the_next_publication():
    async def scenario():
        bus = EventBus()
        subscription = bus.subscribe()
        got = []

        async def reader():
            got.extend(await subscription.receive_batch())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()
            bus.publish(RunFinished(7, None))
        return got

    assert trio.run(scenario) == [(1, RunFinished(7, None))]


def test_a_subscription_needs_room_for_one_event():
    with pytest.raises(ValueError, match="at least one"):
        EventBus().subscribe(capacity=0)
