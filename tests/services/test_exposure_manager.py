"""exposure_manager: portfolio caps judged on the broker's positions in each request's context."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from app.domain.exposure import ClusterDef, ExposureLimits
from app.domain.values import Asset, Instrument, Position, Side
from app.services.exposure_manager import ExposureManager
from app.services.order_requests import OrderRequest, PretradeContext

T0 = datetime(2024, 1, 1, tzinfo=UTC)
BTC = Instrument("BTCUSDT", Asset.SPOT, "BTC", "USDT", D("0.01"), D("0.001"), D("0.001"), D(0))
MAJORS = ClusterDef("majors", {"BTCUSDT", "ETHUSDT", "SOLUSDT"})


def context(*positions: Position) -> PretradeContext:
    return PretradeContext(
        instrument=BTC,
        cash=D(1000),
        equity=D(1000),
        quote_rate=D(1),
        positions=positions,
        position_rates={p.symbol: D(1) for p in positions},
    )


def held(symbol: str, qty: str) -> Position:
    return Position(Asset.SPOT, symbol, D(qty), D(100), T0)


def buy(qty: str) -> OrderRequest:
    return OrderRequest("s1", Asset.SPOT, "BTCUSDT", Side.BUY, D(qty), D(100), stop_loss=D(95))


def test_each_context_is_judged_on_its_own_positions():
    # majors may hold 2 positions: ETH and SOL are open in the second context
    exposure = ExposureManager(ExposureLimits(), [MAJORS])
    empty, crowded = context(), context(held("ETHUSDT", "1"), held("SOLUSDT", "1"))

    assert exposure.can_open(buy("1"), empty, allocation=D(1000)).allowed
    assert exposure.can_open(buy("1"), crowded, allocation=D(1000)).code == "cluster_positions"
    assert exposure.can_open(buy("1"), empty, allocation=D(1000)).allowed


def test_repeated_checks_of_one_context_give_the_answer_for_each_size():
    # the cluster may hold 30% of 1000 = 300; 1 unit of ETH (100) is open, so 2 BTC fit and 3 do not
    exposure = ExposureManager(ExposureLimits(), [MAJORS])
    ctx = context(held("ETHUSDT", "1"))

    assert exposure.can_open(buy("2"), ctx, allocation=D(1000)).allowed
    assert exposure.can_open(buy("3"), ctx, allocation=D(1000)).code == "cluster_fraction"
    assert exposure.can_open(buy("2"), ctx, allocation=D(1000)).allowed


def test_new_clusters_apply_to_the_next_check():
    exposure = ExposureManager(ExposureLimits(), [])
    ctx = context(held("ETHUSDT", "1"), held("SOLUSDT", "1"))
    assert exposure.can_open(buy("1"), ctx, allocation=D(1000)).allowed

    exposure.set_clusters([MAJORS])

    assert exposure.can_open(buy("1"), ctx, allocation=D(1000)).code == "cluster_positions"
