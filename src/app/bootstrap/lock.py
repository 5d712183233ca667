"""One running instance per home folder: an exclusive ``flock`` on ``<home>/app.lock``, held for the life of
the run (``app tui`` and ``app run``). The kernel drops the lock when the process dies, so a crash never
leaves a stale lock behind; the file itself stays (removing it would race with the next instance)."""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path
from types import TracebackType

from app.domain.errors import AppError

__all__ = ["LOCK_FILE", "HomeLock", "HomeLocked"]

LOCK_FILE = "app.lock"


class HomeLocked(AppError):
    """Another instance holds the home folder."""


class HomeLock:
    """``HomeLock.acquire(home)``; ``release()`` (or use it as a context manager)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, home: Path, *, purpose: str = "") -> HomeLock:
        """Take the home's lock without waiting.

        Raises:
            HomeLocked: another process (or another handle in this one) holds it; the message names it.
        """
        path = home / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown process"
            os.close(fd)
            msg = (
                f"{home} is in use by another instance ({holder}); "
                "stop it first, or give this one another --home"
            )
            raise HomeLocked(msg) from None
        what = purpose or " ".join(os.path.basename(a) for a in sys.argv[:2])
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {what}\n".encode(), 0)
        return cls(path, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> HomeLock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
