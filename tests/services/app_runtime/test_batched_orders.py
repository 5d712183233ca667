"""Strategies acting on the same bar have their orders placed together (``OrderRouter.place_orders``: one
commit, each checked with those before it counted). Strategies of one symbol share its netted position at the
venue: the first to enter holds it, and the others stay out until it is flat, on the same bar as on later
ones, so every trade belongs to the strategy that decided it."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest
import trio

from app.learning.strategies.spec import StrategySpec, load_spec
from tests.services.app_runtime.wiring import SPEC, paper_runtime

BARS = 600  # the demo enters and exits several times before this


def sized(spec: StrategySpec, strategy_id: str, fraction: float) -> StrategySpec:
    return spec.model_copy(
        update={"id": strategy_id, "sizing": spec.sizing.model_copy(update={"fraction": fraction})}
    )


def test_of_two_strategies_entering_one_symbol_on_the_same_bar_only_the_first_enters(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    demo = load_spec(SPEC)
    wired = paper_runtime(tmp_path, bars=BARS, specs=[sized(demo, "a", 0.2), sized(demo, "b", 0.2)])
    with caplog.at_level(logging.INFO, logger="app.runtime"):
        trio.run(wired.runtime.run)

    orders = wired.storage.orders()
    assert {o.strategy_id for o in orders} == {"a"}
    entries = [o for o in orders if not o.reduce_only]
    exits = [o for o in orders if o.reduce_only or o.client_order_id.startswith("sim-")]
    assert len(entries) > 1
    # Each exit closes exactly what a's entry bought: nothing of another strategy's is in the position.
    assert all(exit_.qty == entry.qty for entry, exit_ in zip(entries, exits, strict=False))
    trades = wired.storage.trades()
    assert trades
    assert Counter(t.strategy_id for t in trades) == {"a": len(trades)}
    skipped = [r for r in caplog.records if r.getMessage() == "entry skipped"]
    assert len(skipped) == len(entries)
    assert all(getattr(r, "strategy_id", None) == "b" for r in skipped)
    assert "ETHBTC is entered by a on the same bar" in getattr(skipped[0], "reason", "")
    wired.storage.close()


def test_the_first_strategy_trades_as_it_would_alone(tmp_path: Path) -> None:
    demo = load_spec(SPEC)
    together = paper_runtime(
        tmp_path / "together", bars=BARS, specs=[sized(demo, "a", 0.2), sized(demo, "b", 0.2)]
    )
    trio.run(together.runtime.run)
    alone = paper_runtime(tmp_path / "alone", bars=BARS, specs=[sized(demo, "a", 0.2)])
    trio.run(alone.runtime.run)

    assert [(o.side, o.qty, o.avg_price) for o in together.storage.orders()] == [
        (o.side, o.qty, o.avg_price) for o in alone.storage.orders()
    ]
    together.storage.close()
    alone.storage.close()
