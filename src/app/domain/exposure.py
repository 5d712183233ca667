"""Portfolio exposure (the exposure_manager's rules): clusters, concurrency and gross/net caps.

Clusters come from config (BTC and large layer-1s, USD majors) and from rolling return correlation: symbols
whose returns correlate at or above a threshold join one cluster (union-find, so correlation chains link).
Negative correlation is a hedge, not a cluster.

``can_open`` checks the book as it would be after the order. A cap only denies an order that makes its own
measure worse, so closing or reducing a position is always allowed, even when the book is already over a cap
(after a reallocation shrank the allocation, say). Percent caps are of the asset's allocation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TypedDict, final

import attrs
import numpy as np
import numpy.typing as npt

from app.domain.decision import Decision
from app.domain.values import Asset, Position, Side

__all__ = [
    "ClusterDef",
    "ClusterExposure",
    "ExposureBook",
    "ExposureEntry",
    "ExposureLimits",
    "ExposureReport",
    "can_open",
    "clusters_of",
    "current_exposure",
    "learn_clusters",
    "learned_cluster_defs",
]

_ZERO = Decimal(0)
# Side.sign as a lookup: the enum property's call costs more than the arithmetic it signs, on every order.
_SIGN: Mapping[Side, int] = {Side.BUY: 1, Side.SELL: -1}


def _symbol_set(symbols: Iterable[str]) -> frozenset[str]:
    return frozenset(symbols)


@final
@attrs.frozen
class ClusterDef:
    """A named group of symbols that move together."""

    name: str
    symbols: frozenset[str] = attrs.field(converter=_symbol_set)


@final
@attrs.frozen
class ExposureLimits:
    """Portfolio caps of one asset; fractions are of the asset's allocation.

    Args:
        max_positions: open positions at once (default 5).
        max_positions_per_cluster: open positions in one cluster (default 2).
        max_cluster_fraction: gross notional in one cluster (default 0.30 = 30%).
        max_gross_fraction: gross notional (sum of |notional|) (default 1.0; raise it for margin assets).
        max_net_fraction: |long - short| notional (default 1.0).
    """

    max_positions: int = 5
    max_positions_per_cluster: int = 2
    max_cluster_fraction: Decimal = Decimal("0.30")
    max_gross_fraction: Decimal = Decimal(1)
    max_net_fraction: Decimal = Decimal(1)


@final
@attrs.frozen
class ExposureEntry:
    """One open position as exposure: a positive notional on a side."""

    asset: Asset
    symbol: str
    side: Side
    notional: Decimal

    @property
    def signed(self) -> Decimal:
        return self.notional * self.side.sign


@final
@attrs.frozen
class ExposureBook:
    """Open positions, one entry per (asset, symbol); adding an order nets it against the entry."""

    entries: tuple[ExposureEntry, ...] = ()

    @classmethod
    def from_positions(
        cls, positions: Iterable[Position], marks: Mapping[str, Decimal] | None = None
    ) -> ExposureBook:
        """Positions valued at ``marks`` by symbol (their average price where no mark is given)."""
        marks = marks or {}
        return cls.from_orders(
            (p.asset, p.symbol, p.side, abs(p.qty) * marks.get(p.symbol, p.avg_price)) for p in positions
        )

    @classmethod
    def from_orders(cls, orders: Iterable[tuple[Asset, str, Side, Decimal]]) -> ExposureBook:
        """The book after each (asset, symbol, side, notional) in turn: ``with_order`` folded over them, in one
        pass (a book of n positions costs n steps, not n x n)."""
        signed: dict[tuple[Asset, str], Decimal] = {}
        for asset, symbol, side, notional in orders:
            key = (asset, symbol)
            # Popped and put back: an entry moves to the end when an order changes it, as with_order does.
            signed[key] = signed.pop(key, _ZERO) + notional * _SIGN[side]
            if signed[key] == 0:
                del signed[key]
        return cls(
            tuple(
                ExposureEntry(asset, symbol, Side.BUY if value > 0 else Side.SELL, abs(value))
                for (asset, symbol), value in signed.items()
            )
        )

    def with_order(self, asset: Asset, symbol: str, side: Side, notional: Decimal) -> ExposureBook:
        """The book after an order of ``notional`` fills (netted against an open entry of the symbol)."""
        current = next((e for e in self.entries if e.asset is asset and e.symbol == symbol), None)
        signed = (current.signed if current else _ZERO) + notional * side.sign
        others = tuple(e for e in self.entries if e is not current)
        if signed == 0:
            return ExposureBook(others)
        entry_side = Side.BUY if signed > 0 else Side.SELL
        return ExposureBook((*others, ExposureEntry(asset, symbol, entry_side, abs(signed))))

    def without(self, asset: Asset, symbol: str) -> ExposureBook:
        """The book with the symbol's position closed."""
        return ExposureBook(tuple(e for e in self.entries if not (e.asset is asset and e.symbol == symbol)))

    def for_asset(self, asset: Asset) -> ExposureBook:
        return ExposureBook(tuple(e for e in self.entries if e.asset is asset))


class ClusterExposure(TypedDict):
    gross: Decimal
    net: Decimal
    positions: int


class ExposureReport(TypedDict):
    """``by_symbol`` is signed notional (long positive), summed over assets holding the symbol."""

    gross: Decimal
    net: Decimal
    positions: int
    by_symbol: dict[str, Decimal]
    by_cluster: dict[str, ClusterExposure]


def clusters_of(symbol: str, clusters: Iterable[ClusterDef]) -> list[ClusterDef]:
    """Every cluster the symbol belongs to (it may be in a configured and a learned one)."""
    return [c for c in clusters if symbol in c.symbols]


def current_exposure(book: ExposureBook, clusters: Iterable[ClusterDef] = ()) -> ExposureReport:
    """Gross, net and position counts of the book, per symbol and per cluster."""
    entries = book.entries
    by_symbol: dict[str, Decimal] = {}
    gross = net = _ZERO
    for e in entries:
        signed = e.signed
        by_symbol[e.symbol] = by_symbol.get(e.symbol, _ZERO) + signed
        gross += e.notional
        net += signed
    by_cluster: dict[str, ClusterExposure] = {}
    for cluster in clusters:
        members = [e for e in entries if e.symbol in cluster.symbols]
        by_cluster[cluster.name] = ClusterExposure(
            gross=sum((e.notional for e in members), _ZERO),
            net=sum((e.signed for e in members), _ZERO),
            positions=len(members),
        )
    return ExposureReport(
        gross=gross, net=net, positions=len(entries), by_symbol=by_symbol, by_cluster=by_cluster
    )


def _worse(before: Decimal | int, after: Decimal | int, cap: Decimal | int) -> bool:
    return after > cap and after > before


def _before_after(
    entries: Iterable[ExposureEntry],
    current: ExposureEntry | None,
    added: tuple[Decimal, Decimal] | None,
    members: frozenset[str] | None = None,
) -> tuple[Decimal, Decimal, int, Decimal, Decimal, int]:
    """Gross, net and count of ``entries`` (only those of ``members``' symbols, when given) before an order,
    then after it: without ``current`` (the symbol's entry, which the order nets) and with ``added`` last (the
    netted entry's notional and signed notional; None when the order closes the position). That is
    ``current_exposure`` of the book before and after ``with_order``, each sum added up in the same order (so
    with the same Decimal rounding), without building the books and reports: this runs for every order, more
    while order_router bisects a size."""
    gross_was = net_was = gross_now = net_now = _ZERO
    count_was = count_now = 0
    for e in entries:
        if members is not None and e.symbol not in members:
            continue
        notional, signed = e.notional, e.signed
        gross_was += notional
        net_was += signed
        count_was += 1
        if e is not current:
            gross_now += notional
            net_now += signed
            count_now += 1
    if added is not None:
        gross_now += added[0]
        net_now += added[1]
        count_now += 1
    return gross_was, net_was, count_was, gross_now, net_now, count_now


def can_open(
    book: ExposureBook,
    symbol: str,
    side: Side,
    notional: Decimal,
    *,
    asset: Asset,
    limits: ExposureLimits,
    clusters: Sequence[ClusterDef],
    allocation: Decimal,
) -> Decision:
    """Whether an order of ``notional`` on ``symbol`` keeps the asset's book within its caps.

    Only the book's entries of ``asset`` count, since the caps are fractions of that asset's allocation.
    """
    if notional <= 0:
        return Decision.deny("bad_notional", f"notional must be positive, got {notional}")
    # The book after the order is for_asset(asset).with_order(...): the symbol's entry netted with the order.
    entries: list[ExposureEntry] = []
    current = None
    for e in book.entries:
        if e.asset is asset:
            entries.append(e)
            if current is None and e.symbol == symbol:
                current = e
    signed = (current.signed if current else _ZERO) + notional * _SIGN[side]
    added = None
    if signed != 0:
        netted = abs(signed)  # the entry's notional, and its signed notional as ExposureEntry.signed has it
        added = (netted, netted * (1 if signed > 0 else -1))
    gross_was, net_was, count_was, gross_now, net_now, count_now = _before_after(entries, current, added)
    if allocation <= 0 and gross_now > gross_was:
        return Decision.deny("no_allocation", f"{asset.value} has no allocation ({allocation})")
    if _worse(count_was, count_now, limits.max_positions):
        return Decision.deny("max_positions", f"{limits.max_positions} positions are already open")
    gross_cap = limits.max_gross_fraction * allocation
    if _worse(gross_was, gross_now, gross_cap):
        reason = f"gross exposure {gross_now} would pass {gross_cap} ({limits.max_gross_fraction} x)"
        return Decision.deny("max_gross", reason)
    net_cap = limits.max_net_fraction * allocation
    if _worse(abs(net_was), abs(net_now), net_cap):
        reason = f"net exposure {net_now} would pass +/-{net_cap} ({limits.max_net_fraction} x)"
        return Decision.deny("max_net", reason)
    cluster_cap = limits.max_cluster_fraction * allocation
    mine = clusters_of(symbol, clusters)
    if mine:
        denial = _cluster_denial(mine, limits, cluster_cap, entries, current, added)
        if denial is not None:
            return denial
    return Decision.allow(f"gross {gross_now}, net {net_now} after the order")


def _cluster_denial(
    mine: Sequence[ClusterDef],
    limits: ExposureLimits,
    cluster_cap: Decimal,
    entries: Sequence[ExposureEntry],
    current: ExposureEntry | None,
    added: tuple[Decimal, Decimal] | None,
) -> Decision | None:
    """The first cap of the order's clusters (``mine``, every one holding its symbol) that it breaks, else None."""
    # current_exposure reports clusters by name: of two clusters with one name, the later one counts.
    members_of = {c.name: c.symbols for c in mine} if len(mine) > 1 else None
    for cluster in mine:
        members = members_of[cluster.name] if members_of else cluster.symbols
        # The netted entry holds the order's symbol, so it is a member of each cluster here.
        was_gross, _, was_count, now_gross, _, now_count = _before_after(entries, current, added, members)
        if _worse(was_count, now_count, limits.max_positions_per_cluster):
            reason = f"cluster {cluster.name} already holds {was_count} positions"
            return Decision.deny("cluster_positions", reason)
        if _worse(was_gross, now_gross, cluster_cap):
            reason = f"cluster {cluster.name} would hold {now_gross}, above {cluster_cap}"
            return Decision.deny("cluster_fraction", reason)
    return None


def _correlation(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    """Pearson correlation over the points both have; nan when either side is constant or too short."""
    both = np.isfinite(a) & np.isfinite(b)
    x, y = a[both], b[both]
    if len(x) < 3:
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    scale = float(np.sqrt((dx * dx).sum() * (dy * dy).sum()))
    if scale == 0.0:
        return float("nan")
    return float((dx * dy).sum() / scale)


def learn_clusters(returns: Mapping[str, npt.ArrayLike], threshold: float, window: int) -> list[set[str]]:
    """Groups of symbols whose last ``window`` returns correlate at or above ``threshold``.

    Series are aligned on their last points (the caller passes returns over the same bars); NaNs are skipped
    pair by pair. Groups of one are dropped. The result is sorted by its members, so it is deterministic.
    """
    if window < 3:
        msg = f"window must be at least 3 points, got {window}"
        raise ValueError(msg)
    symbols = sorted(returns)
    tails = {s: np.asarray(returns[s], dtype=np.float64)[-window:] for s in symbols}
    length = min((len(t) for t in tails.values()), default=0)
    if length < 3:
        return []
    parent = {s: s for s in symbols}

    def root(s: str) -> str:
        while parent[s] != s:
            parent[s] = parent[parent[s]]
            s = parent[s]
        return s

    for i, a in enumerate(symbols):
        for b in symbols[i + 1 :]:
            if _correlation(tails[a][-length:], tails[b][-length:]) >= threshold:
                parent[root(b)] = root(a)
    groups: dict[str, set[str]] = {}
    for s in symbols:
        groups.setdefault(root(s), set()).add(s)
    return sorted((g for g in groups.values() if len(g) > 1), key=sorted)


def learned_cluster_defs(groups: Iterable[set[str]]) -> list[ClusterDef]:
    """Learned groups as clusters named ``corr:`` plus their sorted members."""
    return [ClusterDef("corr:" + "+".join(sorted(g)), g) for g in groups]
