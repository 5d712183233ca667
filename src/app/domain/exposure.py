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
from typing import NamedTuple, TypedDict, final

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
    "OrderExposure",
    "can_open",
    "clusters_of",
    "current_exposure",
    "learn_clusters",
    "learned_cluster_defs",
    "net_orders",
]

_ZERO = Decimal(0)
_ONE = Decimal(1)
_MINUS_ONE = Decimal(-1)
# Side.sign as a lookup: the enum property's call costs more than the arithmetic it signs, on every order.
# Decimal signs, as in the comparisons with _ZERO below: the same results as with ints, without converting them.
_SIGN: Mapping[Side, Decimal] = {Side.BUY: _ONE, Side.SELL: _MINUS_ONE}


def _symbol_set(symbols: Iterable[str]) -> frozenset[str]:
    return frozenset(symbols)


def net_orders(
    orders: Iterable[tuple[Asset, str, Decimal]], earlier: Mapping[tuple[Asset, str], Decimal] | None = None
) -> dict[tuple[Asset, str], Decimal]:
    """Signed notional (long positive) per (asset, symbol) after each (asset, symbol, signed notional) in turn,
    in the book's order: an entry moves to the end when an order changes it, as ``with_order`` does, and goes
    when an order closes it. ``earlier`` is what earlier orders left (a result of this function; not changed):
    the orders continue from it."""
    signed = dict(earlier) if earlier is not None else {}
    for asset, symbol, value in orders:
        key = (asset, symbol)
        netted = signed.pop(key, _ZERO) + value
        if netted != _ZERO:
            signed[key] = netted
    return signed


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
        signed = net_orders(
            (asset, symbol, notional * _SIGN[side]) for asset, symbol, side, notional in orders
        )
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


# An entry as OrderExposure sums it: symbol, notional, signed notional, and whether the order nets it.
_Row = tuple[str, Decimal, Decimal, bool]


def _sums(rows: Iterable[_Row]) -> tuple[Decimal, Decimal, int, Decimal, Decimal, int]:
    """Gross, net and count of ``rows``, then the same without the row the order nets: ``current_exposure``'s
    sums of the book before the order, and of the book after it but for the netted entry (which ``with_order``
    puts last), each added up in the book's order. (A cluster's share is summed the same way in ``_of_rows``.)"""
    gross_was = net_was = gross_rest = net_rest = _ZERO
    count_was = count_rest = 0
    for _, notional, signed, netted in rows:
        gross_was += notional
        net_was += signed
        count_was += 1
        if not netted:
            gross_rest += notional
            net_rest += signed
            count_rest += 1
    return gross_was, net_was, count_was, gross_rest, net_rest, count_rest


class OrderExposure(NamedTuple):
    """An asset's book as an order on ``symbol`` sees it, for ``can_open``: each sum of the book before the
    order and without the symbol's entry, which the order nets (the order's own entry is added last).

    Built once per book and symbol, it judges any number of sizes by adding one entry, where summing the book
    again would cost a step per position (order_router checks each request once, and again at each step of a
    bisection when a size must be cut). Sums keep the book's order, so they round as ``current_exposure``'s.
    A NamedTuple rather than an attrs class: one is made for every order, and a frozen attrs class takes
    longer to make than the sums it holds.
    """

    asset: Asset
    symbol: str
    current: Decimal | None  # the signed notional of the symbol's entry; None when none is open
    was: tuple[Decimal, Decimal, int]  # gross, net and count before the order
    rest: tuple[Decimal, Decimal, int]  # the same without the symbol's entry
    # Each cluster holding the symbol, its gross and count before the order, and without the symbol's entry
    # (of two such clusters with one name, the later one's members, as current_exposure reports them by name).
    clusters: tuple[tuple[ClusterDef, Decimal, int, Decimal, int], ...]

    @classmethod
    def of_book(
        cls, book: ExposureBook, asset: Asset, symbol: str, clusters: Sequence[ClusterDef]
    ) -> OrderExposure:
        """``book``'s entries of ``asset``, seen by an order on ``symbol`` (which nets the symbol's first entry)."""
        entries = [e for e in book.entries if e.asset is asset]
        current = next((e for e in entries if e.symbol == symbol), None)
        rows = [(e.symbol, e.notional, e.signed, e is current) for e in entries]
        return cls._of_rows(rows, asset, symbol, current.signed if current is not None else None, clusters)

    @classmethod
    def of_net(
        cls,
        signed: Mapping[tuple[Asset, str], Decimal],
        asset: Asset,
        symbol: str,
        clusters: Sequence[ClusterDef],
        *,
        all_hold_symbol: bool = False,
    ) -> OrderExposure:
        """The book of ``signed`` notionals by (asset, symbol), in the book's order (as ``net_orders`` makes
        them; at most one per key), as ``of_book`` sees ``ExposureBook.from_orders`` of the same orders.

        ``all_hold_symbol``: the caller has kept only the clusters holding ``symbol`` (``clusters_of``), so
        they are not sifted again (exposure_manager keeps them per symbol; this runs for every order)."""
        rows: list[_Row] = []
        current = None
        for (entry_asset, entry_symbol), value in signed.items():
            if entry_asset is asset:
                # What ExposureEntry holds for the value: notional and notional x its side's sign.
                notional = abs(value)
                entry_signed = notional * (_ONE if value > _ZERO else _MINUS_ONE)
                netted = entry_symbol == symbol
                if netted:
                    current = entry_signed
                rows.append((entry_symbol, notional, entry_signed, netted))
        return cls._of_rows(rows, asset, symbol, current, clusters, all_hold_symbol)

    @classmethod
    def _of_rows(
        cls,
        rows: Sequence[_Row],
        asset: Asset,
        symbol: str,
        current: Decimal | None,
        clusters: Sequence[ClusterDef],
        all_hold_symbol: bool = False,
    ) -> OrderExposure:
        gross_was, net_was, count_was, gross_rest, net_rest, count_rest = _sums(rows)
        mine = clusters if all_hold_symbol else clusters_of(symbol, clusters)
        # current_exposure reports clusters by name: of two clusters with one name, the later one counts.
        members_of = {c.name: c.symbols for c in mine} if len(mine) > 1 else None
        by_cluster = []
        for cluster in mine:
            members = members_of[cluster.name] if members_of else cluster.symbols
            # _sums of the members' rows, gross and counts only (a cluster's net is never asked), written out:
            # once per order and cluster. The netted entry holds the order's symbol, so it is a member of each
            # cluster here.
            was_gross = rest_gross = _ZERO
            was_count = rest_count = 0
            for row_symbol, notional, _, netted in rows:
                if row_symbol in members:
                    was_gross += notional
                    was_count += 1
                    if not netted:
                        rest_gross += notional
                        rest_count += 1
            by_cluster.append((cluster, was_gross, was_count, rest_gross, rest_count))
        return cls(
            asset,
            symbol,
            current,
            (gross_was, net_was, count_was),
            (gross_rest, net_rest, count_rest),
            tuple(by_cluster),
        )

    def judge(
        self, side: Side, notional: Decimal, *, limits: ExposureLimits, allocation: Decimal
    ) -> Decision:
        """``can_open`` of an order of ``notional`` on the symbol: whether it keeps the asset within its caps."""
        if notional <= _ZERO:
            return Decision.deny("bad_notional", f"notional must be positive, got {notional}")
        current = self.current
        signed = (current if current is not None else _ZERO) + notional * _SIGN[side]
        gross_was, net_was, count_was = self.was
        gross_now, net_now, count_now = self.rest
        # The order's netted entry goes last, as with_order puts it; none when the order closes the position.
        netted = None
        if signed != _ZERO:
            # The entry's notional, and its signed notional as ExposureEntry.signed has it.
            netted = abs(signed)
            gross_now += netted
            net_now += netted * (_ONE if signed > _ZERO else _MINUS_ONE)
            count_now += 1
        # A cap denies only an order that makes its measure worse: above the cap and above where it was
        # (spelled out rather than a helper's call per cap: they run for every order).
        asset = self.asset
        if allocation <= _ZERO and gross_now > gross_was:
            return Decision.deny("no_allocation", f"{asset.value} has no allocation ({allocation})")
        if count_now > limits.max_positions and count_now > count_was:
            return Decision.deny("max_positions", f"{limits.max_positions} positions are already open")
        gross_cap = limits.max_gross_fraction * allocation
        if gross_now > gross_cap and gross_now > gross_was:
            reason = f"gross exposure {gross_now} would pass {gross_cap} ({limits.max_gross_fraction} x)"
            return Decision.deny("max_gross", reason)
        net_cap = limits.max_net_fraction * allocation
        if abs(net_now) > net_cap and abs(net_now) > abs(net_was):
            reason = f"net exposure {net_now} would pass +/-{net_cap} ({limits.max_net_fraction} x)"
            return Decision.deny("max_net", reason)
        cluster_cap = limits.max_cluster_fraction * allocation
        for cluster, was_gross, was_count, now_gross, now_count in self.clusters:
            if netted is not None:  # it holds the order's symbol, so it is a member of each of these clusters
                now_gross += netted
                now_count += 1
            if now_count > limits.max_positions_per_cluster and now_count > was_count:
                reason = f"cluster {cluster.name} already holds {was_count} positions"
                return Decision.deny("cluster_positions", reason)
            if now_gross > cluster_cap and now_gross > was_gross:
                reason = f"cluster {cluster.name} would hold {now_gross}, above {cluster_cap}"
                return Decision.deny("cluster_fraction", reason)
        # !s: str() prints a Decimal as format() does, in half the time (this runs for every order).
        return Decision.allow(f"gross {gross_now!s}, net {net_now!s} after the order")


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
    ``OrderExposure.of_book(book, ...).judge(...)`` gives the same answer, and judges more sizes cheaply.
    """
    exposure = OrderExposure.of_book(book, asset, symbol, clusters)
    return exposure.judge(side, notional, limits=limits, allocation=allocation)


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
