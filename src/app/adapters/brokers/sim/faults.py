"""Fault injection for tests: the simulated venue misbehaves the way real ones do, deterministically.

Faults are either armed one at a time (``reject_next()``, ``drop_next_fill()``, ...) or drawn with the seeded
probabilities of ``SimFaults``. Everything injected is logged in ``injected`` so a test can say what it saw.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from decimal import Decimal

from app.adapters.brokers.sim.config import SimFaults
from app.domain.values import Fill
from app.ports.broker import BrokerEvent

__all__ = ["FaultInjector"]


class FaultInjector:
    """The venue's fault switchboard and its outbox filter."""

    def __init__(self, faults: SimFaults, desync: Callable[[str, Decimal], None]) -> None:
        self._faults = faults
        self._desync = desync
        # Simulation dice, not security: a seeded PRNG is the point.
        self._rng = random.Random(faults.seed)  # noqa: S311
        self._reject: list[str] = []
        self._timeouts = 0
        self._drop_fills = 0
        self._duplicates = 0
        self._reorders = 0
        self.injected: list[str] = []

    # -- arming -----------------------------------------------------------------------------------------

    def reject_next(self, reason: str = "injected rejection") -> None:
        """The next order placement is refused (BrokerRejected; nothing is created)."""
        self._reject.append(reason)

    def timeout_next(self) -> None:
        """The next placement is accepted, then raises OrderOutcomeUnknown (the order IS on the book)."""
        self._timeouts += 1

    def drop_next_fill(self) -> None:
        """The next fill happens but its event is never reported (``fills()`` and ``get_order`` show it)."""
        self._drop_fills += 1

    def duplicate_next_event(self) -> None:
        """The next event (an order update, a fill or a funding payment) is reported twice."""
        self._duplicates += 1

    def reorder_next_drain(self) -> None:
        """The next ``drain_events`` answer (with two events or more) comes in another order."""
        self._reorders += 1

    def desync_balance(self, currency: str, amount: Decimal) -> None:
        """Add ``amount`` to the wallet's ``currency`` silently: no event, no fill."""
        self._desync(currency, amount)
        self.injected.append(f"desync {currency} {amount}")

    # -- used by the venue ------------------------------------------------------------------------------

    def take_rejection(self) -> str | None:
        """The reason to refuse this placement, or None."""
        if not self._reject and not self._faults.reject_rate > 0:
            return None  # the usual case, decided without a roll (``_roll`` draws nothing then either)
        if self._reject:
            reason = self._reject.pop(0)
        elif self._roll(self._faults.reject_rate):
            reason = "injected rejection"
        else:
            return None
        self.injected.append("reject")
        return reason

    def take_timeout(self) -> bool:
        """True when this (accepted) placement must look like a timeout to the caller."""
        if not self._timeouts and not self._faults.timeout_rate > 0:
            return False  # as in take_rejection
        if self._timeouts:
            self._timeouts -= 1
        elif not self._roll(self._faults.timeout_rate):
            return False
        self.injected.append("timeout")
        return True

    def emit(self, outbox: list[BrokerEvent], event: BrokerEvent) -> None:
        """Put ``event`` in ``outbox``, unless a fault drops or duplicates it."""
        if isinstance(event, Fill) and (self._take("_drop_fills") or self._roll(self._faults.drop_fill_rate)):
            self.injected.append(f"drop {event.fill_id}")
            return
        outbox.append(event)
        if self._take("_duplicates") or self._roll(self._faults.duplicate_rate):
            outbox.append(event)
            self.injected.append("duplicate")

    def deliver(self, events: list[BrokerEvent]) -> list[BrokerEvent]:
        """The events of one ``drain_events`` call, shuffled when a reorder fault fires."""
        if len(events) < 2 or not (self._take("_reorders") or self._roll(self._faults.reorder_rate)):
            return events
        shuffled = list(events)
        self._rng.shuffle(shuffled)
        if shuffled == events:
            shuffled.reverse()
        self.injected.append("reorder")
        return shuffled

    def _take(self, counter: str) -> bool:
        left: int = getattr(self, counter)
        if left <= 0:
            return False
        setattr(self, counter, left - 1)
        return True

    def _roll(self, probability: float) -> bool:
        return probability > 0 and self._rng.random() < probability
