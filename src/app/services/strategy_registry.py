"""strategy_registry: every strategy's state, flags and counters (rules in ``app.domain.registry``), persisted.

The registry is stored as one JSON document in the store's meta table, rewritten in the same transaction as a
journal event for each change, so a restart finds exactly the states and flags it left.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.domain.decision import Decision
from app.domain.registry import (
    StateChange,
    StrategyCounter,
    StrategyFlag,
    StrategyRecord,
    StrategyState,
)
from app.domain.values import Asset
from app.ports.clock import Clock
from app.ports.storage import Storage

__all__ = ["StrategyRegistry"]

_META_KEY = "registry"


class StrategyRegistry:
    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock
        self._records: dict[str, StrategyRecord] = _decode(storage.get_meta(_META_KEY))
        # can_enter's answer per strategy id: asked for every order, it changes only when a record does (_put).
        self._gates: dict[str, Decision] = {}

    def create(self, strategy_id: str, asset: Asset, *, params_hash: str = "", reason: str) -> StrategyRecord:
        """Register a strategy as a candidate and start exploring it (idempotent for a known id)."""
        if strategy_id in self._records:
            return self._records[strategy_id]
        record = StrategyRecord(strategy_id, asset, params_hash=params_hash)
        record = record.transition(StrategyState.EXPLORING, reason, self._clock.now())
        self._put(record, "strategy_registered", reason=reason)
        return record

    def get(self, strategy_id: str) -> StrategyRecord | None:
        return self._records.get(strategy_id)

    def records(self) -> list[StrategyRecord]:
        return sorted(self._records.values(), key=lambda r: r.strategy_id)

    def get_for(self, asset: Asset, state: StrategyState | None = None) -> list[StrategyRecord]:
        return [r for r in self.records() if r.asset == asset and (state is None or r.state == state)]

    def set_state(self, strategy_id: str, state: StrategyState, reason: str) -> StrategyRecord:
        """Transition by the table; raises IllegalStrategyTransition otherwise."""
        record = self._require(strategy_id).transition(state, reason, self._clock.now())
        self._put(record, "strategy_state", state=state.value, reason=reason)
        return record

    def add_flag(self, strategy_id: str, flag: StrategyFlag, reason: str = "") -> StrategyRecord:
        record = self._require(strategy_id).add_flag(flag, reason)
        self._put(record, "flag_set", flag=flag.value, reason=reason)
        return record

    def remove_flag(self, strategy_id: str, flag: StrategyFlag, reason: str = "") -> StrategyRecord:
        record = self._require(strategy_id).remove_flag(flag, reason)
        self._put(record, "flag_cleared", flag=flag.value, reason=reason)
        return record

    def flag_asset(self, asset: Asset, flag: StrategyFlag, reason: str) -> list[str]:
        """Set ``flag`` on every strategy of ``asset``; returns their ids."""
        ids = [r.strategy_id for r in self.get_for(asset)]
        for strategy_id in ids:
            self.add_flag(strategy_id, flag, reason)
        return ids

    def clear_asset_flag(self, asset: Asset, flag: StrategyFlag, reason: str) -> list[str]:
        ids = [r.strategy_id for r in self.get_for(asset) if flag in r.flags]
        for strategy_id in ids:
            self.remove_flag(strategy_id, flag, reason)
        return ids

    def inc_counter(self, strategy_id: str, name: StrategyCounter, by: int = 1) -> StrategyRecord:
        record = self._require(strategy_id).inc_counter(name, by)
        self._put(record, None)
        return record

    def can_enter(self, strategy_id: str) -> Decision:
        """May the strategy open a position? Unknown strategies may not."""
        gate = self._gates.get(strategy_id)
        if gate is None:
            record = self._records.get(strategy_id)
            if record is None:
                gate = Decision.deny("unregistered", f"strategy {strategy_id} is not in the registry")
            else:
                gate = record.can_enter()
            self._gates[strategy_id] = gate
        return gate

    def _require(self, strategy_id: str) -> StrategyRecord:
        try:
            return self._records[strategy_id]
        except KeyError:
            msg = f"strategy {strategy_id} is not in the registry"
            raise LookupError(msg) from None

    def _put(self, record: StrategyRecord, event: str | None, **fields: str) -> None:
        self._records[record.strategy_id] = record
        self._gates.clear()
        with self._storage.transaction():
            self._storage.set_meta(_META_KEY, _encode(self._records.values()))
            if event is not None:
                self._storage.append_event(
                    self._clock.now(), event, {"strategy_id": record.strategy_id, **fields}
                )


def _encode(records: Sequence[StrategyRecord] | Any) -> str:
    return json.dumps(
        [
            {
                "strategy_id": r.strategy_id,
                "asset": r.asset.value,
                "params_hash": r.params_hash,
                "state": r.state.value,
                "flags": sorted(f.value for f in r.flags),
                "counters": {k.value: v for k, v in r.counters.items()},
                "history": [
                    [c.from_state.value, c.to_state.value, c.reason, c.at.isoformat()] for c in r.history
                ],
                "last_reason": r.last_reason,
            }
            for r in records
        ]
    )


def _decode(raw: str | None) -> dict[str, StrategyRecord]:
    if not raw:
        return {}
    records = {}
    for item in json.loads(raw):
        record = StrategyRecord(
            strategy_id=item["strategy_id"],
            asset=Asset(item["asset"]),
            params_hash=item["params_hash"],
            state=StrategyState(item["state"]),
            flags=frozenset(StrategyFlag(f) for f in item["flags"]),
            counters={StrategyCounter(k): int(v) for k, v in item["counters"].items()},
            history=tuple(
                StateChange(StrategyState(a), StrategyState(b), reason, datetime.fromisoformat(at))
                for a, b, reason, at in item["history"]
            ),
            last_reason=item["last_reason"],
        )
        records[record.strategy_id] = record
    return records
