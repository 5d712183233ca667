"""SqliteStorage: the Storage port on one SQLite file (WAL, ``synchronous=NORMAL``, explicit transactions).

Why NORMAL and not FULL: docs/decisions/0002-sqlite-synchronous.md. The connection runs in autocommit mode
(``isolation_level=None``) so that transactions are ours: ``BEGIN IMMEDIATE`` at depth 0, savepoints below.
Hot paths use plain ``conn.execute`` with parameters; sqlite-utils drives the pragmas and the migrations.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar, final

from sqlite_utils import Database

from app.adapters.storage.sqlite.schema import SCHEMA_VERSION, migrate, stored_version
from app.domain.values import (
    AccountSnapshot,
    Asset,
    ClosedTrade,
    Fill,
    Liquidity,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Position,
    Side,
    TimeInForce,
)
from app.ports.errors import StorageError
from app.ports.storage import JournalEvent

__all__ = ["SqliteStorage"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

_BUSY_TIMEOUT_MS = 5_000
# Checkpoint every ~16 MB of WAL instead of SQLite's ~4 MB: each checkpoint costs an fsync, and fewer, larger
# ones (hot pages are copied once) roughly halved the mean cost per order and cut p99 from ~20 ms to ~5 ms.
_WAL_AUTOCHECKPOINT_PAGES = 4_000
_WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
_EVENT_PAGE = 1_000
_ORDER_SEQ = "order_seq"


class _Refused(ValueError):
    """A write the store refuses: a duplicate client id, a naive datetime, a value JSON cannot hold."""


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _ts(value: datetime) -> str:
    offset = value.utcoffset()
    if offset is None:
        msg = f"timestamps must be timezone-aware, got {value!r}"
        raise _Refused(msg)
    if offset:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


_dt = datetime.fromisoformat


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return _ts(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    msg = f"event field of type {type(value).__name__} cannot be stored as JSON"
    raise _Refused(msg)


def _translated(
    fn: Callable[Concatenate[SqliteStorage, _P], _R],
) -> Callable[Concatenate[SqliteStorage, _P], _R]:
    """Turn sqlite3 errors (and refused writes) into StorageError naming the file and the call."""

    @functools.wraps(fn)
    def wrapper(self: SqliteStorage, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(self, *args, **kwargs)
        except (sqlite3.Error, _Refused) as e:
            msg = f"{self.path}: {fn.__name__} failed: {e}"
            raise StorageError(msg) from e

    return wrapper


# The SQL is spelled out in full: every value is a bound parameter, and a reader sees each statement whole.
# Enum members are StrEnums: they bind as their TEXT value, so the hot path skips `.value` lookups.
_ORDER_SELECT = (
    "SELECT client_order_id, strategy_id, asset, symbol, side, qty, order_type, status, created_at, "
    "updated_at, price, broker_order_id, filled_qty, avg_price, fee, reason, reduce_only FROM orders"
)
_ORDER_INSERT = (
    "INSERT INTO orders (client_order_id, strategy_id, asset, symbol, side, qty, order_type, status, "
    "created_at, updated_at, price, broker_order_id, filled_qty, avg_price, fee, reason, reduce_only) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_ORDER_UPSERT = _ORDER_INSERT + (
    " ON CONFLICT (client_order_id) DO UPDATE SET strategy_id = excluded.strategy_id, "
    "asset = excluded.asset, symbol = excluded.symbol, side = excluded.side, qty = excluded.qty, "
    "order_type = excluded.order_type, status = excluded.status, created_at = excluded.created_at, "
    "updated_at = excluded.updated_at, price = excluded.price, "
    "broker_order_id = excluded.broker_order_id, filled_qty = excluded.filled_qty, "
    "avg_price = excluded.avg_price, fee = excluded.fee, reason = excluded.reason, "
    "reduce_only = excluded.reduce_only"
)
# Spelled exactly as the orders_open partial index, so that SQLite uses it.
_OPEN_ORDER_SELECT = (
    _ORDER_SELECT + " WHERE status NOT IN ('filled', 'cancelled', 'rejected', 'expired') ORDER BY seq"
)
_INTENT_SELECT = (
    "SELECT client_order_id, strategy_id, asset, symbol, side, qty, order_type, price, stop_price, "
    "time_in_force, reduce_only, stop_loss, take_profit, created_at, note FROM intents "
    "WHERE client_order_id = ?"
)
_INTENT_INSERT = (
    "INSERT INTO intents (client_order_id, strategy_id, asset, symbol, side, qty, order_type, price, "
    "stop_price, time_in_force, reduce_only, stop_loss, take_profit, created_at, note) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_FILL_SELECT = (
    "SELECT fill_id, client_order_id, asset, symbol, side, qty, price, fee, fee_currency, ts, liquidity "
    "FROM fills"
)
_FILL_INSERT = (
    "INSERT INTO fills (fill_id, client_order_id, asset, symbol, side, qty, price, fee, fee_currency, "
    "ts, liquidity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fill_id) DO NOTHING"
)
_POSITION_SELECT = (
    "SELECT asset, symbol, qty, avg_price, opened_at, strategy_id, stop_loss, take_profit, entry_fees "
    "FROM positions ORDER BY asset, symbol"
)
_POSITION_UPSERT = (
    "INSERT OR REPLACE INTO positions (asset, symbol, qty, avg_price, opened_at, strategy_id, "
    "stop_loss, take_profit, entry_fees) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_TRADE_SELECT = (
    "SELECT strategy_id, asset, symbol, side, qty, entry_time, exit_time, entry_price, exit_price, "
    "fees, pnl, exit_reason FROM trades ORDER BY id"
)
_TRADE_INSERT = (
    "INSERT INTO trades (strategy_id, asset, symbol, side, qty, entry_time, exit_time, entry_price, "
    "exit_price, fees, pnl, exit_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_ACCOUNT_SELECT = "SELECT asset, currency, cash, equity, realized_pnl, ts FROM accounts ORDER BY asset"
_ACCOUNT_UPSERT = (
    "INSERT OR REPLACE INTO accounts (asset, currency, cash, equity, realized_pnl, ts) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_EVENT_SELECT = "SELECT seq, ts, kind, fields FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
_EVENT_OF_KIND_SELECT = (
    "SELECT seq, ts, kind, fields FROM events WHERE kind = ? AND seq > ? ORDER BY seq LIMIT ?"
)


def _order_row(o: Order) -> tuple[object, ...]:
    return (
        o.client_order_id, o.strategy_id, o.asset, o.symbol, o.side, str(o.qty),
        o.order_type, o.status, _ts(o.created_at), _ts(o.updated_at), _text(o.price),
        o.broker_order_id, str(o.filled_qty), _text(o.avg_price), str(o.fee), o.reason,
        int(o.reduce_only),
    )  # fmt: skip


def _order(r: Sequence[Any]) -> Order:
    return Order(
        client_order_id=r[0], strategy_id=r[1], asset=Asset(r[2]), symbol=r[3], side=Side(r[4]),
        qty=Decimal(r[5]), order_type=OrderType(r[6]), status=OrderStatus(r[7]),
        created_at=_dt(r[8]), updated_at=_dt(r[9]), price=_dec(r[10]), broker_order_id=r[11],
        filled_qty=Decimal(r[12]), avg_price=_dec(r[13]), fee=Decimal(r[14]), reason=r[15],
        reduce_only=bool(r[16]),
    )  # fmt: skip


def _intent(r: Sequence[Any]) -> OrderIntent:
    return OrderIntent(
        client_order_id=r[0], strategy_id=r[1], asset=Asset(r[2]), symbol=r[3], side=Side(r[4]),
        qty=Decimal(r[5]), order_type=OrderType(r[6]), price=_dec(r[7]), stop_price=_dec(r[8]),
        time_in_force=TimeInForce(r[9]), reduce_only=bool(r[10]), stop_loss=_dec(r[11]),
        take_profit=_dec(r[12]), created_at=_dt(r[13]), note=r[14],
    )  # fmt: skip


def _fill(r: Sequence[Any]) -> Fill:
    return Fill(
        fill_id=r[0], client_order_id=r[1], asset=Asset(r[2]), symbol=r[3], side=Side(r[4]),
        qty=Decimal(r[5]), price=Decimal(r[6]), fee=Decimal(r[7]), fee_currency=r[8], ts=_dt(r[9]),
        liquidity=Liquidity(r[10]),
    )  # fmt: skip


def _position(r: Sequence[Any]) -> Position:
    return Position(
        asset=Asset(r[0]), symbol=r[1], qty=Decimal(r[2]), avg_price=Decimal(r[3]),
        opened_at=_dt(r[4]), strategy_id=r[5], stop_loss=_dec(r[6]), take_profit=_dec(r[7]),
        entry_fees=Decimal(r[8]),
    )  # fmt: skip


def _trade(r: Sequence[Any]) -> ClosedTrade:
    return ClosedTrade(
        strategy_id=r[0], asset=Asset(r[1]), symbol=r[2], side=Side(r[3]), qty=Decimal(r[4]),
        entry_time=_dt(r[5]), exit_time=_dt(r[6]), entry_price=Decimal(r[7]),
        exit_price=Decimal(r[8]), fees=Decimal(r[9]), pnl=Decimal(r[10]), exit_reason=r[11],
    )  # fmt: skip


def _account(r: Sequence[Any]) -> AccountSnapshot:
    return AccountSnapshot(
        asset=Asset(r[0]), currency=r[1], cash=Decimal(r[2]), equity=Decimal(r[3]),
        realized_pnl=Decimal(r[4]), ts=_dt(r[5]),
    )  # fmt: skip


def _create_private(path: Path) -> bool:
    """Create missing parent folders (0700) and the empty database file (0600); False if it existed."""
    missing: list[Path] = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        folder.chmod(0o700)  # mkdir's mode is filtered by the umask
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return True


@final
class _Transaction:
    __slots__ = ("_store",)

    def __init__(self, store: SqliteStorage) -> None:
        self._store = store

    def __enter__(self) -> None:
        self._store._begin()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self._store._commit()
        else:
            self._store._rollback()


@final
class SqliteStorage:
    """The Storage port on a SQLite file. Create it with ``SqliteStorage.open(path)``."""

    def __init__(self, conn: sqlite3.Connection, path: Path, *, readonly: bool) -> None:
        self._conn = conn
        self._path = path
        self._readonly = readonly
        self._depth = 0
        self._last_order_seq = 0

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False) -> SqliteStorage:
        """Open (and create, migrate) the database at ``path``; ``readonly`` never writes or creates.

        A new file is created 0600 in a parent folder created 0700 if missing.

        Raises:
            StorageError: the file cannot be created or opened, is not a database, is missing (readonly),
                needs a migration (readonly), or was written by a newer version of the program.
        """
        path = Path(path)
        conn: sqlite3.Connection | None = None
        try:
            if readonly:
                if not path.is_file():
                    msg = f"{path}: no such database"
                    raise StorageError(msg)
                uri = f"{path.resolve().as_uri()}?mode=ro"
                conn = sqlite3.connect(uri, uri=True, isolation_level=None)
                cls._check_readable(conn, path)
            else:
                _create_private(path)
                conn = sqlite3.connect(path, isolation_level=None)
                cls._prepare(conn, path)
        except (sqlite3.Error, OSError) as e:
            if conn is not None:
                conn.close()
            msg = f"{path}: cannot open database: {e}"
            raise StorageError(msg) from e
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return cls(conn, path, readonly=readonly)

    @staticmethod
    def _prepare(conn: sqlite3.Connection, path: Path) -> None:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        db = Database(conn, execute_plugins=False, recursive_triggers=False)
        db.enable_wal()
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA wal_autocheckpoint = {_WAL_AUTOCHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit = {_WAL_SIZE_LIMIT_BYTES}")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(db, path)
        # SQLite gives -wal/-shm the main file's mode; make sure anyway, they hold the same data.
        for suffix in ("-wal", "-shm"):
            side_file = path.with_name(path.name + suffix)
            if side_file.exists() and side_file.stat().st_mode & 0o077:
                side_file.chmod(0o600)

    @staticmethod
    def _check_readable(conn: sqlite3.Connection, path: Path) -> None:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        version = stored_version(conn)
        if version > SCHEMA_VERSION:
            msg = (
                f"{path}: database schema version {version} is newer than this program knows "
                f"({SCHEMA_VERSION}); upgrade the program"
            )
            raise StorageError(msg)
        if version < SCHEMA_VERSION:
            msg = (
                f"{path}: database schema version {version} needs migrating to {SCHEMA_VERSION}; "
                "open it once read-write"
            )
            raise StorageError(msg)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def readonly(self) -> bool:
        return self._readonly

    @property
    @_translated
    def schema_version(self) -> int:
        """The schema version recorded in the file."""
        return stored_version(self._conn)

    def __enter__(self) -> SqliteStorage:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------------------

    def transaction(self) -> _Transaction:
        """Group writes: all commit at the end of the block, or none if it raises. Nestable."""
        return _Transaction(self)

    @_translated
    def _begin(self) -> None:
        if self._depth == 0:
            self._conn.execute("BEGIN IMMEDIATE")
        else:
            self._conn.execute(f"SAVEPOINT s{self._depth}")
        self._depth += 1

    @_translated
    def _commit(self) -> None:
        self._depth -= 1
        try:
            if self._depth == 0:
                self._conn.execute("COMMIT")
            else:
                self._conn.execute(f"RELEASE SAVEPOINT s{self._depth}")
        except sqlite3.Error:
            self._depth += 1
            self._rollback()
            raise

    @_translated
    def _rollback(self) -> None:
        self._depth -= 1
        # An error such as SQLITE_FULL may already have ended the transaction on SQLite's side.
        if not self._conn.in_transaction:
            return
        if self._depth == 0:
            self._conn.execute("ROLLBACK")
        else:
            self._conn.execute(f"ROLLBACK TO SAVEPOINT s{self._depth}")
            self._conn.execute(f"RELEASE SAVEPOINT s{self._depth}")

    # -- orders ---------------------------------------------------------------------------------

    @_translated
    def next_order_seq(self) -> int:
        """A sequence number never returned before by this store (used for client order ids)."""
        (value,) = self._conn.execute(
            "INSERT INTO counters (name, value) VALUES (?, 1) "
            "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
            (_ORDER_SEQ,),
        ).fetchall()[0]
        if value <= self._last_order_seq:
            # A rolled-back transaction took the counter back: never hand a number out twice.
            value = self._last_order_seq + 1
            self._conn.execute("UPDATE counters SET value = ? WHERE name = ?", (value, _ORDER_SEQ))
        self._last_order_seq = value
        return int(value)

    @_translated
    def record_intent(self, intent: OrderIntent) -> None:
        """Write-ahead: store the intent (as an order in status ``new``) before the broker is called.

        Raises StorageError if the client order id already exists, or the intent has no ``created_at``.
        """
        i = intent
        if i.created_at is None:
            msg = f"intent {i.client_order_id!r} has no created_at (stamp it from the Clock)"
            raise _Refused(msg)
        created = _ts(i.created_at)
        price = _text(i.price)
        try:
            with self.transaction():
                self._conn.execute(
                    _INTENT_INSERT,
                    (
                        i.client_order_id, i.strategy_id, i.asset, i.symbol, i.side,
                        str(i.qty), i.order_type, price, _text(i.stop_price),
                        i.time_in_force, int(i.reduce_only), _text(i.stop_loss),
                        _text(i.take_profit), created, i.note,
                    ),
                )  # fmt: skip
                self._conn.execute(
                    _ORDER_INSERT,
                    (
                        i.client_order_id, i.strategy_id, i.asset, i.symbol, i.side,
                        str(i.qty), i.order_type, OrderStatus.NEW, created, created,
                        price, "", "0", None, "0", "", int(i.reduce_only),
                    ),
                )  # fmt: skip
        except sqlite3.IntegrityError as e:
            msg = f"client order id {i.client_order_id!r} is already recorded"
            raise _Refused(msg) from e

    @_translated
    def save_order(self, order: Order) -> None:
        """Insert or update an order's current state (keyed by client order id)."""
        self._conn.execute(_ORDER_UPSERT, _order_row(order))

    @_translated
    def get_order(self, client_order_id: str) -> Order | None:
        row = self._conn.execute(_ORDER_SELECT + " WHERE client_order_id = ?", (client_order_id,)).fetchone()
        return None if row is None else _order(row)

    @_translated
    def orders(self, *, open_only: bool = False) -> Sequence[Order]:
        """All orders in creation order; ``open_only`` keeps those not in a terminal state."""
        sql = _OPEN_ORDER_SELECT if open_only else _ORDER_SELECT + " ORDER BY seq"
        rows = self._conn.execute(sql).fetchall()
        return [_order(r) for r in rows]

    @_translated
    def intent(self, client_order_id: str) -> OrderIntent | None:
        """The intent as first written (its stop loss / take profit, note)."""
        row = self._conn.execute(_INTENT_SELECT, (client_order_id,)).fetchone()
        return None if row is None else _intent(row)

    # -- fills, positions, trades, accounts ---------------------------------------------------

    @_translated
    def add_fill(self, fill: Fill) -> bool:
        """Record a fill; False (and no change) if its fill id is already recorded."""
        f = fill
        cursor = self._conn.execute(
            _FILL_INSERT,
            (
                f.fill_id, f.client_order_id, f.asset, f.symbol, f.side, str(f.qty),
                str(f.price), str(f.fee), f.fee_currency, _ts(f.ts), f.liquidity,
            ),
        )  # fmt: skip
        return cursor.rowcount == 1

    @_translated
    def fills(self, client_order_id: str | None = None) -> Sequence[Fill]:
        if client_order_id is None:
            rows = self._conn.execute(_FILL_SELECT + " ORDER BY rowid").fetchall()
        else:
            rows = self._conn.execute(
                _FILL_SELECT + " WHERE client_order_id = ? ORDER BY rowid", (client_order_id,)
            ).fetchall()
        return [_fill(r) for r in rows]

    @_translated
    def save_position(self, position: Position) -> None:
        """Insert or replace the open position of (asset, symbol)."""
        p = position
        self._conn.execute(
            _POSITION_UPSERT,
            (
                p.asset, p.symbol, str(p.qty), str(p.avg_price), _ts(p.opened_at),
                p.strategy_id, _text(p.stop_loss), _text(p.take_profit), str(p.entry_fees),
            ),
        )  # fmt: skip

    @_translated
    def delete_position(self, asset: Asset, symbol: str) -> None:
        self._conn.execute("DELETE FROM positions WHERE asset = ? AND symbol = ?", (asset, symbol))

    @_translated
    def positions(self) -> Sequence[Position]:
        rows = self._conn.execute(_POSITION_SELECT).fetchall()
        return [_position(r) for r in rows]

    @_translated
    def add_trade(self, trade: ClosedTrade) -> None:
        t = trade
        self._conn.execute(
            _TRADE_INSERT,
            (
                t.strategy_id, t.asset, t.symbol, t.side, str(t.qty),
                _ts(t.entry_time), _ts(t.exit_time), str(t.entry_price), str(t.exit_price),
                str(t.fees), str(t.pnl), t.exit_reason,
            ),
        )  # fmt: skip

    @_translated
    def trades(self) -> Sequence[ClosedTrade]:
        rows = self._conn.execute(_TRADE_SELECT).fetchall()
        return [_trade(r) for r in rows]

    @_translated
    def save_account(self, snapshot: AccountSnapshot) -> None:
        """Replace the asset's latest wallet valuation."""
        a = snapshot
        self._conn.execute(
            _ACCOUNT_UPSERT,
            (a.asset, a.currency, str(a.cash), str(a.equity), str(a.realized_pnl), _ts(a.ts)),
        )

    @_translated
    def accounts(self) -> Sequence[AccountSnapshot]:
        rows = self._conn.execute(_ACCOUNT_SELECT).fetchall()
        return [_account(r) for r in rows]

    # -- journal and meta ---------------------------------------------------------------------

    @_translated
    def append_event(self, ts: datetime, kind: str, fields: Mapping[str, Any]) -> int:
        """Append to the journal; returns the entry's sequence number.

        Decimal, datetime, date and enum values in ``fields`` are stored as strings.
        """
        payload = json.dumps(fields, default=_json_default, separators=(",", ":"))
        cursor = self._conn.execute(
            "INSERT INTO events (ts, kind, fields) VALUES (?, ?, ?)", (_ts(ts), kind, payload)
        )
        return int(cursor.lastrowid or 0)

    def events(self, *, kind: str | None = None, after_seq: int = 0) -> Iterator[JournalEvent]:
        """Journal entries after ``after_seq`` in sequence order, optionally of one ``kind`` only."""
        last = after_seq
        while True:
            page = self._event_page(kind, last)
            for seq, ts, entry_kind, payload in page:
                yield seq, _dt(ts), entry_kind, json.loads(payload)
            if len(page) < _EVENT_PAGE:
                return
            last = page[-1][0]

    @_translated
    def _event_page(self, kind: str | None, after_seq: int) -> list[Any]:
        # Pages, not one long-lived cursor: a reader must not pin the WAL while the writer goes on.
        if kind is None:
            return self._conn.execute(_EVENT_SELECT, (after_seq, _EVENT_PAGE)).fetchall()
        return self._conn.execute(_EVENT_OF_KIND_SELECT, (kind, after_seq, _EVENT_PAGE)).fetchall()

    @_translated
    def get_meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @_translated
    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @_translated
    def close(self) -> None:
        """Close the file; an open transaction is rolled back. Closing twice is harmless."""
        self._conn.close()
