"""What a simulation hands back: closed trades (research floats) and the equity after every bar."""

from __future__ import annotations

from datetime import datetime
from typing import Any, final

import attrs
import numpy as np
import numpy.typing as npt

__all__ = ["Simulation", "Trade"]

FloatArray = npt.NDArray[np.float64]


@final
@attrs.frozen
class Trade:
    """One round trip. ``side`` is ``long`` or ``short``; ``pnl`` is net of ``fees`` and includes ``funding``
    (positive when received). Bars are positions in the backtest's data."""

    entry_bar: int
    exit_bar: int
    entry_time: datetime
    exit_time: datetime
    side: str
    qty: float
    entry_price: float
    exit_price: float
    fees: float
    funding: float
    pnl: float
    exit_reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: times in ISO-8601 UTC."""
        row = attrs.asdict(self)
        row["entry_time"] = self.entry_time.isoformat()
        row["exit_time"] = self.exit_time.isoformat()
        return row


@final
@attrs.frozen(eq=False)
class Simulation:
    """Raw output of a simulation path: trades, equity after each bar's close, bars spent in a position,
    and entries skipped because the size rounded below the instrument's minimum."""

    trades: tuple[Trade, ...]
    equity: FloatArray
    bars_in_market: int
    skipped_entries: int
