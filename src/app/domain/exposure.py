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
        book = cls()
        for p in positions:
            notional = abs(p.qty) * marks.get(p.symbol, p.avg_price)
            book = book.with_order(p.asset, p.symbol, p.side, notional)
        return book

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
    scoped = book.for_asset(asset)
    mine = clusters_of(symbol, clusters)
    before = current_exposure(scoped, mine)
    after = current_exposure(scoped.with_order(asset, symbol, side, notional), mine)
    if allocation <= 0 and after["gross"] > before["gross"]:
        return Decision.deny("no_allocation", f"{asset.value} has no allocation ({allocation})")
    if _worse(before["positions"], after["positions"], limits.max_positions):
        return Decision.deny("max_positions", f"{limits.max_positions} positions are already open")
    gross_cap = limits.max_gross_fraction * allocation
    if _worse(before["gross"], after["gross"], gross_cap):
        reason = f"gross exposure {after['gross']} would pass {gross_cap} ({limits.max_gross_fraction} x)"
        return Decision.deny("max_gross", reason)
    net_cap = limits.max_net_fraction * allocation
    if _worse(abs(before["net"]), abs(after["net"]), net_cap):
        reason = f"net exposure {after['net']} would pass +/-{net_cap} ({limits.max_net_fraction} x)"
        return Decision.deny("max_net", reason)
    cluster_cap = limits.max_cluster_fraction * allocation
    for cluster in mine:
        was, now = before["by_cluster"][cluster.name], after["by_cluster"][cluster.name]
        if _worse(was["positions"], now["positions"], limits.max_positions_per_cluster):
            reason = f"cluster {cluster.name} already holds {was['positions']} positions"
            return Decision.deny("cluster_positions", reason)
        if _worse(was["gross"], now["gross"], cluster_cap):
            reason = f"cluster {cluster.name} would hold {now['gross']}, above {cluster_cap}"
            return Decision.deny("cluster_fraction", reason)
    return Decision.allow(f"gross {after['gross']}, net {after['net']} after the order")


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
