"""Wiring for ``app tui``: the paper run of ``app run --paper``, under the home folder's lock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal

from app.bootstrap.lock import HomeLock
from app.bootstrap.paper import PaperRun, PaperRunOptions, build_paper_run, resolve_home
from app.domain.values import Asset
from app.services.app_runtime import RunStatus
from app.services.config_manager import load_config

__all__ = ["allocation_steps", "locked_paper_run"]


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


def allocation_steps(run: PaperRun) -> dict[Asset, Decimal]:
    """Each asset's reallocation step from the config (the TUI's +/- keys)."""
    return {asset: Decimal(run.config.get_asset(asset).budget.realloc_step) for asset in Asset}
