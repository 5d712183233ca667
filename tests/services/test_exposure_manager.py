"""exposure_manager: portfolio caps judged on the broker's positions in each request's context."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.exposure import ClusterDef, ExposureBook, ExposureLimits, can_open
from app.domain.values import Asset, Instrument, Position, Side
from app.services.exposure_manager import ExposureManager
from app.services.order_requests import OrderRequest, PretradeContext
from tests.support.context_chains import RATES, chain, positions_on, steps_on

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


# --- checks carried over from one context to the next ----------------------------------------------

_SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
_positions = positions_on(_SYMBOLS)
_steps = steps_on(_SYMBOLS)


@settings(max_examples=400)
@given(
    st.lists(_positions, max_size=5),
    st.dictionaries(st.sampled_from(_SYMBOLS), st.sampled_from(RATES)),
    _steps,
    st.lists(
        st.tuples(
            st.sampled_from(_SYMBOLS),
            st.sampled_from(list(Side)),
            st.sampled_from(["0.5", "1", "2", "3.5"]),
            st.booleans(),
        ),
        min_size=1,
        max_size=3,
    ),
    st.sampled_from([D(1000), D(500), D(0)]),
)
def test_checks_carried_from_context_to_context_answer_as_a_fresh_look_at_each(
    start, rates, steps, requests, allocation
):
    exposure = ExposureManager(ExposureLimits(), [MAJORS])
    for n, ctx in enumerate(chain(context(*start), rates, steps)):
        if n == 3:
            exposure.set_clusters([ClusterDef("majors", {"BTCUSDT", "XRPUSDT"})])  # the clusters change too
        for symbol, side, qty, spot in requests:
            asset = Asset.SPOT if spot else Asset.FUTURES
            request = OrderRequest("s1", asset, symbol, side, D(qty), D(100), stop_loss=D(95))

            decision = exposure.can_open(request, ctx, allocation=allocation)

            book = ExposureBook.from_orders(
                (p.asset, p.symbol, p.side, ctx.position_notional(p)) for p in ctx.positions
            )
            assert decision == can_open(
                book,
                symbol,
                side,
                ctx.notional(request.qty, request.price),
                asset=asset,
                limits=ExposureLimits(),
                clusters=exposure.clusters,
                allocation=allocation,
            )


def test_a_context_revalued_at_an_equal_rate_written_otherwise_is_summed_at_that_rate():
    # 1 and 1.00 are equal, but the sums they make print differently: nothing is carried over between them
    exposure = ExposureManager(ExposureLimits(), [])
    first = attrs.evolve(context(held("ETHUSDT", "1")), position_rates={"ETHUSDT": D(1)})
    second = attrs.evolve(first, position_rates={"ETHUSDT": D("1.00")})

    assert (
        exposure.can_open(buy("1"), first, allocation=D(1000)).reason == "gross 200, net 200 after the order"
    )
    assert exposure.can_open(buy("1"), second, allocation=D(1000)).reason == (
        "gross 200.00, net 200.00 after the order"
    )


def test_a_context_extending_the_last_one_counts_its_added_positions():
    exposure = ExposureManager(ExposureLimits(), [MAJORS])
    first = context(held("ETHUSDT", "1"))
    second = attrs.evolve(
        first,
        positions=(*first.positions, held("SOLUSDT", "1")),
        position_rates={"ETHUSDT": D(1), "SOLUSDT": D(1)},
    )

    assert exposure.can_open(buy("1"), first, allocation=D(1000)).allowed
    assert exposure.can_open(buy("1"), second, allocation=D(1000)).code == "cluster_positions"
