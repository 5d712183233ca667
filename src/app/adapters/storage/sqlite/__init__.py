"""The Storage port on SQLite: one WAL-mode file per mode (paper.db, live.db), schema-versioned."""

from app.adapters.storage.sqlite.schema import SCHEMA_VERSION
from app.adapters.storage.sqlite.store import SqliteStorage

__all__ = ["SCHEMA_VERSION", "SqliteStorage"]
