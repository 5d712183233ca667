"""Strategies acting on the same bar have their orders placed together (``OrderRouter.place_orders``): one
commit, and each entry checked with those before it counted as filled."""

from __future__ import annotations

from pathlib import Path

import trio

from app.learning.strategies.spec import StrategySpec, load_spec
from tests.services.app_runtime.wiring import SPEC, paper_runtime

BARS = 400  # the demo's first entry signal comes well before this


def sized(spec: StrategySpec, strategy_id: str, fraction: float) -> StrategySpec:
    return spec.model_copy(
        update={"id": strategy_id, "sizing": spec.sizing.model_copy(update={"fraction": fraction})}
    )


def test_two_strategies_entering_on_the_same_bar_share_the_caps(tmp_path: Path) -> None:
    demo = load_spec(SPEC)
    # Each sizes itself at 20% of the bucket's cash (~197 USD of ETHBTC): alone either fits the 300 USD cap
    # of the BTC-quoted cluster, together they do not.
    wired = paper_runtime(tmp_path, bars=BARS, specs=[sized(demo, "a", 0.2), sized(demo, "b", 0.2)])
    trio.run(wired.runtime.run)

    orders = wired.storage.orders()
    assert [o.strategy_id for o in orders[:2]] == ["a", "b"]
    a, b = (wired.storage.intent(o.client_order_id) for o in orders[:2])
    assert a is not None
    assert b is not None
    assert a.created_at == b.created_at  # decided on the same bar
    assert int(b.client_order_id[-8:]) == int(a.client_order_id[-8:]) + 1
    # b asked for 20% of the same cash as a, and was cut to what a's entry left under the cluster's cap
    assert "reduced" not in a.note
    assert "reduced by exposure" in b.note
    assert "btc_quoted_alts" in b.note
    assert b.qty < a.qty
    wired.storage.close()
