"""The MarketData port: a time-ordered stream of candles for a set of symbols."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from app.domain.values import Candle

__all__ = ["MarketData"]


@runtime_checkable
class MarketData(Protocol):
    """A feed. Candles arrive closed, in time order across symbols (ties in symbol order).

    A finite feed (replay) ends its stream; a live or synthetic feed may run forever.
    """

    def symbols(self) -> Sequence[str]: ...

    def timeframe(self, symbol: str) -> str:
        """The symbol's bar timeframe (``"5m"``)."""
        ...

    def stream(
        self, *, after: datetime | None = None, catch_up_through: datetime | None = None
    ) -> AsyncIterator[Candle]:
        """Closed candles, oldest first; with ``after``, only candles whose ``ts`` is later.

        A paced feed (a replay or synthetic market at N times real time) delivers the candles whose ``ts`` is
        at or before ``catch_up_through`` without waiting: a resumed run warms up on them, and their time has
        passed already. A live feed's history comes as fast as it is fetched anyway.
        """
        ...
