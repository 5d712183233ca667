"""Storage adapters: the Storage port on a concrete database."""

from app.adapters.storage.sqlite import SqliteStorage

__all__ = ["SqliteStorage"]
