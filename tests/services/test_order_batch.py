"""order_router.place_orders: several orders decided together, checked in turn, committed once."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest
import trio

from app.adapters.brokers.sim import SimBroker
from app.adapters.storage.sqlite import SqliteStorage
from app.domain.values import Asset, Order, OrderIntent, OrderStatus
from app.ports.broker import Broker
from app.services.order_requests import RouteResult
from tests.services.test_order_pipeline import Rig, entry


def place_together(rig: Rig, *requests: object) -> list[RouteResult]:
    async def go() -> list[RouteResult]:
        await rig.market(100)
        return await rig.router.place_orders(list(requests))  # type: ignore[arg-type]

    return trio.run(go)


def place_one_by_one(rig: Rig, *requests: object) -> list[RouteResult]:
    async def go() -> list[RouteResult]:
        await rig.market(100)
        return [await rig.router.place_order(r) for r in requests]  # type: ignore[arg-type]

    return trio.run(go)


def two_strategy_rig(**kwargs: object) -> Rig:
    rig = Rig(**kwargs)  # type: ignore[arg-type]
    rig.registry.create("s2", Asset.SPOT, reason="test")
    return rig


def test_entries_of_a_batch_count_against_the_budget_as_if_the_earlier_ones_had_filled():
    # 6 units x 100 = 600 each: either fits the 1,000 bucket alone, both together do not
    requests = (entry("6", stop="99", strategy="s1"), entry("6", stop="99", strategy="s2"))

    together = place_together(two_strategy_rig(), *requests)
    apart = place_one_by_one(two_strategy_rig(), *requests)

    first, second = together
    assert first.accepted
    assert first.order.qty == D(6)
    assert second.accepted
    assert second.order.qty < D(6)
    assert (first.order.qty + second.order.qty) * 100 <= D(1000)
    # One by one the first entry is still working when the second comes (the sim fills market orders at the
    # next bar), and it counts as the position it will be: the same sizes as the batch.
    assert [r.order.qty for r in apart] == [r.order.qty for r in together]


def test_a_batch_answers_in_order_with_consecutive_ids_and_a_denial_does_not_stop_the_others():
    rig = two_strategy_rig()
    results = place_together(
        rig,
        entry("1", stop="99"),
        entry("1", stop="99", strategy="nobody"),
        entry("1", stop="99", strategy="s2"),
    )

    assert [r.accepted for r in results] == [True, False, True]
    assert [r.order.status for r in results] == [
        OrderStatus.ACCEPTED,
        OrderStatus.REJECTED,
        OrderStatus.ACCEPTED,
    ]
    seqs = [int(r.order.client_order_id.rsplit("-", 1)[1]) for r in results]
    assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 2]
    stored = {o.client_order_id: o for o in rig.storage.orders()}
    assert [stored[r.order.client_order_id] for r in results] == [r.order for r in results]
    denied = [f for _, _, kind, f in rig.storage.events() if kind == "order_denied"]
    assert [d["client_order_id"] for d in denied] == [results[1].order.client_order_id]


class _Watching:
    """A broker that looks at the database through another connection before each order it takes, and
    fails on the ``fail_at``-th one (1-based) with an error order_router does not expect."""

    def __init__(self, inner: object, path: Path, fail_at: int | None = None) -> None:
        self._inner = inner
        self._path = path
        self._fail_at = fail_at
        self.committed_before_each: list[set[str]] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def place_order(self, intent: OrderIntent) -> Order:
        with SqliteStorage.open(self._path, readonly=True) as reader:
            self.committed_before_each.append({o.client_order_id for o in reader.orders()})
        if self._fail_at is not None and len(self.committed_before_each) == self._fail_at:
            raise RuntimeError("connection torn down")
        return await self._inner.place_order(intent)  # type: ignore[attr-defined, no-any-return]


def sqlite_rig(tmp_path: Path, fail_at: int | None = None) -> tuple[Rig, list[_Watching], SqliteStorage]:
    store = SqliteStorage.open(tmp_path / "paper.db")
    watching: list[_Watching] = []

    def wrap(broker: SimBroker) -> Broker:
        watching.append(_Watching(broker, tmp_path / "paper.db", fail_at))
        return watching[-1]  # type: ignore[return-value]

    return two_strategy_rig(storage=store, wrap=wrap), watching, store


def test_every_intent_of_a_batch_is_committed_before_the_first_broker_call(tmp_path: Path):
    rig, (watching,), store = sqlite_rig(tmp_path)
    with store:
        results = place_together(rig, entry("1", stop="99"), entry("1", stop="99", strategy="s2"))
        ids = {r.order.client_order_id for r in results}
        assert watching.committed_before_each == [ids, ids]
        # the answers are written in one deferred transaction: read at once here, committed with the next write
        assert [o.status for o in store.orders()] == [OrderStatus.ACCEPTED, OrderStatus.ACCEPTED]
    with SqliteStorage.open(tmp_path / "paper.db", readonly=True) as reader:
        assert [o.status for o in reader.orders()] == [OrderStatus.ACCEPTED, OrderStatus.ACCEPTED]


def test_answers_received_before_a_failure_in_the_batch_are_kept(tmp_path: Path):
    rig, _, store = sqlite_rig(tmp_path, fail_at=2)
    with store, pytest.raises(RuntimeError, match="torn down"):
        place_together(
            rig, entry("1", stop="99"), entry("1", stop="99", strategy="s2"), entry("1", stop="99")
        )
    with SqliteStorage.open(tmp_path / "paper.db", readonly=True) as reader:
        # the first was answered; the second and third stay `new` for resolve_in_flight to ask the broker
        assert [o.status for o in reader.orders()] == [OrderStatus.ACCEPTED, OrderStatus.NEW, OrderStatus.NEW]
