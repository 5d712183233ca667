"""The SQLite schema as numbered migrations, applied in order and recorded in ``schema_version``.

A migration is never edited once released: a schema change is a new migration appended to ``MIGRATIONS``.
Money and quantities are TEXT (exact ``Decimal`` round trip), times ISO-8601 UTC TEXT, enums their values.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import final

import attrs
from sqlite_utils import Database

from app.ports.errors import StorageError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "migrate", "stored_version"]


@final
@attrs.frozen
class Migration:
    """One schema step: ``apply`` runs inside the transaction that records ``version``."""

    version: int
    description: str
    apply: Callable[[Database], None]


def _statements(*sql: str) -> Callable[[Database], None]:
    def apply(db: Database) -> None:
        for statement in sql:
            db.conn.execute(statement)

    return apply


_INITIAL = _statements(
    """CREATE TABLE schema_version (
        version INTEGER PRIMARY KEY,
        description TEXT NOT NULL,
        applied_at TEXT NOT NULL)""",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    # Monotonic counters (the order sequence behind client order ids); never reset.
    "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    # The write-ahead journal of intents: written once, before the broker call, never updated.
    """CREATE TABLE intents (
        client_order_id TEXT PRIMARY KEY,
        strategy_id TEXT NOT NULL,
        asset TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        qty TEXT NOT NULL,
        order_type TEXT NOT NULL,
        price TEXT,
        stop_price TEXT,
        time_in_force TEXT NOT NULL,
        reduce_only INTEGER NOT NULL,
        stop_loss TEXT,
        take_profit TEXT,
        created_at TEXT NOT NULL,
        note TEXT NOT NULL) WITHOUT ROWID""",
    # Current state of every order; seq (the rowid) keeps creation order across upserts.
    """CREATE TABLE orders (
        seq INTEGER PRIMARY KEY,
        client_order_id TEXT NOT NULL UNIQUE,
        strategy_id TEXT NOT NULL,
        asset TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        qty TEXT NOT NULL,
        order_type TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        price TEXT,
        broker_order_id TEXT NOT NULL,
        filled_qty TEXT NOT NULL,
        avg_price TEXT,
        fee TEXT NOT NULL,
        reason TEXT NOT NULL,
        reduce_only INTEGER NOT NULL)""",
    # Open orders are few among many: a partial index keeps `orders(open_only=True)` from scanning.
    """CREATE INDEX orders_open ON orders (seq)
        WHERE status NOT IN ('filled', 'cancelled', 'rejected', 'expired')""",
    """CREATE TABLE fills (
        fill_id TEXT PRIMARY KEY,
        client_order_id TEXT NOT NULL,
        asset TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        qty TEXT NOT NULL,
        price TEXT NOT NULL,
        fee TEXT NOT NULL,
        fee_currency TEXT NOT NULL,
        ts TEXT NOT NULL,
        liquidity TEXT NOT NULL)""",
    "CREATE INDEX fills_by_order ON fills (client_order_id)",
    """CREATE TABLE positions (
        asset TEXT NOT NULL,
        symbol TEXT NOT NULL,
        qty TEXT NOT NULL,
        avg_price TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        strategy_id TEXT NOT NULL,
        stop_loss TEXT,
        take_profit TEXT,
        entry_fees TEXT NOT NULL,
        PRIMARY KEY (asset, symbol)) WITHOUT ROWID""",
    """CREATE TABLE trades (
        id INTEGER PRIMARY KEY,
        strategy_id TEXT NOT NULL,
        asset TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        qty TEXT NOT NULL,
        entry_time TEXT NOT NULL,
        exit_time TEXT NOT NULL,
        entry_price TEXT NOT NULL,
        exit_price TEXT NOT NULL,
        fees TEXT NOT NULL,
        pnl TEXT NOT NULL,
        exit_reason TEXT NOT NULL)""",
    """CREATE TABLE accounts (
        asset TEXT PRIMARY KEY,
        currency TEXT NOT NULL,
        cash TEXT NOT NULL,
        equity TEXT NOT NULL,
        realized_pnl TEXT NOT NULL,
        ts TEXT NOT NULL) WITHOUT ROWID""",
    # Append-only (never deleted), so the rowid alone never repeats; AUTOINCREMENT would cost a
    # sqlite_sequence write per entry.
    """CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        ts TEXT NOT NULL,
        kind TEXT NOT NULL,
        fields TEXT NOT NULL)""",
    "CREATE INDEX events_by_kind ON events (kind, seq)",
)

# An entry's stop loss / take profit follow its fill (``SlTpAnchor``): the intent keeps the price they were
# computed from and whether each is a share of the price. Rows written before have no anchor (NULL price):
# their levels are attached as they were stored.
_SL_TP_ANCHOR = _statements(
    "ALTER TABLE intents ADD COLUMN reference_price TEXT",
    "ALTER TABLE intents ADD COLUMN stop_loss_relative INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE intents ADD COLUMN take_profit_relative INTEGER NOT NULL DEFAULT 0",
)

# A position accumulates the perpetual funding settled on it, and a closed trade keeps its share (its pnl
# counts it, as the backtester's does). Rows written before start at zero: funding was not journaled then.
_FUNDING = _statements(
    "ALTER TABLE positions ADD COLUMN funding TEXT NOT NULL DEFAULT '0'",
    "ALTER TABLE trades ADD COLUMN funding TEXT NOT NULL DEFAULT '0'",
)

# The open-orders index keys on a flag set only when an order reaches a final state, not on `status`: an
# update that moves an order between open states (new -> accepted -> partially filled), the answer to every
# order, no longer rewrites the index entry (about half the cost of that update, docs/decisions/0002).
_CLOSED_FLAG = _statements(
    "ALTER TABLE orders ADD COLUMN closed INTEGER NOT NULL DEFAULT 0",
    "UPDATE orders SET closed = 1 WHERE status IN ('filled', 'cancelled', 'rejected', 'expired')",
    "DROP INDEX orders_open",
    "CREATE INDEX orders_open ON orders (seq) WHERE closed = 0",
)

# Intents keyed by their order row's seq (an integer that only grows) instead of the client order id: ids
# start with the strategy's name, so with several strategies each new intent landed in its own leaf of a
# text-keyed tree, and every commit wrote one more page per order. Appended in seq order, a batch of intents
# shares one leaf; an intent is found through the orders table's client-id index. Every intent has its order
# row (both are written in one transaction); one that had none gets it, as the `new` order it started as.
_INTENTS_BY_SEQ = _statements(
    """INSERT INTO orders (client_order_id, strategy_id, asset, symbol, side, qty, order_type, status,
        created_at, updated_at, price, broker_order_id, filled_qty, avg_price, fee, reason, reduce_only)
        SELECT client_order_id, strategy_id, asset, symbol, side, qty, order_type, 'new', created_at,
        created_at, price, '', '0', NULL, '0', '', reduce_only FROM intents AS i
        WHERE NOT EXISTS (SELECT 1 FROM orders AS o WHERE o.client_order_id = i.client_order_id)""",
    """CREATE TABLE intents_by_seq (
        seq INTEGER PRIMARY KEY,
        client_order_id TEXT NOT NULL,
        strategy_id TEXT NOT NULL,
        asset TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        qty TEXT NOT NULL,
        order_type TEXT NOT NULL,
        price TEXT,
        stop_price TEXT,
        time_in_force TEXT NOT NULL,
        reduce_only INTEGER NOT NULL,
        stop_loss TEXT,
        take_profit TEXT,
        created_at TEXT NOT NULL,
        note TEXT NOT NULL,
        reference_price TEXT,
        stop_loss_relative INTEGER NOT NULL DEFAULT 0,
        take_profit_relative INTEGER NOT NULL DEFAULT 0)""",
    """INSERT INTO intents_by_seq SELECT o.seq, i.client_order_id, i.strategy_id, i.asset, i.symbol, i.side,
        i.qty, i.order_type, i.price, i.stop_price, i.time_in_force, i.reduce_only, i.stop_loss,
        i.take_profit, i.created_at, i.note, i.reference_price, i.stop_loss_relative, i.take_profit_relative
        FROM intents AS i JOIN orders AS o ON o.client_order_id = i.client_order_id ORDER BY o.seq""",
    "DROP TABLE intents",
    "ALTER TABLE intents_by_seq RENAME TO intents",
)

# The client-id index keyed on the id's last 8 characters first. Client order ids are "<strategy>-<seq, 8
# digits>" (app.domain.ids), so keyed on the whole id each strategy's new entries went to its own leaf: with
# ten strategies a batch's commit wrote ~13 index pages, half the pages of the commit. Keyed on the tail (the
# order sequence) first, a batch's entries share a leaf (~3 pages). Unique on (tail, id) is unique on the id
# (the tail is a function of the id), whatever its form; an id of another form only loses the locality.
# The table is rebuilt (same columns, same seqs) to drop the UNIQUE column constraint and its index.
_CLIENT_ID_BY_TAIL = _statements(
    """CREATE TABLE orders_by_tail (
        seq INTEGER PRIMARY KEY,
        client_order_id TEXT NOT NULL,
        strategy_id TEXT NOT NULL,
        asset TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        qty TEXT NOT NULL,
        order_type TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        price TEXT,
        broker_order_id TEXT NOT NULL,
        filled_qty TEXT NOT NULL,
        avg_price TEXT,
        fee TEXT NOT NULL,
        reason TEXT NOT NULL,
        reduce_only INTEGER NOT NULL,
        closed INTEGER NOT NULL DEFAULT 0)""",
    """INSERT INTO orders_by_tail (seq, client_order_id, strategy_id, asset, symbol, side, qty, order_type,
        status, created_at, updated_at, price, broker_order_id, filled_qty, avg_price, fee, reason,
        reduce_only, closed)
        SELECT seq, client_order_id, strategy_id, asset, symbol, side, qty, order_type, status, created_at,
        updated_at, price, broker_order_id, filled_qty, avg_price, fee, reason, reduce_only, closed
        FROM orders ORDER BY seq""",
    "DROP TABLE orders",
    "ALTER TABLE orders_by_tail RENAME TO orders",
    "CREATE INDEX orders_open ON orders (seq) WHERE closed = 0",
    "CREATE UNIQUE INDEX orders_by_client_id ON orders (substr(client_order_id, -8), client_order_id)",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "journal and state tables", _INITIAL),
    Migration(2, "intents: the price stop loss / take profit were computed from", _SL_TP_ANCHOR),
    Migration(3, "positions and trades: the funding settled on them", _FUNDING),
    Migration(4, "orders: the open-orders index keys on a closed flag", _CLOSED_FLAG),
    Migration(5, "intents keyed by their order row's seq", _INTENTS_BY_SEQ),
    Migration(6, "orders: the client-id index keyed on the id's tail first", _CLIENT_ID_BY_TAIL),
)

SCHEMA_VERSION = MIGRATIONS[-1].version
"""The schema version this code writes and understands."""


def stored_version(conn: sqlite3.Connection) -> int:
    """The highest migration recorded in the database (0 for a new, empty one)."""
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if found is None:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(db: Database, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the database at ``path`` up to the last of ``migrations``; returns the version reached.

    Each pending migration runs in its own transaction together with its ``schema_version`` row, so a
    crash leaves the database at the previous version, never half-migrated.

    Raises:
        StorageError: the database was written by newer code, or a migration failed.
    """
    conn = db.conn
    known = migrations[-1].version if migrations else 0
    try:
        version = stored_version(conn)
    except sqlite3.Error as e:
        msg = f"{path}: cannot read the schema version: {e}"
        raise StorageError(msg) from e
    if version > known:
        msg = (
            f"{path}: database schema version {version} is newer than this program knows "
            f"({known}); upgrade the program"
        )
        raise StorageError(msg)
    for step in migrations:
        if step.version <= version:
            continue
        try:
            conn.execute("BEGIN IMMEDIATE")
            # Another process may have migrated between our read and our write lock.
            if (version := stored_version(conn)) >= step.version:
                conn.execute("ROLLBACK")
                continue
            step.apply(db)
            conn.execute(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                (step.version, step.description, datetime.now(UTC).isoformat()),
            )
            conn.execute("COMMIT")
            version = step.version
        except sqlite3.Error as e:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            msg = f"{path}: migration {step.version} ({step.description}) failed: {e}"
            raise StorageError(msg) from e
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return version
