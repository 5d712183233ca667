"""budget_manager: a bucket's spending room comes from the broker's positions in each request's context."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from app.domain.budget import Budget
from app.domain.values import Asset, Instrument, Position, Side
from app.services.budget_manager import BudgetManager
from app.services.order_requests import OrderRequest, PretradeContext

T0 = datetime(2024, 1, 1, tzinfo=UTC)
XYZ = Instrument("XYZUSDT", Asset.SPOT, "XYZ", "USDT", D("0.01"), D("0.001"), D("0.001"), D(0))


def context(*positions: Position) -> PretradeContext:
    return PretradeContext(
        instrument=XYZ,
        cash=D(1000),
        equity=D(1000),
        quote_rate=D(1),
        positions=positions,
        position_rates={p.symbol: D(1) for p in positions},
    )


def held(symbol: str, qty: str, price: str, asset: Asset = Asset.SPOT) -> Position:
    return Position(asset, symbol, D(qty), D(price), T0)


def buy(qty: str, price: str = "100") -> OrderRequest:
    return OrderRequest("s1", Asset.SPOT, "XYZUSDT", Side.BUY, D(qty), D(price), stop_loss=D(95))


def manager(spot: str = "1000") -> BudgetManager:
    return BudgetManager(Budget.create({Asset.SPOT: D(spot)}))


def test_what_the_assets_positions_cost_is_not_available():
    # 2 x 150 + 1 x 100 = 400 of the 1000 allocation is in positions; a futures position does not count
    budget = manager()
    ctx = context(
        held("AAAUSDT", "2", "150"), held("BBBUSDT", "-1", "100"), held("CCC", "5", "100", Asset.FUTURES)
    )

    assert budget.available(Asset.SPOT, ctx) == D(600)
    assert budget.available(Asset.SPOT) == D(1000)


def test_a_request_is_affordable_only_within_what_the_positions_leave():
    budget = manager()
    ctx = context(held("AAAUSDT", "7", "100"))

    assert budget.can_afford(buy("3"), ctx).allowed
    denied = budget.can_afford(buy("4"), ctx)
    assert denied.code == "insufficient_budget"
    assert denied.reason == "spot needs 400 but has 300 available (allocation 1000, used 700)"


def test_each_context_is_judged_on_its_own_positions():
    budget = manager()
    empty, loaded = context(), context(held("AAAUSDT", "9", "100"))

    assert budget.can_afford(buy("5"), empty).allowed
    assert not budget.can_afford(buy("5"), loaded).allowed
    assert budget.can_afford(buy("5"), empty).allowed


def test_a_budget_change_between_two_checks_of_one_context_counts():
    budget = manager()
    ctx = context(held("AAAUSDT", "7", "100"))
    assert not budget.can_afford(buy("4"), ctx).allowed

    budget.adjust(Asset.SPOT, D(100))

    assert budget.available(Asset.SPOT, ctx) == D(400)
    assert budget.can_afford(buy("4"), ctx).allowed


def test_an_asset_without_a_bucket_has_nothing_to_spend():
    budget = BudgetManager(Budget.create({Asset.FUTURES: D(1000)}))

    assert budget.available(Asset.SPOT, context()) == 0
    assert budget.can_afford(buy("1"), context()).code == "no_bucket"
