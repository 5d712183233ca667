"""What the runtime tells its observers (the TUI, benchmarks): past-tense events and a broadcast bus.

Every subscriber gets its own bounded trio memory channel. Publishing never waits: when a subscriber's
channel is full the oldest event in it is dropped and counted (``Subscription.dropped``), so a slow screen
can never hold up the trading loop; it resynchronises from ``AppRuntime.snapshot()`` instead. Each delivery
carries the bus's sequence number, so a subscriber can skip what a snapshot already holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType, TracebackType
from typing import Any, final

import attrs
import trio

from app.domain.values import AccountSnapshot, Asset, ClosedTrade, Order, Position

__all__ = [
    "AccountUpdated",
    "BarProcessed",
    "ControlsChanged",
    "Delivery",
    "EventBus",
    "Killed",
    "LogEvent",
    "OrderUpdated",
    "PositionsChanged",
    "RunFinished",
    "RuntimeEvent",
    "RuntimeSnapshot",
    "Subscription",
    "TradeClosed",
]


def _frozen_map(value: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(value))


@final
@attrs.frozen
class BarProcessed:
    """A closed bar went through venues, journal and strategies. ``published_ns`` is ``perf_counter_ns``
    at publication (for tick-to-screen measurements in the same process)."""

    symbol: str
    ts: datetime
    close: Decimal
    market_time: datetime
    bars: int
    published_ns: int


@final
@attrs.frozen
class OrderUpdated:
    order: Order


@final
@attrs.frozen
class PositionsChanged:
    """The open positions and working orders after a change (whole lists: they are short)."""

    positions: tuple[Position, ...]
    open_orders: tuple[Order, ...]


@final
@attrs.frozen
class TradeClosed:
    trade: ClosedTrade


@final
@attrs.frozen
class AccountUpdated:
    """The brokers' latest valuation of each asset's wallet, with the paper session's reward and epoch
    of each asset (empty when no session manager is wired in)."""

    accounts: tuple[AccountSnapshot, ...]
    rewards: Mapping[Asset, Decimal] = attrs.field(factory=dict, converter=_frozen_map, hash=False)
    epochs: Mapping[Asset, int] = attrs.field(factory=dict, converter=_frozen_map, hash=False)


@final
@attrs.frozen
class ControlsChanged:
    """The operator switches: exploration paused, killed assets, allocations (None: not available)."""

    paused: bool
    killed: frozenset[Asset]
    allocations: Mapping[Asset, Decimal | None] = attrs.field(converter=_frozen_map, hash=False)


@final
@attrs.frozen
class Killed:
    """An asset was killed: its working orders cancelled and reduce-only orders sent to flatten it."""

    asset: Asset
    who: str
    why: str
    at: datetime
    cancelled: tuple[str, ...]
    flattening: tuple[str, ...]
    problems: tuple[str, ...] = ()

    def summary(self) -> str:
        text = (
            f"{self.asset.value} killed by {self.who}: {len(self.cancelled)} order(s) cancelled, "
            f"{len(self.flattening)} flattening order(s) sent"
        )
        return text + (f"; problems: {'; '.join(self.problems)}" if self.problems else "")


@final
@attrs.frozen
class LogEvent:
    """One journal entry (order sent or denied, trade closed, operator action, ...)."""

    seq: int
    ts: datetime
    kind: str
    fields: Mapping[str, Any] = attrs.field(converter=_frozen_map, hash=False)

    def text(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.fields.items())


@final
@attrs.frozen
class RunFinished:
    """The feed ended, the bar limit was reached or the run was cancelled."""

    bars: int
    market_time: datetime | None


RuntimeEvent = (
    BarProcessed
    | OrderUpdated
    | PositionsChanged
    | TradeClosed
    | AccountUpdated
    | ControlsChanged
    | Killed
    | LogEvent
    | RunFinished
)

Delivery = tuple[int, RuntimeEvent]
"""(bus sequence number, event)."""


@final
@attrs.frozen
class RuntimeSnapshot:
    """The runtime's state in one piece: what a subscriber starts from, or resynchronises to.

    ``seq`` is the bus sequence number the snapshot includes: deliveries at or below it are already in.
    """

    seq: int
    bars: int
    market_time: datetime | None
    finished: bool
    assets: tuple[Asset, ...]
    symbols: tuple[str, ...]
    accounts: tuple[AccountSnapshot, ...]
    positions: tuple[Position, ...]
    open_orders: tuple[Order, ...]
    marks: Mapping[str, Decimal] = attrs.field(converter=_frozen_map, hash=False)
    controls: ControlsChanged = ControlsChanged(False, frozenset(), {})
    rewards: Mapping[Asset, Decimal] = attrs.field(factory=dict, converter=_frozen_map, hash=False)
    epochs: Mapping[Asset, int] = attrs.field(factory=dict, converter=_frozen_map, hash=False)


class Subscription:
    """One subscriber's bounded queue of deliveries. Use as an async context manager, or ``close()``."""

    def __init__(self, bus: EventBus, capacity: int) -> None:
        self._bus = bus
        self._send, self._receive = trio.open_memory_channel[Delivery](capacity)
        # A second handle on the same buffer, so the publisher can drop the oldest entry itself.
        self._spill = self._receive.clone()
        self.dropped = 0

    async def receive_batch(self, limit: int = 4096) -> list[Delivery]:
        """Wait for at least one delivery, then take what else is already queued (up to ``limit``)."""
        batch = [await self._receive.receive()]
        while len(batch) < limit:
            try:
                batch.append(self._receive.receive_nowait())
            except trio.WouldBlock:
                break
        return batch

    def _offer(self, delivery: Delivery) -> None:
        try:
            self._send.send_nowait(delivery)
        except trio.WouldBlock:
            self._spill.receive_nowait()
            self.dropped += 1
            self._send.send_nowait(delivery)

    def close(self) -> None:
        self._bus._forget(self)
        for handle in (self._send, self._receive, self._spill):
            handle.close()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class EventBus:
    """Broadcast: every subscriber sees every event, in publication order, unless it fell behind."""

    def __init__(self) -> None:
        self._subscribers: list[Subscription] = []
        self._seq = 0

    @property
    def seq(self) -> int:
        """The sequence number of the last published event (0 before the first)."""
        return self._seq

    @property
    def has_subscribers(self) -> bool:
        return bool(self._subscribers)

    def subscribe(self, capacity: int = 4096) -> Subscription:
        """A new subscription that sees events published from now on (call from trio)."""
        if capacity < 1:
            msg = f"a subscription needs room for at least one event, got {capacity}"
            raise ValueError(msg)
        subscription = Subscription(self, capacity)
        self._subscribers.append(subscription)
        return subscription

    def publish(self, event: RuntimeEvent) -> int:
        """Hand ``event`` to every subscriber without waiting; returns its sequence number."""
        self._seq += 1
        for subscription in self._subscribers:
            subscription._offer((self._seq, event))
        return self._seq

    def _forget(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)
