"""The runtime's market-data tap: the ``data_stale`` registry flag follows data_manager's stale events, and a
live feed's quotes go into data_manager as they arrive."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable, Sequence

from app.domain.registry import StrategyFlag
from app.domain.values import Quote
from app.services.app_runtime.controls import RegistryControl
from app.services.data_manager import DataManager, DataResumed, DataStale

__all__ = ["flag_data_stale", "pump_quotes"]


def flag_data_stale(
    registry: RegistryControl | None,
    strategies: Sequence[tuple[str, str]],
    event: DataStale | DataResumed,
) -> list[str]:
    """Set (DataStale) or clear (DataResumed) ``data_stale`` on the strategies trading the event's symbol.

    ``strategies`` are (strategy id, symbol) pairs; returns the ids whose flag changed.
    """
    if registry is None:
        return []
    on = isinstance(event, DataStale)
    if isinstance(event, DataStale):
        reason = f"no new {event.symbol} bar for {event.silent_for:.0f}s (limit {event.limit:.0f}s)"
    else:
        reason = f"{event.symbol} bars resumed at {event.bar.isoformat()}"
    mine = {strategy_id for strategy_id, symbol in strategies if symbol == event.symbol}
    changed = []
    for record in registry.records():
        if record.strategy_id in mine and (StrategyFlag.DATA_STALE in record.flags) != on:
            change = registry.add_flag if on else registry.remove_flag
            change(record.strategy_id, StrategyFlag.DATA_STALE, reason)
            changed.append(record.strategy_id)
    return changed


async def pump_quotes(data: DataManager, quotes: Callable[[], AsyncGenerator[Quote, None]]) -> None:
    async with contextlib.aclosing(quotes()) as stream:
        async for quote in stream:
            data.ingest_quote(quote)
