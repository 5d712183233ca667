"""What the periodic status line of a run shows."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import final

import attrs

from app.domain.values import AccountSnapshot
from app.services.data_manager import CacheHealth

__all__ = ["RunStatus"]


@final
@attrs.frozen
class RunStatus:
    """What the status line shows."""

    bars: int
    market_time: datetime | None
    accounts: tuple[AccountSnapshot, ...]
    open_positions: int
    trades: int
    finished: bool = False
    cache: CacheHealth | None = None

    def line(self) -> str:
        when = self.market_time.strftime("%Y-%m-%d %H:%M") if self.market_time else "-"
        equity = " ".join(f"{a.asset.value}={a.equity:.2f}" for a in self.accounts)
        total = sum((a.equity for a in self.accounts), Decimal(0))
        state = "done" if self.finished else "running"
        problem = self.cache.problem() if self.cache is not None else None
        return (
            f"[{state}] bar {when} UTC | bars {self.bars} | equity {equity} total={total:.2f} | "
            f"open {self.open_positions} | trades {self.trades}" + (f" | {problem}" if problem else "")
        )
