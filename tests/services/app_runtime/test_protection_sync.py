"""On start, a run has sl_tp_manager re-attach any SL/TP a broker position lacks (after a restart or a
reconnect), against the journal's fill-anchored levels, and journals the repair."""

from __future__ import annotations

from pathlib import Path

import trio

from app.domain.values import Asset
from tests.services.app_runtime.wiring import paper_runtime

BARS_WITH_A_POSITION = 600  # the ETHBTC demo holds a protected position after this many bars


def test_a_restarted_run_re_attaches_protection_the_broker_lost(tmp_path: Path) -> None:
    first = paper_runtime(tmp_path, bars=BARS_WITH_A_POSITION)
    trio.run(first.runtime.run)
    (held,) = first.storage.positions()
    assert held.stop_loss is not None
    first.storage.close()

    again = paper_runtime(tmp_path, bars=1)
    sim = again.brokers[Asset.SPOT]
    trio.run(sim.set_trading_stop, held.symbol, None, None)  # the venue lost it (a reconnect, a restart)

    trio.run(again.runtime.run)

    (position,) = trio.run(sim.positions)
    assert (position.stop_loss, position.take_profit) == (held.stop_loss, held.take_profit)
    repairs = [fields for _, _, _, fields in again.storage.events(kind="sl_tp_resynced")]
    assert repairs == [{"asset": "spot", "symbols": [held.symbol]}]
    again.storage.close()


def test_a_restart_with_nothing_missing_repairs_nothing(tmp_path: Path) -> None:
    first = paper_runtime(tmp_path, bars=BARS_WITH_A_POSITION)
    trio.run(first.runtime.run)
    first.storage.close()

    again = paper_runtime(tmp_path, bars=1)
    trio.run(again.runtime.run)

    assert list(again.storage.events(kind="sl_tp_resynced")) == []
    again.storage.close()
