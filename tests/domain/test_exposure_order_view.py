"""exposure: can_open judged through OrderExposure (sums of the book taken once per book and symbol) gives
exactly the decision of the book before and after the order, summed from scratch by current_exposure."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.decision import Decision
from app.domain.exposure import (
    ClusterDef,
    ExposureBook,
    ExposureEntry,
    ExposureLimits,
    OrderExposure,
    can_open,
    clusters_of,
    current_exposure,
    net_orders,
)
from app.domain.values import Asset, Side

SPOT, FUTURES = Asset.SPOT, Asset.FUTURES
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "EURUSD"]
CLUSTERS = [
    ClusterDef("majors", {"BTCUSDT", "ETHUSDT", "SOLUSDT"}),
    ClusterDef("alts", {"SOLUSDT", "XRPUSDT"}),
    ClusterDef("majors", {"BTCUSDT", "XRPUSDT"}),  # a second cluster of one name: the later one is reported
    ClusterDef("fx", {"EURUSD"}),
]


def reference(book, symbol, side, notional, *, asset, limits, clusters, allocation):
    """can_open spelled out: the asset's book before and after ``with_order``, each summed from scratch."""
    if notional <= 0:
        return Decision.deny("bad_notional", f"notional must be positive, got {notional}")
    before_book = book.for_asset(asset)
    # Clusters are reported by name, the later of two with one name counting; can_open looks only among the
    # clusters holding the order's symbol.
    mine = clusters_of(symbol, clusters)
    was = current_exposure(before_book, mine)
    now = current_exposure(before_book.with_order(asset, symbol, side, notional), mine)

    def worse(before, after, cap):
        return after > cap and after > before

    if allocation <= 0 and now["gross"] > was["gross"]:
        return Decision.deny("no_allocation", f"{asset.value} has no allocation ({allocation})")
    if worse(was["positions"], now["positions"], limits.max_positions):
        return Decision.deny("max_positions", f"{limits.max_positions} positions are already open")
    gross_cap = limits.max_gross_fraction * allocation
    if worse(was["gross"], now["gross"], gross_cap):
        reason = f"gross exposure {now['gross']} would pass {gross_cap} ({limits.max_gross_fraction} x)"
        return Decision.deny("max_gross", reason)
    net_cap = limits.max_net_fraction * allocation
    if worse(abs(was["net"]), abs(now["net"]), net_cap):
        reason = f"net exposure {now['net']} would pass +/-{net_cap} ({limits.max_net_fraction} x)"
        return Decision.deny("max_net", reason)
    cluster_cap = limits.max_cluster_fraction * allocation
    for cluster in mine:
        before, after = was["by_cluster"][cluster.name], now["by_cluster"][cluster.name]
        if worse(before["positions"], after["positions"], limits.max_positions_per_cluster):
            reason = f"cluster {cluster.name} already holds {before['positions']} positions"
            return Decision.deny("cluster_positions", reason)
        if worse(before["gross"], after["gross"], cluster_cap):
            reason = f"cluster {cluster.name} would hold {after['gross']}, above {cluster_cap}"
            return Decision.deny("cluster_fraction", reason)
    return Decision.allow(f"gross {now['gross']}, net {now['net']} after the order")


# Amounts with varied exponents and digits, so sums round and print as they would only in one order.
amounts = st.one_of(
    st.integers(1, 10**6).map(lambda n: D(n) / 100),
    st.decimals(min_value=D("0.000001"), max_value=D(10**9), places=8, allow_nan=False, allow_infinity=False),
    st.sampled_from([D("1E+3"), D("100.00"), D("3.333333333333333333333333333"), D("0.1"), D("7")]),
)
orders = st.lists(
    st.tuples(
        st.sampled_from([SPOT, FUTURES]), st.sampled_from(SYMBOLS), st.sampled_from(list(Side)), amounts
    ),
    max_size=12,
)
limits = st.builds(
    ExposureLimits,
    max_positions=st.integers(1, 6),
    max_positions_per_cluster=st.integers(1, 3),
    max_cluster_fraction=st.integers(5, 100).map(lambda n: D(n) / 100),
    max_gross_fraction=st.integers(20, 300).map(lambda n: D(n) / 100),
    max_net_fraction=st.integers(10, 200).map(lambda n: D(n) / 100),
)
clusters = st.lists(st.sampled_from(CLUSTERS), max_size=4)
allocations = st.one_of(st.integers(-100, 3000).map(D), amounts)


@settings(max_examples=300)
@given(
    orders,
    st.sampled_from([SPOT, FUTURES]),
    st.sampled_from(SYMBOLS),
    st.sampled_from(list(Side)),
    st.lists(st.one_of(amounts, st.integers(-5, 0).map(D)), min_size=1, max_size=4),
    limits,
    clusters,
    allocations,
)
def test_one_exposure_judges_every_size_as_the_book_summed_afresh(
    raw, asset, symbol, side, sizes, caps, cluster_defs, allocation
):
    book = ExposureBook.from_orders(raw)
    signed = net_orders((a, s, n * side_.sign) for a, s, side_, n in raw)
    of_book = OrderExposure.of_book(book, asset, symbol, cluster_defs)
    of_net = OrderExposure.of_net(signed, asset, symbol, cluster_defs)
    assert repr(of_net) == repr(of_book)  # repr: Decimals that are equal but print differently differ here

    terms = {"asset": asset, "limits": caps, "clusters": cluster_defs, "allocation": allocation}
    for notional in sizes:
        expected = reference(book, symbol, side, notional, **terms)
        given_ = can_open(book, symbol, side, notional, **terms)
        judged = of_net.judge(side, notional, limits=caps, allocation=allocation)
        assert given_ == expected
        assert judged == expected


entries = st.builds(
    ExposureEntry,
    st.sampled_from([SPOT, FUTURES]),
    st.sampled_from(SYMBOLS),
    st.sampled_from(list(Side)),
    amounts,
)


@settings(max_examples=300)
@given(
    st.lists(entries, max_size=6),
    st.lists(st.integers(0, 5), max_size=3),
    st.sampled_from(SYMBOLS),
    st.sampled_from(list(Side)),
    amounts,
    limits,
    clusters,
    allocations,
)
def test_a_book_made_by_hand_with_repeated_entries_is_judged_as_with_order_sees_it(
    made, repeats, symbol, side, notional, caps, cluster_defs, allocation
):
    # ExposureBook(...) takes any entries: one symbol twice, even one entry object twice
    listed = list(made)
    for i in repeats:
        if listed:
            listed.append(listed[i % len(listed)])
    book = ExposureBook(tuple(listed))

    decision = can_open(
        book, symbol, side, notional, asset=SPOT, limits=caps, clusters=cluster_defs, allocation=allocation
    )

    assert decision == reference(
        book, symbol, side, notional, asset=SPOT, limits=caps, clusters=cluster_defs, allocation=allocation
    )


@settings(max_examples=300)
@given(orders, st.integers(0, 12))
def test_netting_carried_on_from_earlier_orders_equals_netting_them_all(raw, cut):
    signed = [(a, s, n * side.sign) for a, s, side, n in raw]
    earlier = net_orders(signed[:cut])
    kept = dict(earlier)

    assert repr(net_orders(signed[cut:], earlier)) == repr(net_orders(signed))
    assert earlier == kept  # the earlier result is not changed
