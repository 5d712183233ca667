"""SqliteStorage: the Storage port on one SQLite file (WAL, ``synchronous=NORMAL``, explicit transactions).

Why NORMAL and not FULL: docs/decisions/0002-sqlite-synchronous.md. The connection runs in autocommit mode
(``isolation_level=None``) so that transactions are ours: ``BEGIN IMMEDIATE`` at depth 0, savepoints below.
Hot paths use plain ``conn.execute`` with parameters; sqlite-utils drives the pragmas and the migrations.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar, final

from sqlite_utils import Database

from app.adapters.storage.sqlite import rows
from app.adapters.storage.sqlite.rows import Refused, ts_text
from app.adapters.storage.sqlite.schema import SCHEMA_VERSION, migrate, stored_version
from app.domain.values import AccountSnapshot, Asset, ClosedTrade, Fill, Order, OrderIntent, Position
from app.ports.errors import StorageError
from app.ports.storage import JournalEvent

__all__ = ["SqliteStorage"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

_BUSY_TIMEOUT_MS = 5_000
# New files only (a file that has pages keeps its size). Each commit writes whole pages to the WAL and the
# order path's rows are small: 2 KiB pages halve the bytes written, checksummed and synced per order against
# SQLite's 4 KiB (docs/decisions/0002), and a typical intent row still needs no overflow page (a WITHOUT
# ROWID table keeps up to ~490 bytes of a row in a 2 KiB page).
_PAGE_SIZE = 2_048
# Checkpoint every 4000 pages (~8 MB of WAL, ~16 MB in files made with 4 KiB pages) instead of SQLite's 1000:
# each checkpoint costs an fsync, and fewer, larger ones (hot pages are copied once) roughly halved the mean
# cost per order and cut p99 from ~20 ms to ~5 ms.
_WAL_AUTOCHECKPOINT_PAGES = 4_000
_WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
_EVENT_PAGE = 1_000
_ORDER_SEQ = "order_seq"
_ORDER_SEQ_NEXT = "UPDATE counters SET value = value + ? WHERE name = ? RETURNING value"
_ORDER_SEQ_MOVE = "UPDATE counters SET value = ? WHERE name = ? AND value = ?"
_ORDER_SEQ_FIRST = (
    "INSERT INTO counters (name, value) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET value = value + ? RETURNING value"
)
_ORDER_UNDO = "DELETE FROM orders WHERE seq = ? AND client_order_id = ?"
_INTENT_UNDO = "DELETE FROM intents WHERE seq = ? AND client_order_id = ?"


def _translated(
    fn: Callable[Concatenate[SqliteStorage, _P], _R],
) -> Callable[Concatenate[SqliteStorage, _P], _R]:
    """Turn sqlite3 errors (and refused writes) into StorageError naming the file and the call."""

    @functools.wraps(fn)
    def wrapper(self: SqliteStorage, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(self, *args, **kwargs)
        except (sqlite3.Error, Refused) as e:
            msg = f"{self.path}: {fn.__name__.lstrip('_')} failed: {e}"
            raise StorageError(msg) from e

    return wrapper


def _create_private(path: Path) -> None:
    """Create missing parent folders (0700) and, if missing, the empty database file (0600)."""
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
        return
    try:
        os.fchmod(fd, 0o600)  # exactly 0600 whatever the umask (a strict one would leave it read-only)
    finally:
        os.close(fd)


@final
class _Transaction:
    __slots__ = ("_defer", "_store")

    def __init__(self, store: SqliteStorage, defer: bool) -> None:
        self._store = store
        self._defer = defer

    def __enter__(self) -> None:
        self._store._begin()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self._store._commit(defer=self._defer)
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
        # A transaction whose COMMIT was deferred (``transaction(defer_commit=True)``) and is still open:
        # the next transaction joins it (inside a savepoint) and commits both; ``flush``/``close`` commit it.
        self._deferred = False
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
        conn.execute(f"PRAGMA page_size = {_PAGE_SIZE}")
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

    def transaction(self, *, defer_commit: bool = False) -> _Transaction:
        """Group writes: all commit at the end of the block, or none if it raises. Nestable.

        ``defer_commit`` (outermost block only) leaves the COMMIT to the next transaction, write or ``flush``:
        for writes a crash may lose because they can be had again (a broker's answer to an intent that is
        already durable), it saves a commit on the order path. The same connection reads them at once.
        """
        return _Transaction(self, defer_commit)

    def _atomic(self) -> AbstractContextManager[None]:
        """For a write of several statements: a transaction of its own when none is open (joining, and
        committing, a deferred one), else nothing: the caller's transaction holds it."""
        return self.transaction() if self._depth == 0 else nullcontext()

    @_translated
    def flush(self) -> None:
        """Commit the deferred transaction, if one is open."""
        if self._deferred and self._depth == 0:
            self._deferred = False
            self._conn.execute("COMMIT")

    @_translated
    def _begin(self) -> None:
        if self._depth == 0 and not self._deferred:
            self._conn.execute("BEGIN IMMEDIATE")
        else:
            # Below an open transaction, or joining a deferred one: a rollback must keep what came before.
            self._conn.execute(f"SAVEPOINT s{self._depth}")
        self._depth += 1

    @_translated
    def _commit(self, *, defer: bool = False) -> None:
        self._depth -= 1
        try:
            if self._depth > 0:
                self._conn.execute(f"RELEASE SAVEPOINT s{self._depth}")
            elif self._deferred:
                self._conn.execute("RELEASE SAVEPOINT s0")
                if not defer:
                    self._deferred = False
                    self._conn.execute("COMMIT")
            elif defer:
                self._deferred = True
            else:
                self._conn.execute("COMMIT")
        except sqlite3.Error:
            self._depth += 1
            self._rollback()
            raise

    @_translated
    def _rollback(self) -> None:
        self._depth -= 1
        # An error such as SQLITE_FULL may already have ended the transaction on SQLite's side.
        if not self._conn.in_transaction:
            self._deferred = False
            return
        if self._depth == 0 and not self._deferred:
            self._conn.execute("ROLLBACK")
        else:
            self._conn.execute(f"ROLLBACK TO SAVEPOINT s{self._depth}")
            self._conn.execute(f"RELEASE SAVEPOINT s{self._depth}")

    def _write(self, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> sqlite3.Cursor:
        """One statement outside any transaction commits on its own, and commits a deferred one with it."""
        if self._depth == 0 and self._deferred:
            cursor = self._conn.execute(sql, params)
            self._deferred = False
            self._conn.execute("COMMIT")
            return cursor
        return self._conn.execute(sql, params)

    # -- orders ---------------------------------------------------------------------------------

    @_translated
    def next_order_seq(self) -> int:
        """A sequence number never returned before by this store (used for client order ids)."""
        return self._order_seqs(1).start

    @_translated
    def next_order_seqs(self, count: int) -> range:
        """``count`` consecutive sequence numbers never returned before: one counter write for a batch."""
        if count < 0:
            msg = f"cannot take {count} sequence numbers"
            raise Refused(msg)
        return self._order_seqs(count) if count else range(0)

    def _order_seqs(self, count: int) -> range:
        with self._atomic():
            return self._reserve_order_seqs(count)

    def _reserve_order_seqs(self, count: int) -> range:
        last = self._last_order_seq
        # Usually the counter is where this store's last call left it: moved on only if so, by a plain UPDATE
        # (~5 us here; the UPDATE ... RETURNING below costs ~25 us, once per batch on the order path).
        if last and self._conn.execute(_ORDER_SEQ_MOVE, (last + count, _ORDER_SEQ, last)).rowcount == 1:
            self._last_order_seq = last + count
            return range(last + 1, last + count + 1)
        # Else (the first call, another writer, a rollback since): read it as it is. It exists after the first
        # call: a plain UPDATE is cheaper than the upsert that creates it.
        found = self._conn.execute(_ORDER_SEQ_NEXT, (count, _ORDER_SEQ)).fetchall()
        if not found:
            found = self._conn.execute(_ORDER_SEQ_FIRST, (_ORDER_SEQ, count, count)).fetchall()
        (last,) = found[0]
        if last - count < self._last_order_seq:
            # A rolled-back transaction took the counter back: never hand a number out twice.
            last = self._last_order_seq + count
            self._conn.execute("UPDATE counters SET value = ? WHERE name = ?", (last, _ORDER_SEQ))
        self._last_order_seq = last
        return range(last - count + 1, last + 1)

    @_translated
    def record_intent(self, intent: OrderIntent) -> None:
        """Write-ahead: store the intent (as an order in status ``new``) before the broker is called.

        Raises StorageError if the client order id already exists, or the intent has no ``created_at``.
        """
        self._record_intents((intent,))

    @_translated
    def record_intents(self, intents: Sequence[OrderIntent]) -> None:
        """``record_intent`` for each of ``intents`` in turn, all or none (a batch's write-ahead in one call)."""
        self._record_intents(intents)

    def _record_intents(self, intents: Sequence[OrderIntent]) -> None:
        stamped = []
        for intent in intents:
            if intent.created_at is None:
                msg = f"intent {intent.client_order_id!r} has no created_at (stamp it from the Clock)"
                raise Refused(msg)
            stamped.append((intent, ts_text(intent.created_at)))
        if stamped:
            with self._atomic():
                self._insert_intents(stamped)

    def _insert_intents(self, stamped: Sequence[tuple[OrderIntent, str]]) -> None:
        # Each intent's order row first, at the seq SQLite would have given it (the next above the largest: the
        # writer holds the lock), which keys its intent row: two statements stepped per row for the batch.
        # Inside the caller's transaction (order_router's write-ahead one) a savepoint would cost two more
        # statements on the hot path; removing the batch's rows when one fails is the same.
        conn = self._conn
        (top,) = conn.execute(rows.ORDER_SEQ_TOP).fetchone()
        first = (top or 0) + 1
        orders = [rows.new_order_params(seq, i, at) for seq, (i, at) in enumerate(stamped, first)]
        details = [rows.intent_params(seq, i, at) for seq, (i, at) in enumerate(stamped, first)]
        try:
            conn.executemany(rows.NEW_ORDER_INSERT, orders)
            conn.executemany(rows.INTENT_INSERT, details)
        except sqlite3.Error as e:
            if conn.in_transaction:
                mine = [(seq, i.client_order_id) for seq, (i, _) in enumerate(stamped, first)]
                conn.executemany(_INTENT_UNDO, mine)
                conn.executemany(_ORDER_UNDO, mine)
            if isinstance(e, sqlite3.IntegrityError):
                raise Refused(self._recorded_already([i for i, _ in stamped], e)) from e
            raise

    def _recorded_already(self, intents: Sequence[OrderIntent], error: sqlite3.Error) -> str:
        """Why a batch of intents was refused: the first whose client order id is stored or repeated."""
        seen: set[str] = set()
        for intent in intents:
            cid = intent.client_order_id
            if cid in seen or self._conn.execute(rows.ORDER_OF_CLIENT_ID_SELECT, (cid,)).fetchone():
                return f"client order id {cid!r} is already recorded"
            seen.add(cid)
        return f"an intent breaks a constraint of the orders or intents table: {error}"

    @_translated
    def save_order(self, order: Order) -> None:
        """Insert or update an order's current state (keyed by client order id)."""
        with self._atomic():
            self._save_order(order)

    def _save_order(self, order: Order) -> None:
        # Most saves move a stored order between open states (new -> accepted -> partially filled): the
        # first UPDATE, which leaves the open-orders index alone. The other spellings write `closed`.
        params = rows.order_params(order)
        conn = self._conn
        closed = order.status.is_terminal
        if closed:
            saved = conn.execute(rows.ORDER_UPDATE_CLOSED, params).rowcount
        else:
            saved = conn.execute(rows.ORDER_UPDATE_OPEN, params).rowcount
            saved = saved or conn.execute(rows.ORDER_UPDATE_REOPENED, params).rowcount
        if not saved:
            conn.execute(rows.ORDER_INSERT, (*params, int(closed)))

    @_translated
    def save_orders(self, orders: Sequence[Order]) -> None:
        """``save_order`` for each of ``orders`` in turn, in one transaction."""
        if not orders:
            return
        with self._atomic():
            self._save_orders(orders)

    def _save_orders(self, orders: Sequence[Order]) -> None:
        # A batch's answers move stored orders between open states: one executemany of that UPDATE (a
        # prepared statement stepped per row, without a Python call per order). Each row updates at most one
        # order (client ids are unique), so the count says whether every one was there and open; if not,
        # each goes through save_order's spellings in turn (an update already applied is written again, the
        # same values).
        if not any(order.status.is_terminal for order in orders):
            params = [rows.order_params(order) for order in orders]
            if self._conn.executemany(rows.ORDER_UPDATE_OPEN, params).rowcount == len(orders):
                return
        for order in orders:
            self._save_order(order)

    @_translated
    def get_order(self, client_order_id: str) -> Order | None:
        row = self._conn.execute(rows.ORDER_OF_CLIENT_ID_SELECT, (client_order_id,)).fetchone()
        return None if row is None else rows.order_from(row)

    @_translated
    def orders(self, *, open_only: bool = False) -> Sequence[Order]:
        """All orders in creation order; ``open_only`` keeps those not in a terminal state."""
        sql = rows.OPEN_ORDER_SELECT if open_only else rows.ORDER_SELECT + " ORDER BY seq"
        return [rows.order_from(r) for r in self._conn.execute(sql).fetchall()]

    @_translated
    def intent(self, client_order_id: str) -> OrderIntent | None:
        """The intent as first written (its stop loss / take profit, note)."""
        row = self._conn.execute(rows.INTENT_SELECT, (client_order_id,)).fetchone()
        return None if row is None else rows.intent_from(row)

    # -- fills, positions, trades, accounts ---------------------------------------------------

    @_translated
    def add_fill(self, fill: Fill) -> bool:
        """Record a fill; False (and no change) if its fill id is already recorded."""
        return self._write(rows.FILL_INSERT, rows.fill_params(fill)).rowcount == 1

    @_translated
    def fills(self, client_order_id: str | None = None) -> Sequence[Fill]:
        if client_order_id is None:
            found = self._conn.execute(rows.FILL_SELECT + " ORDER BY rowid").fetchall()
        else:
            sql = rows.FILL_SELECT + " WHERE client_order_id = ? ORDER BY rowid"
            found = self._conn.execute(sql, (client_order_id,)).fetchall()
        return [rows.fill_from(r) for r in found]

    @_translated
    def save_position(self, position: Position) -> None:
        """Insert or replace the open position of (asset, symbol)."""
        self._write(rows.POSITION_UPSERT, rows.position_params(position))

    @_translated
    def delete_position(self, asset: Asset, symbol: str) -> None:
        self._write("DELETE FROM positions WHERE asset = ? AND symbol = ?", (asset, symbol))

    @_translated
    def positions(self) -> Sequence[Position]:
        return [rows.position_from(r) for r in self._conn.execute(rows.POSITION_SELECT).fetchall()]

    @_translated
    def add_trade(self, trade: ClosedTrade) -> None:
        self._write(rows.TRADE_INSERT, rows.trade_params(trade))

    @_translated
    def trades(self) -> Sequence[ClosedTrade]:
        return [rows.trade_from(r) for r in self._conn.execute(rows.TRADE_SELECT).fetchall()]

    @_translated
    def save_account(self, snapshot: AccountSnapshot) -> None:
        """Replace the asset's latest wallet valuation."""
        self._write(rows.ACCOUNT_UPSERT, rows.account_params(snapshot))

    @_translated
    def accounts(self) -> Sequence[AccountSnapshot]:
        return [rows.account_from(r) for r in self._conn.execute(rows.ACCOUNT_SELECT).fetchall()]

    # -- journal and meta ---------------------------------------------------------------------

    @_translated
    def append_event(self, ts: datetime, kind: str, fields: Mapping[str, Any]) -> int:
        """Append to the journal; returns the entry's sequence number.

        Decimal, datetime, date and enum values in ``fields`` are stored as strings.
        """
        params = (ts_text(ts), kind, rows.fields_json(fields))
        return int(self._write(rows.EVENT_INSERT, params).lastrowid or 0)

    @_translated
    def append_events(self, entries: Sequence[tuple[datetime, str, Mapping[str, Any]]]) -> None:
        """``append_event`` for each ``(ts, kind, fields)`` in turn, in one transaction."""
        params = [(ts_text(ts), kind, rows.fields_json(fields)) for ts, kind, fields in entries]
        if not params:
            return
        with self._atomic():
            self._conn.executemany(rows.EVENT_INSERT, params)

    def events(self, *, kind: str | None = None, after_seq: int = 0) -> Iterator[JournalEvent]:
        """Journal entries after ``after_seq`` in sequence order, optionally of one ``kind`` only."""
        last = after_seq
        while True:
            page = self._event_page(kind, last)
            for seq, ts, entry_kind, payload in page:
                yield seq, rows.ts_from(ts), entry_kind, rows.fields_from(payload)
            if len(page) < _EVENT_PAGE:
                return
            last = page[-1][0]

    @_translated
    def _event_page(self, kind: str | None, after_seq: int) -> list[Any]:
        # Pages, not one long-lived cursor: a reader must not pin the WAL while the writer goes on.
        if kind is None:
            return self._conn.execute(rows.EVENT_SELECT, (after_seq, _EVENT_PAGE)).fetchall()
        params = (kind, after_seq, _EVENT_PAGE)
        return self._conn.execute(rows.EVENT_OF_KIND_SELECT, params).fetchall()

    @_translated
    def get_meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @_translated
    def set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @_translated
    def set_metas(self, values: Mapping[str, str]) -> None:
        if not values:
            return
        # One statement, so all or none without a savepoint; only placeholders are spliced in.
        rows = ", ".join(["(?, ?)"] * len(values))
        sql = f"INSERT OR REPLACE INTO meta (key, value) VALUES {rows}"  # noqa: S608
        self._write(sql, [x for kv in values.items() for x in kv])

    @_translated
    def close(self) -> None:
        """Close the file: a deferred transaction is committed, an open one rolled back. Closing twice is
        harmless."""
        if self._deferred and self._depth == 0:
            self._deferred = False
            self._conn.execute("COMMIT")
        self._deferred = False
        self._conn.close()
