"""Migration 2: an intent keeps the price its stop loss / take profit were computed from (``SlTpAnchor``), so
sl_tp_manager re-attaches the same fill-anchored levels after a restart; intents written before it have none."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlite_utils import Database

from app.adapters.storage.sqlite import SCHEMA_VERSION, SqliteStorage
from app.adapters.storage.sqlite.schema import MIGRATIONS, migrate
from app.domain.values import Asset, OrderIntent, Side, SlTpAnchor
from tests.fakes.memory_storage import MemoryStorage

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def anchored(cid: str = "perp-00000001", anchor: SlTpAnchor | None = None) -> OrderIntent:
    return OrderIntent(
        client_order_id=cid,
        strategy_id="perp",
        asset=Asset.FUTURES,
        symbol="XRPUSDT",
        side=Side.SELL,
        qty=Decimal("414.125425"),
        stop_loss=Decimal("1.213076314792333829"),
        take_profit=Decimal("1.182566"),
        created_at=T0,
        anchor=anchor,
    )


@pytest.mark.parametrize(
    "anchor",
    [
        SlTpAnchor(Decimal("1.2067"), stop_loss_relative=False, take_profit_relative=True),
        SlTpAnchor(Decimal("1.2067"), stop_loss_relative=True, take_profit_relative=False),
        None,
    ],
)
@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_an_intent_keeps_its_anchor_exactly(tmp_path: Path, kind: str, anchor: SlTpAnchor | None) -> None:
    store = SqliteStorage.open(tmp_path / "paper.db") if kind == "sqlite" else MemoryStorage()
    try:
        store.record_intent(anchored(anchor=anchor))
        assert store.intent("perp-00000001") == anchored(anchor=anchor)
    finally:
        store.close()


def test_a_journal_from_before_the_migration_keeps_its_intents_without_an_anchor(tmp_path: Path) -> None:
    path = tmp_path / "paper.db"
    db = Database(sqlite3.connect(path, isolation_level=None), execute_plugins=False)
    migrate(db, path, MIGRATIONS[:1])
    db.conn.execute(
        "INSERT INTO intents (client_order_id, strategy_id, asset, symbol, side, qty, order_type, price, "
        "stop_price, time_in_force, reduce_only, stop_loss, take_profit, created_at, note) VALUES "
        "('old-00000001', 'old', 'spot', 'ETHBTC', 'buy', '0.1', 'market', NULL, NULL, 'gtc', 0, '0.05', "
        "NULL, '2024-03-01T12:00:00.000000+00:00', 'signal')"
    )
    db.close()

    with SqliteStorage.open(path) as store:
        old = store.intent("old-00000001")
        store.record_intent(anchored())
        assert store.schema_version == SCHEMA_VERSION

    assert old is not None
    assert (old.stop_loss, old.take_profit, old.anchor) == (Decimal("0.05"), None, None)
