"""Migration 3: positions and closed trades keep the perpetual funding settled on them; rows written before it
(when funding was not journaled) read back with none."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from sqlite_utils import Database

from app.adapters.storage.sqlite import SCHEMA_VERSION, SqliteStorage
from app.adapters.storage.sqlite.schema import MIGRATIONS, migrate


def test_a_journal_from_before_the_migration_keeps_its_positions_and_trades_with_no_funding(
    tmp_path: Path,
) -> None:
    path = tmp_path / "paper.db"
    db = Database(sqlite3.connect(path, isolation_level=None), execute_plugins=False)
    migrate(db, path, MIGRATIONS[:2])
    db.conn.execute(
        "INSERT INTO positions (asset, symbol, qty, avg_price, opened_at, strategy_id, stop_loss, "
        "take_profit, entry_fees) VALUES ('futures', 'XRPUSDT', '-414.125425', '1.2067', "
        "'2021-11-15T03:40:00.000000+00:00', 'perp', '1.2131', '1.1826', '0.27')"
    )
    db.conn.execute(
        "INSERT INTO trades (strategy_id, asset, symbol, side, qty, entry_time, exit_time, entry_price, "
        "exit_price, fees, pnl, exit_reason) VALUES ('perp', 'futures', 'XRPUSDT', 'buy', '410.5', "
        "'2021-11-15T00:40:00.000000+00:00', '2021-11-15T02:10:00.000000+00:00', '1.19', '1.2', '0.54', "
        "'3.56', 'signal')"
    )
    db.close()

    with SqliteStorage.open(path) as store:
        [position] = store.positions()
        [trade] = store.trades()
        assert store.schema_version == SCHEMA_VERSION

    assert (position.qty, position.entry_fees, position.funding) == (
        Decimal("-414.125425"),
        Decimal("0.27"),
        Decimal(0),
    )
    assert (trade.pnl, trade.funding, trade.price_pnl) == (Decimal("3.56"), Decimal(0), Decimal("4.10"))
