"""Wiring for ``app tui`` beyond the paper run (``bootstrap.lock.locked_paper_run``): the settings the
operator app takes from the config."""

from __future__ import annotations

from decimal import Decimal

from app.bootstrap.paper import PaperRun
from app.domain.values import Asset

__all__ = ["allocation_steps"]


def allocation_steps(run: PaperRun) -> dict[Asset, Decimal]:
    """Each asset's reallocation step from the config (the TUI's +/- keys)."""
    return {asset: Decimal(run.config.get_asset(asset).budget.realloc_step) for asset in Asset}
