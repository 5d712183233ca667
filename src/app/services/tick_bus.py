"""tick_bus: data_manager's subscribers' mailboxes (``DataManager.open_ticks`` and ``on_tick``).

Each mailbox holds the newest ``BarUpdate`` per symbol and timeframe: ``offer`` never waits, and an update
the subscriber has not read yet is replaced by the newer one (whose ``bars`` adds up what both stood for),
counted in ``dropped``. ``deliver`` feeds one mailbox to an ``on_tick`` callback.
"""

from __future__ import annotations

import contextlib
import inspect
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import final

import attrs
import trio

__all__ = ["BarUpdate", "TickCallback", "TickSubscription", "deliver"]


@final
@attrs.frozen
class BarUpdate:
    """A symbol's newest closed bar at one timeframe; ``bars`` is how many new bars it stands for (more than
    one after a batch, or when updates its subscriber had not read were folded into it)."""

    symbol: str
    timeframe: str
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    bars: int = 1


TickCallback = Callable[[BarUpdate], Awaitable[None] | None]


class TickSubscription:
    """One subscriber's mailbox: ``async for update in subscription`` until it or the manager closes."""

    def __init__(self, symbols: Iterable[str] | None, on_close: Callable[[TickSubscription], None]) -> None:
        self.symbols = frozenset(symbols) if symbols is not None else None
        self.dropped = 0
        self._on_close = on_close
        self._pending: dict[tuple[str, str], BarUpdate] = {}
        self._ready: deque[BarUpdate] = deque()
        self._wake_send, self._wake_receive = trio.open_memory_channel[None](1)

    def offer(self, update: BarUpdate) -> None:
        """Leave ``update`` without waiting; an unread update of the same symbol and timeframe is replaced."""
        key = (update.symbol, update.timeframe)
        unread = self._pending.pop(key, None)
        if unread is not None:
            self.dropped += 1
            # A plain construction: attrs.evolve costs several times as much on this hot path.
            u, bars = update, update.bars + unread.bars
            update = BarUpdate(u.symbol, u.timeframe, u.ts, u.open, u.high, u.low, u.close, u.volume, bars)
        self._pending[key] = update
        # WouldBlock: a wake-up is already waiting; ClosedResourceError: the subscription ended.
        with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError):
            self._wake_send.send_nowait(None)

    def close(self) -> None:
        """Stop receiving: updates already in the mailbox are still read, then iteration ends."""
        self._wake_send.close()
        self._on_close(self)

    def __aiter__(self) -> TickSubscription:
        return self

    async def __anext__(self) -> BarUpdate:
        await trio.lowlevel.checkpoint()
        while not self._ready:
            if self._pending:
                self._ready.extend(self._pending.values())
                self._pending.clear()
                break
            try:
                await self._wake_receive.receive()
            except (trio.EndOfChannel, trio.ClosedResourceError):
                raise StopAsyncIteration from None
        return self._ready.popleft()


async def deliver(subscription: TickSubscription, callback: TickCallback) -> None:
    async for update in subscription:
        result = callback(update)
        if inspect.isawaitable(result):
            await result
