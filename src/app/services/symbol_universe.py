"""symbol_universe: which crypto symbols to watch (20-40 of them), and the spike detector.

``refresh_crypto_universe()`` asks each crypto asset's source for candidates (a symbol's 24h turnover, its
quote currency, how much history it has), filters them and ranks them by 24h turnover:

- Filters (``UniverseConfig``): quote currency in ``quote_currencies`` (empty: any), not in ``excluded``,
  not a stablecoin pair (base and quote both stablecoins), at least ``min_history`` of history (unknown
  history passes), 24h turnover at least ``min_turnover``. Each refused symbol is listed with its reason.
- Turnover is in each symbol's quote currency. When the candidates have more than one quote currency they
  are ranked by USD value through ``quote_rates`` (a quote without a rate is refused, with that reason).
- A stable core of ``core_size`` symbols: a core member stays while its turnover is at least
  ``core_keep_ratio`` times the cut (the turnover of the ``core_size``-th ranked symbol); free core places
  go to the best ranked. A rotating tail: the next ``tail_size`` best ranked. Fewer when fewer pass.

``run()`` refreshes every ``refresh_every``; a failed refresh keeps the previous universe.
``get_symbols(asset)`` answers from the last refresh (or the static lists, for forex and options).

``SpikeDetector`` scores each new bar's log return and log volume against the symbol's previous ``window``
bars (z-scores); a bar beyond both thresholds emits an ``Opportunity`` for the strategy scheduler.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Final, Literal, Protocol, final

import attrs
import numpy as np
import trio

from app.domain.errors import AppError
from app.domain.resample import BarBatch, datetime_to_ns, ns_to_datetime, timeframe_ns
from app.domain.symbols import split_symbol
from app.domain.values import Asset

__all__ = [
    "STABLECOINS",
    "Candidate",
    "MarketSnapshot",
    "Opportunity",
    "RankedSymbol",
    "SpikeDetector",
    "SymbolUniverse",
    "Universe",
    "UniverseConfig",
    "UniverseSource",
    "candidates_from_bars",
    "select_universe",
]

log = logging.getLogger("app.universe")

STABLECOINS: Final = frozenset(
    {"USDT", "USDC", "USD", "DAI", "FDUSD", "TUSD", "BUSD", "USDE", "PYUSD", "USDD", "EUR", "EURC"}
)
CRYPTO: Final = (Asset.SPOT, Asset.FUTURES)


def _frozen(mapping: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(mapping))


def _positive(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        msg = f"{attribute.name} must be positive, got {value}"
        raise ValueError(msg)


@final
@attrs.frozen
class UniverseConfig:
    """Universe rules. The config file has no universe section yet, so these defaults are the settings.

    Args:
        min_turnover: least 24h turnover to qualify, in the ranking currency (default 0: any).
        quote_currencies: quote currencies allowed; empty allows any (default USDT only, so turnovers
            compare like for like).
        excluded: symbols never taken.
        stablecoins: currencies whose pairs with each other are left out (default ``STABLECOINS``).
        min_history: least history a symbol needs (default 7 days: a new listing's volume is not yet its own).
        core_size: places in the stable core (default 20).
        tail_size: places in the rotating tail (default 10); core + tail lies within 20-40.
        core_keep_ratio: a core member stays while its turnover is at least this times the cut (default 0.5).
        refresh_every: time between refreshes in ``run`` (default 1 hour).
        quote_rates: USD per unit of a quote currency, to rank mixed quotes (default: USDT and USDC at 1).
    """

    min_turnover: float = 0.0
    quote_currencies: tuple[str, ...] = ("USDT",)
    excluded: frozenset[str] = frozenset()
    stablecoins: frozenset[str] = STABLECOINS
    min_history: timedelta = timedelta(days=7)
    core_size: int = 20
    tail_size: int = 10
    core_keep_ratio: float = attrs.field(default=0.5, validator=_positive)
    refresh_every: timedelta = timedelta(hours=1)
    quote_rates: Mapping[str, float] = attrs.field(
        factory=lambda: {"USDT": 1.0, "USDC": 1.0, "USD": 1.0}, converter=_frozen
    )

    def __attrs_post_init__(self) -> None:
        size = self.core_size + self.tail_size
        if self.core_size < 1 or self.tail_size < 0 or not 20 <= size <= 40:
            msg = f"core_size + tail_size must keep 20-40 symbols, got {self.core_size} + {self.tail_size}"
            raise ValueError(msg)


@final
@attrs.frozen
class Candidate:
    """A symbol a source offers: its 24h turnover (quote currency) and history (None when unknown)."""

    symbol: str
    base: str
    quote: str
    turnover_24h: float
    history: timedelta | None = None
    last_price: float | None = None


@final
@attrs.frozen
class MarketSnapshot:
    """What a source knew at ``at``."""

    at: datetime
    candidates: tuple[Candidate, ...]


@final
@attrs.frozen
class RankedSymbol:
    """A member of the universe. ``turnover_24h`` is in ``quote``; ``turnover_usd`` when a rate is known."""

    rank: int
    symbol: str
    base: str
    quote: str
    turnover_24h: float
    turnover_usd: float | None
    role: Literal["core", "tail"]


@final
@attrs.frozen
class Universe:
    """The ranked universe at ``at`` (members by turnover, best first) and every refused symbol's reason.

    ``ranked_by`` is the currency of the ranking: the quote currency they all share, or ``USD``.
    """

    at: datetime
    members: tuple[RankedSymbol, ...]
    excluded: tuple[tuple[str, str], ...]
    ranked_by: str

    def symbols(self) -> tuple[str, ...]:
        """The members' symbols, best ranked first."""
        return tuple(m.symbol for m in self.members)

    def core(self) -> tuple[str, ...]:
        return tuple(m.symbol for m in self.members if m.role == "core")


class UniverseSource(Protocol):
    """Where candidates come from (exchange tickers, replay files)."""

    async def snapshot(self) -> MarketSnapshot: ...


def candidates_from_bars(series: Sequence[BarBatch], at: datetime | None = None) -> MarketSnapshot:
    """Candidates from bar history (replay files, the cache): each symbol's 24h turnover at ``at``.

    Turnover is the sum of close x volume over the bars that closed in the 24 hours up to ``at`` (in the
    symbol's quote currency); history runs from the first bar to ``at``. ``at`` defaults to the end of
    the data: the latest bar close of any symbol.
    """
    closes = [int(b.ts[-1]) + timeframe_ns(b.timeframe) for b in series if len(b)]
    end = datetime_to_ns(at) if at is not None else max(closes, default=0)
    day = 86_400 * 10**9
    candidates = []
    for bars in series:
        close_times = bars.ts + timeframe_ns(bars.timeframe)
        window = (close_times > end - day) & (close_times <= end)
        seen = bars.ts < end
        base, quote = split_symbol(bars.symbol)
        history = timedelta(microseconds=(end - int(bars.ts[0])) // 1000) if seen.any() else timedelta(0)
        candidates.append(
            Candidate(
                symbol=bars.symbol,
                base=base,
                quote=quote,
                turnover_24h=float((bars.close[window] * bars.volume[window]).sum()),
                history=history,
                last_price=float(bars.close[seen][-1]) if seen.any() else None,
            )
        )
    return MarketSnapshot(ns_to_datetime(end), tuple(candidates))


def _refusal(candidate: Candidate, config: UniverseConfig) -> str | None:
    if candidate.symbol in config.excluded:
        return "excluded by configuration"
    if config.quote_currencies and candidate.quote not in config.quote_currencies:
        return f"quote {candidate.quote} is not one of {', '.join(config.quote_currencies)}"
    if candidate.base in config.stablecoins and candidate.quote in config.stablecoins:
        return "stablecoin pair"
    if candidate.history is not None and candidate.history < config.min_history:
        return f"{candidate.history.days} days of history, below {config.min_history.days}"
    if not math.isfinite(candidate.turnover_24h):
        return "turnover unknown"
    return None


def select_universe(
    snapshot: MarketSnapshot, config: UniverseConfig, previous: Universe | None = None
) -> Universe:
    """Filter, rank by 24h turnover and split into core and tail (rules in the module docstring)."""
    excluded: list[tuple[str, str]] = []
    passed: list[Candidate] = []
    for candidate in snapshot.candidates:
        reason = _refusal(candidate, config)
        if reason is None:
            passed.append(candidate)
        else:
            excluded.append((candidate.symbol, reason))
    quotes = {c.quote for c in passed}
    ranked_by = next(iter(quotes)) if len(quotes) == 1 else "USD"
    value: dict[str, float] = {}
    for candidate in passed:
        rate = 1.0 if len(quotes) == 1 else config.quote_rates.get(candidate.quote)
        if rate is None:
            excluded.append((candidate.symbol, f"no USD rate for {candidate.quote} to rank mixed quotes"))
        elif candidate.turnover_24h * rate < config.min_turnover:
            excluded.append((candidate.symbol, f"24h turnover below {config.min_turnover:g} {ranked_by}"))
        else:
            value[candidate.symbol] = candidate.turnover_24h * rate
    ranked = sorted((c for c in passed if c.symbol in value), key=lambda c: (-value[c.symbol], c.symbol))
    cut = value[ranked[config.core_size - 1].symbol] if len(ranked) >= config.core_size else 0.0
    kept = set(previous.core()) if previous is not None else set()
    core = [c for c in ranked if c.symbol in kept and value[c.symbol] >= config.core_keep_ratio * cut]
    for candidate in ranked:
        if len(core) >= config.core_size:
            break
        if candidate not in core:
            core.append(candidate)
    tail = [c for c in ranked if c not in core][: config.tail_size]
    core_names = {c.symbol for c in core}
    chosen = core_names | {c.symbol for c in tail}
    members = tuple(
        _member(rank, c, "core" if c.symbol in core_names else "tail", config.quote_rates)
        for rank, c in enumerate((c for c in ranked if c.symbol in chosen), start=1)
    )
    return Universe(snapshot.at, members, tuple(sorted(excluded)), ranked_by)


def _member(
    rank: int, c: Candidate, role: Literal["core", "tail"], rates: Mapping[str, float]
) -> RankedSymbol:
    usd = c.turnover_24h * rates[c.quote] if c.quote in rates else None
    return RankedSymbol(rank, c.symbol, c.base, c.quote, c.turnover_24h, usd, role)


class SymbolUniverse:
    """The crypto universes (spot and futures), refreshed on a timer, and fixed lists for other assets.

    Args:
        sources: a candidate source per crypto asset to rank.
        config: filters and sizes (see ``UniverseConfig``).
        static: symbols of assets that are not ranked (forex pairs, option underlyings).
    """

    def __init__(
        self,
        sources: Mapping[Asset, UniverseSource],
        config: UniverseConfig | None = None,
        *,
        static: Mapping[Asset, Sequence[str]] | None = None,
    ) -> None:
        self._sources = {asset: source for asset, source in sources.items() if asset in CRYPTO}
        self.config = config or UniverseConfig()
        self._static = {asset: tuple(symbols) for asset, symbols in (static or {}).items()}
        self._universes: dict[Asset, Universe] = {}
        self.failures = 0

    async def refresh_crypto_universe(self) -> dict[Asset, Universe]:
        """Rank every crypto asset's candidates again; returns the new universes.

        Raises what a source raises (DataError, BrokerError); the previous universe then stays.
        """
        fresh: dict[Asset, Universe] = {}
        for asset, source in self._sources.items():
            snapshot = await source.snapshot()
            fresh[asset] = select_universe(snapshot, self.config, self._universes.get(asset))
        self._universes.update(fresh)
        return fresh

    def get_symbols(self, asset: Asset) -> tuple[str, ...]:
        """The symbols to watch for ``asset``: the last ranking, or the static list (empty if none)."""
        universe = self._universes.get(asset)
        return universe.symbols() if universe is not None else self._static.get(asset, ())

    def universe(self, asset: Asset) -> Universe | None:
        """The last ranking of ``asset`` with its figures, if there has been one."""
        return self._universes.get(asset)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Refresh now and then every ``refresh_every`` until cancelled; a failure keeps the last universe."""
        started = False
        while True:
            try:
                await self.refresh_crypto_universe()
            except AppError as e:
                self.failures += 1
                log.warning("universe refresh failed (keeping the previous one): %s", e)
            if not started:
                task_status.started()
                started = True
            await trio.sleep(self.config.refresh_every.total_seconds())


@final
@attrs.frozen
class Opportunity:
    """A symbol doing something unusual now, for the strategy scheduler.

    ``signal_strength`` is in [-1, 1]: its sign is the move's direction, its size how far past the thresholds.
    """

    asset: Asset
    symbol: str
    timestamp: datetime
    features: Mapping[str, float] = attrs.field(converter=_frozen, hash=False)
    signal_strength: float


class SpikeDetector:
    """Return and volume z-scores of each bar against the symbol's previous ``window`` bars.

    A bar is a spike when ``|return z| >= return_z`` and ``volume z >= volume_z`` (an unusual move on
    unusual volume); ``signal_strength`` is the move's sign times half the smaller of the two z-scores over
    its threshold, capped at 1 (so 0.5 at the thresholds, 1 at twice them). Returns and volumes are logged.

    Args:
        asset: the asset class the opportunities are for.
        window: bars of history the z-scores compare against (default 96: 8 hours of 5m bars).
        min_bars: bars needed before anything is scored (default 30).
    """

    def __init__(
        self,
        asset: Asset = Asset.SPOT,
        *,
        window: int = 96,
        min_bars: int = 30,
        return_z: float = 3.0,
        volume_z: float = 3.0,
    ) -> None:
        if not 2 <= min_bars <= window:
            msg = f"need 2 <= min_bars <= window, got min_bars={min_bars}, window={window}"
            raise ValueError(msg)
        self.asset = asset
        self._window, self._min_bars = window, min_bars
        self._return_z, self._volume_z = return_z, volume_z
        self._last_close: dict[str, float] = {}
        self._history: dict[str, deque[tuple[float, float]]] = {}

    def update(self, symbol: str, ts: datetime, close: float, volume: float) -> Opportunity | None:
        """Score the bar closing at ``ts``; returns an Opportunity when it is a spike."""
        previous = self._last_close.get(symbol)
        self._last_close[symbol] = close
        if previous is None or not (close > 0 and previous > 0 and volume >= 0):
            return None
        move, activity = math.log(close / previous), math.log(volume + 1e-12)
        history = self._history.setdefault(symbol, deque(maxlen=self._window))
        found = self._score(symbol, ts, move, activity, history)
        history.append((move, activity))
        return found

    def _score(
        self, symbol: str, ts: datetime, move: float, activity: float, history: deque[tuple[float, float]]
    ) -> Opportunity | None:
        if len(history) < self._min_bars:
            return None
        past = np.asarray(history)
        mean, spread = past.mean(axis=0), past.std(axis=0, ddof=1)
        if not (spread > 0).all():
            return None
        return_z, volume_z = (np.array([move, activity]) - mean) / spread
        if abs(return_z) < self._return_z or volume_z < self._volume_z:
            return None
        excess = min(abs(return_z) / self._return_z, volume_z / self._volume_z)
        strength = math.copysign(min(1.0, excess / 2), move)
        features = {"return": move, "return_z": return_z, "volume_z": volume_z, "log_volume": activity}
        return Opportunity(self.asset, symbol, ts, {k: float(v) for k, v in features.items()}, strength)
