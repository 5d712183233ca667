"""budget_manager: a bucket's spending room comes from the broker's positions in each request's context."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.budget import Bucket, Budget, required_spend
from app.domain.values import Asset, Instrument, Position, Side
from app.services.budget_manager import BudgetManager
from app.services.order_requests import OrderRequest, PretradeContext
from tests.support.context_chains import RATES, chain, positions_on, steps_on

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


# --- what positions use, carried from one context to the next ---------------------------------------

_SYMBOLS = ["AAAUSDT", "BBBUSDT", "CCCUSDT"]
_positions = positions_on(_SYMBOLS)
_steps = steps_on(_SYMBOLS)


@settings(max_examples=400)
@given(
    st.lists(_positions, max_size=5),
    st.dictionaries(st.sampled_from(_SYMBOLS), st.sampled_from(RATES)),
    _steps,
    st.lists(st.tuples(st.sampled_from(["0.5", "1", "3", "12"]), st.booleans()), min_size=1, max_size=3),
)
def test_what_positions_use_carried_from_context_to_context_is_what_a_fresh_sum_gives(
    start, rates, steps, requests
):
    budget = BudgetManager(Budget.create({Asset.SPOT: D(1000), Asset.FUTURES: D(800)}))
    for n, ctx in enumerate(chain(context(*start), rates, steps)):
        if n == 2:
            budget.adjust(Asset.SPOT, D(100))  # the budget changes too
        for qty, spot in requests:
            asset = Asset.SPOT if spot else Asset.FUTURES
            request = attrs.evolve(buy(qty), asset=asset)
            used = D(0)
            for p in ctx.positions:
                if p.asset == asset:
                    used += required_spend(asset, ctx.position_notional(p))
            bucket = Bucket(asset, budget.get_alloc(asset), used)

            available = budget.available(asset, ctx)
            decision = budget.can_afford(request, ctx)

            assert repr(available) == repr(bucket.available)  # repr: the same digits, not only an equal value
            assert decision == bucket.can_afford(ctx.notional(request.qty, request.price))


def test_a_context_revalued_at_an_equal_rate_written_otherwise_is_summed_at_that_rate():
    budget = manager()
    first = attrs.evolve(context(held("AAAUSDT", "2", "150")), position_rates={"AAAUSDT": D(1)})
    second = attrs.evolve(first, position_rates={"AAAUSDT": D("1.00")})

    assert str(budget.available(Asset.SPOT, first)) == "700"
    assert str(budget.available(Asset.SPOT, second)) == "700.00"
