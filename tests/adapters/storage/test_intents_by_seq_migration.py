"""Migration 5: intents keyed by their order row's seq. Intents written before it read back the same, an
intent that had no order row gets one (the `new` order it started as), and new intents keep working."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlite_utils import Database

from app.adapters.storage.sqlite import SCHEMA_VERSION, SqliteStorage
from app.adapters.storage.sqlite.schema import MIGRATIONS, migrate
from app.domain.values import Asset, OrderIntent, OrderStatus, OrderType, Side, SlTpAnchor

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def an_intent(cid: str, strategy: str, **changes: object) -> OrderIntent:
    fields: dict[str, object] = {
        "client_order_id": cid,
        "strategy_id": strategy,
        "asset": Asset.SPOT,
        "symbol": "ETHBTC",
        "side": Side.BUY,
        "qty": Decimal("0.5"),
        "order_type": OrderType.MARKET,
        "stop_loss": Decimal("0.049"),
        "created_at": T0,
        "note": "signal",
        "anchor": SlTpAnchor(Decimal("0.05"), True, False),
        **changes,
    }
    return OrderIntent(**fields)  # type: ignore[arg-type]


def test_intents_from_before_the_migration_read_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "paper.db"
    with SqliteStorage.open(path) as store:  # the current schema: the intents to compare with
        written = [an_intent("b-00000001", "b"), an_intent("a-00000002", "a", side=Side.SELL)]
        for intent in written:
            store.record_intent(intent)

    old = tmp_path / "old.db"
    db = Database(sqlite3.connect(old, isolation_level=None), execute_plugins=False)
    migrate(db, old, MIGRATIONS[:4])
    # The same two intents as migration 4 stored them (keyed by client order id), the second without an
    # order row, and an order that never had an intent.
    with sqlite3.connect(path) as current:
        rows = current.execute(
            "SELECT client_order_id, strategy_id, asset, symbol, side, qty, order_type, price, stop_price, "
            "time_in_force, reduce_only, stop_loss, take_profit, created_at, note, reference_price, "
            "stop_loss_relative, take_profit_relative FROM intents ORDER BY seq"
        ).fetchall()
        first_order = current.execute("SELECT * FROM orders ORDER BY seq LIMIT 1").fetchone()
    db.conn.executemany(
        "INSERT INTO intents (client_order_id, strategy_id, asset, symbol, side, qty, order_type, price, "
        "stop_price, time_in_force, reduce_only, stop_loss, take_profit, created_at, note, reference_price, "
        "stop_loss_relative, take_profit_relative) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    db.conn.execute(
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", first_order
    )
    db.conn.execute(
        "INSERT INTO orders (client_order_id, strategy_id, asset, symbol, side, qty, order_type, status, "
        "created_at, updated_at, broker_order_id, filled_qty, fee, reason, reduce_only) VALUES ('sim-sl-1', "
        "'b', 'spot', 'ETHBTC', 'sell', '0.5', 'stop', 'accepted', '2024-01-01T00:00:00.000000+00:00', "
        "'2024-01-01T00:00:00.000000+00:00', 'x', '0', '0', '', 1)"
    )
    db.close()

    with SqliteStorage.open(old) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert [store.intent(i.client_order_id) for i in written] == written
        assert store.intent("sim-sl-1") is None
        restored = store.get_order("a-00000002")
        assert restored is not None
        assert (restored.status, restored.qty) == (OrderStatus.NEW, Decimal("0.5"))
        assert [o.client_order_id for o in store.orders()] == ["b-00000001", "sim-sl-1", "a-00000002"]
        later = an_intent("a-00000003", "a")
        store.record_intent(later)
        assert store.intent("a-00000003") == later
