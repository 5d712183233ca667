"""The pipeline's checks, made cheaper per order, answer exactly as their plain forms did.

Budget asks ``bucket_can_afford`` of the numbers it summed rather than a Bucket made for each order; exposure
skips sifting clusters it has already sifted and sums each cluster's gross and count inline; risk keeps the
instrument in the bucket's units for the last (instrument, rate); Decimal reasons print with ``!s``. The plain
forms are kept here as the reference: every decision (allowed, code, reason) must match.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.budget import CASH_ASSETS, Bucket, bucket_can_afford, required_spend
from app.domain.decision import Decision
from app.domain.exposure import (
    ClusterDef,
    ExposureBook,
    ExposureLimits,
    OrderExposure,
    clusters_of,
    current_exposure,
    net_orders,
)
from app.domain.risk_values import RiskLimits
from app.domain.values import Asset, Instrument, Position, Side
from app.services.order_requests import OrderRequest, PretradeContext
from app.services.risk_manager import RiskManager
from tests.domain.test_risk_speed_equivalence import exactly, reference_assess

T0 = datetime(2024, 1, 1, tzinfo=UTC)
_ZERO = D(0)

# Amounts with varied exponents and digits (equal values written otherwise print otherwise in reasons).
amounts = st.one_of(
    st.integers(-3, 10**6).map(lambda n: D(n) / 100),
    st.decimals(min_value=D(-5), max_value=D(10**9), places=6, allow_nan=False, allow_infinity=False),
    st.sampled_from([D("1E+3"), D("1000.00"), D("0E-8"), D("-0"), D("3.333333333333333333333333333"), D(1)]),
)


# --- budget: a bucket's answer without making the bucket -------------------------------------------------


def reference_can_afford(bucket: Bucket, notional: D, leverage: D = D(1)) -> Decision:
    """Bucket.can_afford as it was written before ``bucket_can_afford``."""
    asset = bucket.asset
    if notional <= 0:
        return Decision.deny("bad_notional", f"notional must be positive, got {notional}")
    if leverage < 1:
        return Decision.deny("bad_leverage", f"leverage must be at least 1, got {leverage}")
    if asset in CASH_ASSETS and leverage != 1:
        reason = f"{asset.value} pays the whole notional in cash: leverage {leverage} does not apply"
        return Decision.deny("cash_asset_leverage", reason)
    spend = required_spend(asset, notional, leverage)
    available = bucket.allocation - bucket.used
    if spend > available:
        reason = (
            f"{asset.value} needs {spend} but has {available} available "
            f"(allocation {bucket.allocation}, used {bucket.used})"
        )
        return Decision.deny("insufficient_budget", reason)
    return Decision.allow(f"{asset.value} spends {spend} of {available} available")


@settings(max_examples=400)
@given(
    st.sampled_from(list(Asset)),
    amounts,
    amounts,
    amounts,
    st.one_of(st.sampled_from([D(1), D("1.0"), D(0), D("0.5"), D(2), D("3.5")]), amounts),
)
def test_a_buckets_answer_without_the_bucket_is_the_buckets_answer(
    asset, allocation, used, notional, leverage
):
    bucket = Bucket(asset, allocation, used)
    expected = reference_can_afford(bucket, notional, leverage)
    assert bucket_can_afford(asset, allocation, used, notional, leverage) == expected
    assert bucket.can_afford(notional, leverage) == expected
    if leverage == 1:
        assert bucket_can_afford(asset, allocation, used, notional) == reference_can_afford(bucket, notional)


# --- exposure: clusters sifted once ------------------------------------------------------------------------

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
CLUSTERS = [
    ClusterDef("majors", {"BTCUSDT", "ETHUSDT", "SOLUSDT"}),
    ClusterDef("alts", {"SOLUSDT", "XRPUSDT"}),
    ClusterDef("majors", {"BTCUSDT", "XRPUSDT"}),  # a second cluster of one name: the later one is reported
]
orders = st.lists(
    st.tuples(
        st.sampled_from([Asset.SPOT, Asset.FUTURES]),
        st.sampled_from(SYMBOLS),
        st.sampled_from(list(Side)),
        amounts.filter(lambda n: n > 0),
    ),
    max_size=10,
)
# A few limits and allocations drawn again and again, so the kept caps are asked of the same objects, of equal
# ones written otherwise, and of other values in turn.
LIMITS = [
    ExposureLimits(),
    ExposureLimits(max_cluster_fraction=D("0.05"), max_gross_fraction=D("0.2"), max_net_fraction=D("0.1")),
    ExposureLimits(max_positions=2, max_positions_per_cluster=1, max_gross_fraction=D("2.50")),
]
ALLOCATIONS = [D(1000), D("1E+3"), D("1000.00"), D(0), D(-50), D("12.5"), D(400)]


@settings(max_examples=300)
@given(
    orders,
    st.sampled_from([Asset.SPOT, Asset.FUTURES]),
    st.sampled_from(SYMBOLS),
    st.lists(st.sampled_from(CLUSTERS), max_size=3),
    st.lists(
        st.tuples(
            st.sampled_from(list(Side)),
            st.one_of(amounts, st.integers(-2, 0).map(D)),
            st.sampled_from(range(len(LIMITS))),
            st.sampled_from(range(len(ALLOCATIONS))),
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_an_exposure_of_sifted_clusters_judges_as_one_of_all_clusters(
    raw, asset, symbol, cluster_defs, judgements
):
    signed = net_orders((a, s, n * side.sign) for a, s, side, n in raw)
    of_all = OrderExposure.of_net(signed, asset, symbol, cluster_defs)
    mine = tuple(clusters_of(symbol, cluster_defs))
    sifted = OrderExposure.of_net(signed, asset, symbol, mine, all_hold_symbol=True)
    assert repr(sifted) == repr(of_all)  # repr: Decimals that are equal but print differently differ here

    for side, notional, which_limits, which_allocation in judgements:
        caps, allocation = LIMITS[which_limits], ALLOCATIONS[which_allocation]
        kept = sifted.judge(side, notional, limits=caps, allocation=allocation)
        fresh = of_all.judge(side, notional, limits=caps, allocation=allocation)
        assert kept == fresh


@settings(max_examples=300)
@given(
    orders,
    st.sampled_from([Asset.SPOT, Asset.FUTURES]),
    st.sampled_from(SYMBOLS),
    st.lists(st.sampled_from(CLUSTERS)),
)
def test_each_clusters_sums_are_current_exposures_before_the_order_and_without_the_symbols_entry(
    raw, asset, symbol, cluster_defs
):
    book = ExposureBook.from_orders(raw).for_asset(asset)
    exposure = OrderExposure.of_net(
        net_orders((a, s, n * side.sign) for a, s, side, n in raw), asset, symbol, cluster_defs
    )
    mine = clusters_of(symbol, cluster_defs)
    was = current_exposure(book, mine)["by_cluster"]
    rest = current_exposure(book.without(asset, symbol), mine)["by_cluster"]
    assert [(c.name, str(g), n, str(rg), rn) for c, g, n, rg, rn in exposure.clusters] == [
        (
            c.name,
            str(was[c.name]["gross"]),
            was[c.name]["positions"],
            str(rest[c.name]["gross"]),
            rest[c.name]["positions"],
        )
        for c in mine
    ]


def test_a_cap_prints_as_the_allocation_it_is_a_fraction_of_is_written():
    exposure = OrderExposure.of_net({(Asset.SPOT, "BTCUSDT"): D(90)}, Asset.SPOT, "BTCUSDT", ())
    limits = ExposureLimits(max_gross_fraction=D("0.1"))
    denials = [
        exposure.judge(Side.BUY, D(20), limits=limits, allocation=allocation).reason
        for allocation in (D(1000), D("1E+3"), D(1000), D("1000.0"))
    ]
    assert denials == [
        "gross exposure 110 would pass 100.0 (0.1 x)",
        "gross exposure 110 would pass 1E+2 (0.1 x)",
        "gross exposure 110 would pass 100.0 (0.1 x)",
        "gross exposure 110 would pass 100.00 (0.1 x)",
    ]


# --- reasons print Decimals with !s ------------------------------------------------------------------------


@settings(max_examples=300)
@given(
    st.one_of(
        amounts,
        st.decimals(allow_nan=False, allow_infinity=False),
        st.sampled_from([D("1E+2"), D("-0E-7"), D("1E-7"), D("0.0000001"), D("123456789E+20")]),
    )
)
def test_a_decimal_prints_with_s_as_it_formats_without_a_spec(value):
    assert f"{value!s}" == f"{value}"


# --- risk: the instrument in the bucket's units, kept for the last instrument and rate -------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(range(3)),  # which instrument: two equal ones (different objects), one other
            st.sampled_from([D(1), D("1.00"), D("0.93"), D(2)]),
            st.sampled_from([D(100), D("99.50"), D("1E+2")]),
            st.sampled_from([D("0.5"), D("0.01"), None]),
            st.booleans(),  # the rate object shared with the one before, or a new one of equal value
        ),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from([D(0), D(5)]),
)
def test_one_manager_assesses_a_run_of_orders_as_the_plain_service_assesses_each(orders, min_notional):
    def instrument(lot: str) -> Instrument:
        return Instrument("AAAUSDT", Asset.SPOT, "AAA", "USDT", D("0.01"), D(lot), D(lot), min_notional)

    instruments = [instrument("0.001"), instrument("0.001"), instrument("0.1")]
    limits = {Asset.SPOT: RiskLimits()}
    manager = RiskManager(limits)
    rate_before = None
    for which, drawn, price, qty, shared in orders:
        # the object of the order before (as a batch's contexts share it), or a new one
        reuse = shared and rate_before is not None and rate_before == drawn
        rate = rate_before if reuse else D(str(drawn))
        rate_before = rate
        held = Position(Asset.SPOT, "AAAUSDT", D(1), D(100), T0, strategy_id="s1", stop_loss=D(97))
        context = PretradeContext(instruments[which], D(10_000), D(10_000), rate, (held,), {"AAAUSDT": rate})
        request = OrderRequest("s1", Asset.SPOT, "AAAUSDT", Side.BUY, qty, price, price * D("0.98"))

        decision = manager.assess(request, context, budget_available=D(5000))

        assert exactly(decision) == exactly(reference_assess(limits, request, context, D(5000)))
