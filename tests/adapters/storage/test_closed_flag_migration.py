"""Migration 4: the open-orders index keys on a `closed` flag instead of the status, so the answer to an order
(an update between open states) leaves it alone; orders written before it keep their open/closed standing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import attrs
from sqlite_utils import Database

from app.adapters.storage.sqlite import SCHEMA_VERSION, SqliteStorage
from app.adapters.storage.sqlite.rows import OPEN_ORDER_SELECT
from app.adapters.storage.sqlite.schema import MIGRATIONS, migrate
from app.domain.values import OrderStatus

ORDER_V3 = (
    "INSERT INTO orders (client_order_id, strategy_id, asset, symbol, side, qty, order_type, status, created_at, "
    "updated_at, price, broker_order_id, filled_qty, avg_price, fee, reason, reduce_only) VALUES (?, 's', "
    "'spot', 'ETHBTC', 'buy', '1', 'market', ?, '2024-01-01T00:00:00.000000+00:00', "
    "'2024-01-01T00:00:00.000000+00:00', NULL, '', '0', NULL, '0', '', 0)"
)


def test_orders_from_before_the_migration_keep_their_open_or_closed_standing(tmp_path: Path) -> None:
    path = tmp_path / "paper.db"
    db = Database(sqlite3.connect(path, isolation_level=None), execute_plugins=False)
    migrate(db, path, MIGRATIONS[:3])
    for status in OrderStatus:
        db.conn.execute(ORDER_V3, (f"cid-{status.value}", status.value))
    db.close()

    with SqliteStorage.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        open_ids = [o.client_order_id for o in store.orders(open_only=True)]
        assert open_ids == [f"cid-{s.value}" for s in OrderStatus if not s.is_terminal]
        # and they move on as new ones do
        accepted = store.get_order("cid-accepted")
        assert accepted is not None
        store.save_order(attrs.evolve(accepted, status=OrderStatus.FILLED))
        assert "cid-accepted" not in [o.client_order_id for o in store.orders(open_only=True)]


def test_the_open_orders_query_reads_the_partial_index(tmp_path: Path) -> None:
    with SqliteStorage.open(tmp_path / "paper.db"):
        pass
    with sqlite3.connect(tmp_path / "paper.db") as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + OPEN_ORDER_SELECT))
    assert "orders_open" in plan
