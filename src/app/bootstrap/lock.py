"""One running instance per home folder: an exclusive ``flock`` on ``<home>/app.lock``, held for the life of
the run (``app tui`` and ``app run``: ``locked_paper_run``). The kernel drops the lock when the process dies,
so a crash never leaves a stale lock behind; the file itself stays (removing it would race with the next
instance)."""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from app.bootstrap.paper import PaperRun, PaperRunOptions, build_paper_run, resolve_home
from app.domain.errors import AppError
from app.services.app_runtime import RunStatus
from app.services.config_manager import load_config

__all__ = ["LOCK_FILE", "HomeLock", "HomeLocked", "locked_paper_run"]

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


@contextmanager
def locked_paper_run(
    options: PaperRunOptions, on_status: Callable[[RunStatus], None], *, purpose: str = ""
) -> Iterator[PaperRun]:
    """Build the paper run while holding the home's lock; on exit close the store, then release the lock.

    An existing home is locked before anything opens its database; a new one (no other instance can be
    using it) right after ``build_paper_run`` created it, so a refused start still leaves nothing behind.

    Raises:
        HomeLocked: another instance runs on this home.
        ValidationFailed, DataError: as ``build_paper_run``.
    """
    home = resolve_home(options.home, load_config(options.config))
    lock = HomeLock.acquire(home, purpose=purpose) if home.is_dir() else None
    try:
        run = build_paper_run(options, on_status)
        try:
            if lock is None:
                lock = HomeLock.acquire(run.home, purpose=purpose)
            yield run
        finally:
            run.close()
    finally:
        if lock is not None:
            lock.release()
