"""Migration 6 and the order path's statements: the client-id index keyed on the id's tail first, and the
parameters spelled for cheap binding (str of enum members, '' + NULLIF for a missing Decimal, literals for a
new order's constant columns). Orders written before the migration read back the same, ids of any form stay
unique and are found, the statements use the index, and the rows stored are the ones the plain spelling
(every value bound as is) stores."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from app.adapters.storage.sqlite import SCHEMA_VERSION, SqliteStorage, rows
from app.adapters.storage.sqlite.schema import MIGRATIONS, migrate
from app.domain.values import (
    Asset,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
    SlTpAnchor,
    TimeInForce,
)
from app.ports.errors import StorageError
from tests.adapters.storage import test_storage_contract as contract

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ORDER_COLUMNS = (
    "client_order_id, strategy_id, asset, symbol, side, qty, order_type, status, created_at, updated_at, price, "
    "broker_order_id, filled_qty, avg_price, fee, reason, reduce_only, closed"
)
INTENT_COLUMNS = (
    "seq, client_order_id, strategy_id, asset, symbol, side, qty, order_type, price, stop_price, time_in_force, "
    "reduce_only, stop_loss, take_profit, created_at, note, reference_price, stop_loss_relative, "
    "take_profit_relative"
)


def an_intent(cid: str, **changes: object) -> OrderIntent:
    return contract.an_intent(cid, **{"created_at": T0, **changes})


def an_order(cid: str, **changes: object) -> Order:
    return contract.an_order(
        cid, **{"status": OrderStatus.ACCEPTED, "created_at": T0, "updated_at": T0, **changes}
    )


def test_orders_from_before_the_migration_read_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "paper.db"
    # Written with the schema of migration 5: orders of several forms of id, open and closed, with intents.
    db = Database(sqlite3.connect(path, isolation_level=None), execute_plugins=False)
    migrate(db, path, MIGRATIONS[:5])
    db.close()
    ids = ["b-00000001", "a-00000002", "x", "sim-sl-1", "c-00000001"]
    with SqliteStorage.open(tmp_path / "new.db") as reference:
        for n, cid in enumerate(ids):
            reference.record_intent(an_intent(cid, side=Side.SELL if n % 2 else Side.BUY))
        reference.save_order(an_order("a-00000002", status=OrderStatus.FILLED, filled_qty=Decimal("0.5")))
        reference.save_order(an_order("x", price=Decimal("0.05"), broker_order_id="v-1"))
        before = (reference.orders(), reference.orders(open_only=True), [reference.intent(c) for c in ids])
    with sqlite3.connect(tmp_path / "new.db") as new, sqlite3.connect(path) as old:
        for table, columns in (("orders", "seq, " + ORDER_COLUMNS), ("intents", INTENT_COLUMNS)):
            found = new.execute(f"SELECT {columns} FROM {table} ORDER BY seq").fetchall()  # noqa: S608
            marks = ", ".join("?" * len(found[0]))
            old.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", found)  # noqa: S608

    with SqliteStorage.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 6
        assert (store.orders(), store.orders(open_only=True), [store.intent(c) for c in ids]) == before
        for order in before[0]:
            assert store.get_order(order.client_order_id) == order
        # the rows keep their seqs (intents are keyed by them) and new ones follow
        store.record_intent(an_intent("b-00000003"))
        assert [o.client_order_id for o in store.orders()] == [*ids, "b-00000003"]
        with pytest.raises(StorageError, match="already recorded"):
            store.record_intent(an_intent("x"))
    with sqlite3.connect(path) as conn:
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'orders'")}
    assert indexes == {"orders", "orders_open", "orders_by_client_id"}


@pytest.mark.parametrize(
    "sql",
    [
        rows.ORDER_UPDATE_OPEN,
        rows.ORDER_UPDATE_REOPENED,
        rows.ORDER_UPDATE_CLOSED,
        rows.INTENT_SELECT,
        rows.ORDER_OF_CLIENT_ID_SELECT,
    ],
    ids=["update-open", "update-reopened", "update-closed", "intent", "get-order"],
)
def test_an_order_is_found_by_its_client_id_through_the_index(tmp_path: Path, sql: str) -> None:
    # A SELECT must not let constant propagation rewrite the indexed expression (see rows.BY_CLIENT_ID).
    with SqliteStorage.open(tmp_path / "paper.db"):
        pass
    with sqlite3.connect(tmp_path / "paper.db") as conn:
        params = ("x",) * (17 if "?17" in sql else 1)
        plan = [str(r[-1]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    assert any(step.startswith("SEARCH orders USING") and "orders_by_client_id" in step for step in plan), (
        plan
    )
    assert not any(step.startswith("SCAN orders") for step in plan), plan


def test_ids_sharing_a_tail_or_shorter_than_it_are_distinct_orders(tmp_path: Path) -> None:
    ids = ["a-00000001", "b-00000001", "00000001", "1", "", "é-00000001", "a-00000001 "]
    with SqliteStorage.open(tmp_path / "paper.db") as store:
        for n, cid in enumerate(ids):
            store.record_intent(an_intent(cid, qty=Decimal(n + 1)))
        for n, cid in enumerate(ids):
            stored = store.get_order(cid)
            assert stored is not None
            assert (stored.client_order_id, stored.qty) == (cid, Decimal(n + 1))
            intent = store.intent(cid)
            assert intent is not None
            assert intent.qty == Decimal(n + 1)
            store.save_order(attrs.evolve(stored, status=OrderStatus.CANCELLED))
        assert store.get_order("c-00000001") is None
        for cid in ids:
            with pytest.raises(StorageError, match="already recorded"):
                store.record_intent(an_intent(cid))
        assert [o.status for o in store.orders()] == [OrderStatus.CANCELLED] * len(ids)


# -- the rows stored are the plain spelling's -------------------------------------------------------------


def _plain(value: object) -> object:
    """How the plain spelling bound a value: enum members as their value, Decimals as text, None as NULL."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (Asset, Side, OrderType, OrderStatus, TimeInForce)):
        return value.value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return rows.ts_text(value)
    return value


def _plain_order_row(o: Order) -> tuple[object, ...]:
    names = ORDER_COLUMNS.split(", ")[:-1]
    return (*(_plain(getattr(o, name)) for name in names), int(o.status.is_terminal))


def _plain_intent_row(seq: int, i: OrderIntent) -> tuple[object, ...]:
    a = i.anchor
    names = INTENT_COLUMNS.split(", ")[1:16]
    anchor = (
        (None, 0, 0)
        if a is None
        else (str(a.reference_price), int(a.stop_loss_relative), int(a.take_profit_relative))
    )
    return (seq, *(_plain(getattr(i, name)) for name in names), *anchor)


decimals = st.none() | st.decimals(
    allow_nan=False, allow_infinity=False, places=4, min_value=-(10**6), max_value=10**6
)
instants = st.integers(min_value=0, max_value=10**9).map(lambda us: T0 + timedelta(microseconds=us))
intents = st.builds(
    an_intent,
    st.from_regex(r"[a-z]{1,6}-[0-9]{8}", fullmatch=True),
    asset=st.sampled_from(Asset),
    side=st.sampled_from(Side),
    order_type=st.sampled_from(OrderType),
    qty=st.decimals(min_value=Decimal("0.0001"), max_value=10**6, places=4),
    price=decimals,
    stop_price=decimals,
    time_in_force=st.sampled_from(TimeInForce),
    reduce_only=st.booleans(),
    stop_loss=decimals,
    take_profit=decimals,
    created_at=instants,
    note=st.text(max_size=20),
    anchor=st.none()
    | st.builds(
        SlTpAnchor, st.decimals(min_value=1, max_value=10**6, places=2), st.booleans(), st.booleans()
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    intent=intents,
    states=st.lists(st.tuples(st.sampled_from(OrderStatus), decimals, decimals, instants), max_size=4),
)
def test_the_order_path_stores_the_plain_spellings_rows(
    tmp_path_factory: pytest.TempPathFactory,
    intent: OrderIntent,
    states: list[tuple[OrderStatus, Decimal | None, Decimal | None, datetime]],
) -> None:
    with SqliteStorage.open(tmp_path_factory.mktemp("db") / "paper.db") as store:
        store.record_intent(intent)
        conn = store._conn
        seq, *order_row = conn.execute(f"SELECT seq, {ORDER_COLUMNS} FROM orders").fetchone()  # noqa: S608
        new = an_order(
            intent.client_order_id,
            strategy_id=intent.strategy_id,
            asset=intent.asset,
            symbol=intent.symbol,
            side=intent.side,
            qty=intent.qty,
            order_type=intent.order_type,
            status=OrderStatus.NEW,
            created_at=intent.created_at,
            updated_at=intent.created_at,
            price=intent.price,
            reduce_only=intent.reduce_only,
        )
        assert tuple(order_row) == _plain_order_row(new)
        intent_row = conn.execute(f"SELECT {INTENT_COLUMNS} FROM intents").fetchone()  # noqa: S608
        assert intent_row == _plain_intent_row(seq, intent)
        assert store.intent(intent.client_order_id) == intent
        # then the order moves through states, open and closed, in any order (reopened too)
        for status, price, avg_price, at in states:
            order = attrs.evolve(
                new, status=status, price=price, avg_price=avg_price, updated_at=at, broker_order_id="v"
            )
            store.save_order(order)
            stored = conn.execute(f"SELECT {ORDER_COLUMNS} FROM orders").fetchall()  # noqa: S608
            assert stored == [_plain_order_row(order)]
            assert store.get_order(order.client_order_id) == order
        # an order the store never saw is inserted whole
        other = attrs.evolve(
            new, client_order_id="other-00000001", status=OrderStatus.FILLED, avg_price=Decimal(3)
        )
        store.save_order(other)
        found = conn.execute(
            f"SELECT {ORDER_COLUMNS} FROM orders WHERE client_order_id = 'other-00000001'"  # noqa: S608
        ).fetchone()
        assert found == _plain_order_row(other)
