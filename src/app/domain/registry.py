"""Strategy registry rules: lifecycle states, the transition table, flags and counters.

A strategy goes candidate -> exploring -> validating -> promoted -> live; it can be paused from any working
state and resumed to where it was, and retired from anywhere. Promotion only follows validation: nothing
jumps from exploring to promoted. Every transition records (from, to, reason, at). Flags mark conditions
raised by other owners (the reconciler's ``broker_desync``, the kill key's ``killed``, ...); any blocking flag
stops new entries, whatever the state.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import final

import attrs

from app.domain.decision import Decision
from app.domain.errors import AppError, InvalidTransition
from app.domain.values import Asset

__all__ = [
    "BLOCKING_FLAGS",
    "ENTRY_STATES",
    "STATE_TRANSITIONS",
    "IllegalStrategyTransition",
    "RegistryError",
    "StateChange",
    "StrategyCounter",
    "StrategyFlag",
    "StrategyRecord",
    "StrategyState",
]


class StrategyState(StrEnum):
    CANDIDATE = "candidate"
    EXPLORING = "exploring"
    VALIDATING = "validating"
    PROMOTED = "promoted"
    LIVE = "live"
    PAUSED = "paused"
    RETIRED = "retired"


class StrategyFlag(StrEnum):
    BROKER_DESYNC = "broker_desync"
    COOLDOWN = "cooldown"
    KILLED = "killed"
    DATA_STALE = "data_stale"
    DRAWDOWN_HALT = "drawdown_halt"
    DAILY_LOSS_HALT = "daily_loss_halt"
    MANUAL_HOLD = "manual_hold"
    REVIEW = "review"
    THROTTLED = "throttled"


class StrategyCounter(StrEnum):
    TRADES = "trades"
    WINS = "wins"
    LOSSES = "losses"
    ONLINE_TRADES = "online_trades"
    REJECTIONS = "rejections"
    BACKTESTS = "backtests"
    ERRORS = "errors"


_S = StrategyState

STATE_TRANSITIONS: Mapping[StrategyState, frozenset[StrategyState]] = MappingProxyType(
    {
        _S.CANDIDATE: frozenset({_S.EXPLORING, _S.RETIRED}),
        # A candidate that fails validation goes back to exploring (or is retired); it is never promoted
        # straight from exploring.
        _S.EXPLORING: frozenset({_S.VALIDATING, _S.PAUSED, _S.RETIRED}),
        _S.VALIDATING: frozenset({_S.PROMOTED, _S.EXPLORING, _S.PAUSED, _S.RETIRED}),
        _S.PROMOTED: frozenset({_S.LIVE, _S.VALIDATING, _S.PAUSED, _S.RETIRED}),
        # Leaving live (the operator disables it) keeps the promotion.
        _S.LIVE: frozenset({_S.PROMOTED, _S.PAUSED, _S.RETIRED}),
        _S.PAUSED: frozenset({_S.EXPLORING, _S.VALIDATING, _S.PROMOTED, _S.LIVE, _S.RETIRED}),
        _S.RETIRED: frozenset(),
    }
)
"""Every allowed ``from -> to``; anything else raises IllegalStrategyTransition."""

ENTRY_STATES = frozenset({_S.EXPLORING, _S.VALIDATING, _S.PROMOTED, _S.LIVE})
"""States in which a strategy may open positions (paper for all but live)."""

_F = StrategyFlag
BLOCKING_FLAGS = frozenset(
    {
        _F.BROKER_DESYNC,
        _F.COOLDOWN,
        _F.KILLED,
        _F.DATA_STALE,
        _F.DRAWDOWN_HALT,
        _F.DAILY_LOSS_HALT,
        _F.MANUAL_HOLD,
    }
)
"""Flags that stop new entries. The others only inform: ``review`` (the operator wants a look) and
``throttled`` (drawdown throttling has cut its risk fraction)."""


class RegistryError(AppError):
    """A registry call with impossible arguments (a missing reason, a naive time, a negative count)."""


class IllegalStrategyTransition(InvalidTransition):
    """The transition table does not allow this state change."""


@final
@attrs.frozen
class StateChange:
    """One recorded transition."""

    from_state: StrategyState
    to_state: StrategyState
    reason: str
    at: datetime


def _freeze_counts(counts: Mapping[StrategyCounter, int]) -> Mapping[StrategyCounter, int]:
    return MappingProxyType(dict(counts))


@final
@attrs.frozen
class StrategyRecord:
    """One strategy's registry entry. Every method returns a new record."""

    strategy_id: str
    asset: Asset
    params_hash: str = ""
    state: StrategyState = StrategyState.CANDIDATE
    flags: frozenset[StrategyFlag] = frozenset()
    counters: Mapping[StrategyCounter, int] = attrs.field(factory=dict, converter=_freeze_counts, hash=False)
    history: tuple[StateChange, ...] = ()
    last_reason: str = ""

    def can_transition(self, to: StrategyState) -> bool:
        return to in STATE_TRANSITIONS[self.state]

    def transition(self, to: StrategyState, reason: str, at: datetime) -> StrategyRecord:
        """The record in state ``to``, the change appended to its history.

        Raises:
            IllegalStrategyTransition: the table does not allow it.
            RegistryError: ``reason`` is empty or ``at`` has no timezone.
        """
        _check_note(reason, at)
        if not self.can_transition(to):
            allowed = ", ".join(sorted(STATE_TRANSITIONS[self.state])) or "nothing"
            msg = f"{self.strategy_id}: {self.state} -> {to} is not allowed (from {self.state}: {allowed})"
            raise IllegalStrategyTransition(msg)
        change = StateChange(self.state, to, reason, at)
        return attrs.evolve(self, state=to, history=(*self.history, change), last_reason=reason)

    @property
    def paused_from(self) -> StrategyState | None:
        """The state a paused strategy left (where ``resume`` takes it back); None when not paused or
        when the pause is not in the history."""
        if self.state is not StrategyState.PAUSED:
            return None
        pauses = (c.from_state for c in reversed(self.history) if c.to_state is StrategyState.PAUSED)
        return next(pauses, None)

    def resume(self, reason: str, at: datetime) -> StrategyRecord:
        """Back to the state it was paused from. Raises IllegalStrategyTransition when not paused."""
        origin = self.paused_from
        if origin is None:
            msg = f"{self.strategy_id} is {self.state}, not paused"
            raise IllegalStrategyTransition(msg)
        return self.transition(origin, reason, at)

    def add_flag(self, flag: StrategyFlag, reason: str = "") -> StrategyRecord:
        """The record with ``flag`` set (setting it twice changes nothing but the reason)."""
        note = f"{flag} set" + (f": {reason}" if reason else "")
        return attrs.evolve(self, flags=self.flags | {flag}, last_reason=note)

    def remove_flag(self, flag: StrategyFlag, reason: str = "") -> StrategyRecord:
        """The record without ``flag`` (clearing an absent flag changes nothing)."""
        if flag not in self.flags:
            return self
        note = f"{flag} cleared" + (f": {reason}" if reason else "")
        return attrs.evolve(self, flags=self.flags - {flag}, last_reason=note)

    def inc_counter(self, name: StrategyCounter, by: int = 1) -> StrategyRecord:
        """The record with counter ``name`` raised by ``by`` (>= 0; counters never go down)."""
        if by < 0:
            msg = f"counter {name} can only grow, got {by}"
            raise RegistryError(msg)
        counts = dict(self.counters)
        counts[name] = counts.get(name, 0) + by
        return attrs.evolve(self, counters=counts)

    def count(self, name: StrategyCounter) -> int:
        return self.counters.get(name, 0)

    @property
    def blocking_flags(self) -> frozenset[StrategyFlag]:
        return self.flags & BLOCKING_FLAGS

    def can_enter(self) -> Decision:
        """Whether the strategy may open a new position: an entry state and no blocking flag."""
        blocking = sorted(self.blocking_flags)
        if blocking:
            return Decision.deny(f"flag_{blocking[0]}", f"blocked by {', '.join(blocking)}")
        if self.state not in ENTRY_STATES:
            return Decision.deny(f"state_{self.state}", f"a {self.state} strategy opens no positions")
        return Decision.allow(f"{self.state}, no blocking flag")


def _check_note(reason: str, at: datetime) -> None:
    if not reason.strip():
        msg = "every transition needs a reason"
        raise RegistryError(msg)
    if at.tzinfo is None or at.utcoffset() is None:
        msg = f"transition times are timezone-aware UTC, got naive {at.isoformat()}"
        raise RegistryError(msg)
