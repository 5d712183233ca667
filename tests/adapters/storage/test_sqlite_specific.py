"""What only the SQLite file shows: migrations, WAL, file modes, persistence, read-only, crash safety."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlite_utils import Database

from app.adapters.storage.sqlite import SCHEMA_VERSION, SqliteStorage
from app.adapters.storage.sqlite.schema import MIGRATIONS, Migration, migrate
from app.domain.values import Asset, OrderIntent, Position, Side
from app.ports.errors import StorageError

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def an_intent(cid: str = "demo-00000001") -> OrderIntent:
    return OrderIntent(
        client_order_id=cid,
        strategy_id="demo",
        asset=Asset.SPOT,
        symbol="ETHBTC",
        side=Side.BUY,
        qty=Decimal("0.10"),
        stop_loss=Decimal("0.05"),
        created_at=T0,
    )


def versions_in(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    return [r[0] for r in rows]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "paper.db"


@pytest.fixture
def raw_db(db_path: Path) -> Iterator[Database]:
    """A database handle with no migrations applied, in autocommit mode as SqliteStorage uses it."""
    db = Database(sqlite3.connect(db_path, isolation_level=None), execute_plugins=False)
    yield db
    db.close()


# -- migrations ------------------------------------------------------------------------------------------


def test_a_new_database_records_every_migration_up_to_the_current_version(db_path: Path) -> None:
    with SqliteStorage.open(db_path) as store:
        assert store.schema_version == SCHEMA_VERSION
    assert versions_in(db_path) == [m.version for m in MIGRATIONS]


def test_a_database_one_version_behind_is_migrated_on_open(raw_db: Database, db_path: Path) -> None:
    migrate(raw_db, db_path, MIGRATIONS[:-1])
    raw_db.close()
    with SqliteStorage.open(db_path) as store:
        store.record_intent(an_intent())
        assert store.schema_version == SCHEMA_VERSION
        assert store.intent("demo-00000001") == an_intent()


def add_column(db: Database) -> None:
    db.conn.execute("ALTER TABLE meta ADD COLUMN note TEXT NOT NULL DEFAULT ''")


def test_migrate_applies_only_the_pending_migrations_and_keeps_data(raw_db: Database, db_path: Path) -> None:
    migrate(raw_db, db_path, MIGRATIONS)
    raw_db.conn.execute("INSERT INTO meta (key, value) VALUES ('seed', '7')")
    later = Migration(SCHEMA_VERSION + 1, "a note on meta", add_column)
    reached = migrate(raw_db, db_path, (*MIGRATIONS, later))
    assert reached == SCHEMA_VERSION + 1
    assert raw_db.conn.execute("SELECT key, value, note FROM meta").fetchall() == [("seed", "7", "")]
    assert versions_in(db_path)[-1] == SCHEMA_VERSION + 1


def fail_halfway(db: Database) -> None:
    db.conn.execute("CREATE TABLE half (x INTEGER)")
    db.conn.execute("INSERT INTO no_such_table VALUES (1)")


def test_a_failed_migration_leaves_the_previous_version_intact(raw_db: Database, db_path: Path) -> None:
    migrate(raw_db, db_path, MIGRATIONS)
    broken = Migration(SCHEMA_VERSION + 1, "broken", fail_halfway)
    with pytest.raises(StorageError, match=f"migration {SCHEMA_VERSION + 1}"):
        migrate(raw_db, db_path, (*MIGRATIONS, broken))
    assert versions_in(db_path)[-1] == SCHEMA_VERSION
    assert "half" not in raw_db.table_names()


def test_a_database_from_a_newer_program_is_refused_naming_the_file(db_path: Path) -> None:
    SqliteStorage.open(db_path).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (999, 'future', '2099-01-01')")
    conn.close()
    with pytest.raises(StorageError, match="newer") as refused:
        SqliteStorage.open(db_path)
    assert str(db_path) in str(refused.value)


def test_a_file_that_is_not_a_database_is_refused_naming_it(db_path: Path) -> None:
    db_path.write_bytes(b"timestamp,open,high,low,close,volume\n" * 200)
    with pytest.raises(StorageError) as refused:
        SqliteStorage.open(db_path)
    assert str(db_path) in str(refused.value)


# -- journal mode and file modes -----------------------------------------------------------------------


def test_the_database_is_in_wal_mode(db_path: Path) -> None:
    SqliteStorage.open(db_path).close()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def page_size(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    conn.close()
    return size


def test_a_new_database_uses_2_kib_pages(db_path: Path) -> None:
    SqliteStorage.open(db_path).close()
    assert page_size(db_path) == 2048


def test_an_existing_database_keeps_its_page_size_and_its_data(raw_db: Database, db_path: Path) -> None:
    raw_db.conn.execute("PRAGMA page_size = 4096")
    migrate(raw_db, db_path)
    raw_db.conn.execute("INSERT INTO meta (key, value) VALUES ('kept', 'yes')")
    with SqliteStorage.open(db_path) as store:
        assert store.get_meta("kept") == "yes"
    assert page_size(db_path) == 4096


def test_a_new_database_and_its_wal_files_are_readable_by_the_owner_only(db_path: Path) -> None:
    previous = os.umask(0)  # the most permissive umask: the modes must not depend on it
    try:
        with SqliteStorage.open(db_path) as store:
            store.set_meta("k", "v")
            side_files = [db_path.with_name(db_path.name + s) for s in ("-wal", "-shm")]
            assert [mode(p) for p in [db_path, *side_files]] == [0o600, 0o600, 0o600]
    finally:
        os.umask(previous)


def test_missing_parent_folders_are_created_for_the_owner_only(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        SqliteStorage.open(tmp_path / "home" / "state" / "paper.db").close()
    finally:
        os.umask(previous)
    assert (mode(tmp_path / "home"), mode(tmp_path / "home" / "state")) == (0o700, 0o700)


def test_an_existing_parent_folder_keeps_its_mode(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    SqliteStorage.open(tmp_path / "paper.db").close()
    assert mode(tmp_path) == 0o755


# -- persistence ---------------------------------------------------------------------------------------


def test_everything_written_is_there_after_reopening(db_path: Path) -> None:
    position = Position(Asset.SPOT, "ETHBTC", Decimal("0.10"), Decimal("0.0523"), T0)
    with SqliteStorage.open(db_path) as store:
        store.record_intent(an_intent())
        store.save_position(position)
        seq = store.append_event(T0, "session_started", {"epoch": 1})
        store.set_meta("seed", "7")
    with SqliteStorage.open(db_path) as store:
        assert store.intent("demo-00000001") == an_intent()
        assert store.positions() == [position]
        assert list(store.events()) == [(seq, T0, "session_started", {"epoch": 1})]
        assert store.get_meta("seed") == "7"


def test_the_order_sequence_continues_after_reopening(db_path: Path) -> None:
    with SqliteStorage.open(db_path) as store:
        before = [store.next_order_seq() for _ in range(3)]
    with SqliteStorage.open(db_path) as store:
        after = store.next_order_seq()
    assert after > max(before)


def test_an_uncommitted_transaction_is_lost_when_the_process_is_killed(db_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from datetime import UTC, datetime
        from app.adapters.storage.sqlite import SqliteStorage
        store = SqliteStorage.open({str(db_path)!r})
        ts = datetime.now(UTC)
        with store.transaction():
            store.append_event(ts, "committed", {{}})
        store.next_order_seq()
        with store.transaction():
            store.append_event(ts, "in_flight", {{}})
            store.next_order_seq()
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert done.returncode == -9
    with SqliteStorage.open(db_path) as store:
        assert [e[2] for e in store.events()] == ["committed"]
        assert store.next_order_seq() == 2


# -- deferred commits -------------------------------------------------------------------------------------


def fail_after(store: SqliteStorage, work: Callable[[], object]) -> None:
    """Run ``work`` in a transaction that then fails."""
    with store.transaction():
        work()
        raise RuntimeError


def committed_kinds(db_path: Path) -> list[str]:
    """What another process would see: the events committed to the file."""
    with SqliteStorage.open(db_path, readonly=True) as reader:
        return [e[2] for e in reader.events()]


def test_a_deferred_transaction_is_read_at_once_but_committed_with_the_next_transaction(
    db_path: Path,
) -> None:
    with SqliteStorage.open(db_path) as store:
        with store.transaction(defer_commit=True):
            store.append_event(T0, "answer", {})
        assert [e[2] for e in store.events()] == ["answer"]
        assert committed_kinds(db_path) == []
        with store.transaction():
            store.append_event(T0, "next_intent", {})
        assert committed_kinds(db_path) == ["answer", "next_intent"]


def test_a_single_write_or_flush_commits_a_deferred_transaction(db_path: Path) -> None:
    with SqliteStorage.open(db_path) as store:
        with store.transaction(defer_commit=True):
            store.append_event(T0, "first", {})
        store.set_meta("last_bar", "x")
        assert committed_kinds(db_path) == ["first"]
        with store.transaction(defer_commit=True):
            store.append_event(T0, "second", {})
        store.flush()
        store.flush()  # nothing left: harmless
        assert committed_kinds(db_path) == ["first", "second"]


def test_a_deferred_transaction_is_committed_on_close(db_path: Path) -> None:
    with SqliteStorage.open(db_path) as store, store.transaction(defer_commit=True):
        store.append_event(T0, "answer", {})
    assert committed_kinds(db_path) == ["answer"]


def test_a_failed_transaction_after_a_deferred_one_keeps_the_deferred_writes(db_path: Path) -> None:
    with SqliteStorage.open(db_path) as store:
        with store.transaction(defer_commit=True):
            store.append_event(T0, "answer", {})
        with pytest.raises(RuntimeError):
            fail_after(store, lambda: store.append_event(T0, "doomed", {}))
        assert [e[2] for e in store.events()] == ["answer"]
        store.flush()
    assert committed_kinds(db_path) == ["answer"]


def test_the_order_sequence_never_repeats_across_deferred_and_failed_transactions(db_path: Path) -> None:
    with SqliteStorage.open(db_path) as store:
        with store.transaction(defer_commit=True):
            first = store.next_order_seq()
        taken: list[int] = []
        with pytest.raises(RuntimeError):
            fail_after(store, lambda: taken.append(store.next_order_seq()))
        (second,) = taken
        third = store.next_order_seq()
    assert first < second < third


def test_a_deferred_transaction_is_lost_when_the_process_is_killed_the_ones_before_are_not(
    db_path: Path,
) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from datetime import UTC, datetime
        from app.adapters.storage.sqlite import SqliteStorage
        store = SqliteStorage.open({str(db_path)!r})
        ts = datetime.now(UTC)
        with store.transaction():
            store.append_event(ts, "intent", {{}})
        with store.transaction(defer_commit=True):
            store.append_event(ts, "answer", {{}})
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert done.returncode == -9
    assert committed_kinds(db_path) == ["intent"]


# -- read-only ---------------------------------------------------------------------------------------------


def test_read_only_sees_what_a_live_writer_committed(db_path: Path) -> None:
    with SqliteStorage.open(db_path) as writer:
        writer.record_intent(an_intent())
        with SqliteStorage.open(db_path, readonly=True) as reader:
            assert [o.client_order_id for o in reader.orders()] == ["demo-00000001"]


def test_read_only_refuses_writes(db_path: Path) -> None:
    SqliteStorage.open(db_path).close()
    with SqliteStorage.open(db_path, readonly=True) as reader, pytest.raises(StorageError):
        reader.set_meta("k", "v")
    with SqliteStorage.open(db_path) as store:
        assert store.get_meta("k") is None


def test_read_only_open_of_a_missing_file_is_refused_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "home" / "paper.db"
    with pytest.raises(StorageError, match="no such database") as refused:
        SqliteStorage.open(missing, readonly=True)
    assert str(missing) in str(refused.value)
    assert not (tmp_path / "home").exists()


def test_read_only_open_of_an_unmigrated_database_is_refused(raw_db: Database, db_path: Path) -> None:
    migrate(raw_db, db_path, MIGRATIONS[:-1])
    with pytest.raises(StorageError, match="needs migrating"):
        SqliteStorage.open(db_path, readonly=True)


def test_a_batch_whose_intent_row_fails_leaves_no_order_row_inside_a_transaction(db_path: Path) -> None:
    """The order rows of a batch go in first: when an intent row then fails (a trigger stands for a full disk
    or a broken row), they are taken out again, so the caller's transaction commits nothing of the batch."""
    with SqliteStorage.open(db_path) as store:
        store.record_intent(an_intent("kept-00000001"))
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "CREATE TRIGGER no_c BEFORE INSERT ON intents WHEN NEW.client_order_id = 'c-00000004' "
            "BEGIN SELECT RAISE(ABORT, 'intent refused'); END"
        )
    with SqliteStorage.open(db_path) as store:
        with store.transaction():
            with pytest.raises(StorageError, match="intent refused"):
                store.record_intents([an_intent(f"{cid}-0000000{n}") for n, cid in enumerate("abc", 2)])
            store.set_meta("after", "yes")
        assert [o.client_order_id for o in store.orders()] == ["kept-00000001"]
        assert [store.intent(f"{cid}-0000000{n}") for n, cid in enumerate("abc", 2)] == [None] * 3
        assert store.get_meta("after") == "yes"
        store.record_intent(an_intent("d-00000005"))
        assert [o.client_order_id for o in store.orders()] == ["kept-00000001", "d-00000005"]


def test_two_stores_on_one_file_never_hand_out_the_same_sequence_number(db_path: Path) -> None:
    """Each store moves the counter on from where it last left it; when another writer moved it meanwhile, it
    reads the counter as it is."""
    with SqliteStorage.open(db_path) as first, SqliteStorage.open(db_path) as second:
        taken = [
            *first.next_order_seqs(3),
            *first.next_order_seqs(2),
            *second.next_order_seqs(4),
            *first.next_order_seqs(2),
            first.next_order_seq(),
            *second.next_order_seqs(1),
        ]
    assert taken == list(range(1, 14))
    with SqliteStorage.open(db_path) as again:
        assert again.next_order_seq() == 14
