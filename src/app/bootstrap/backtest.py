"""Wiring for ``app backtest``: the config, the spec, the bars and funding, checked up front.

Finding the bars: ``--data FILE`` reads that file; ``--data DIR`` reads the supported files whose names
start with the spec's symbol (``BTCUSD_coinbase.csv`` serves ``BTCUSD``), leaving out funding, mark and
index files. A series serves the spec when its symbol is the spec's, or starts with it followed by ``_`` or
``-``, and its timeframe is the spec's. Without ``--data`` the bars come from the home's bar cache of the
spec's market (``<home>/cache/<market>``: spot for a spot spec, the linear perpetuals for a futures spec,
``forex`` and ``options`` for those; filled by ``app data import|download`` and by paper runs on a live
feed): the spec's symbol at the spec's timeframe, or, when that is not cached, resampled
(``app.domain.resample``: the bars the live data manager builds) from the cached shorter timeframe that
covers the most of the asked range. Bars of another market are never read: spot and perpetual ``BTCUSDT``
are different prices.

For a futures spec, funding rates (``timestamp,funding_rate``) come from ``--funding FILE`` or a
``<SYMBOL>*funding*.csv`` beside the bars (the cache keeps no funding rates: with it, only ``--funding``);
each rate is charged at the open of the first bar at or after its time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import final

import attrs
import numpy as np
import pandas as pd

from app.adapters.feeds.replay import BarSeries, folder_data_files, load_bars
from app.adapters.storage.parquet import ParquetBarCache
from app.bootstrap.bar_cache import home_cache, home_caches, market_of_asset
from app.bootstrap.funding import funding_file
from app.bootstrap.paper import resolve_home
from app.domain.errors import ValidationFailed
from app.domain.resample import BarBatch, resample, timeframe_ns
from app.domain.symbols import serves_symbol
from app.domain.values import Asset
from app.learning.strategies import StrategySpec, load_spec, warmup_bars
from app.ports.bar_store import CacheEntry
from app.ports.errors import DataError
from app.services.config_manager import load_config
from app.services.config_schema import AppConfig
from app.services.validation.bars import BarData

__all__ = ["BacktestInputs", "BacktestRequest", "load_backtest_inputs"]


@final
@attrs.frozen
class BacktestRequest:
    """What ``app backtest`` was asked for; None means "not given" (no ``data``: the home's bar cache)."""

    spec: Path
    data: Path | None = None
    start: datetime | None = None
    end: datetime | None = None
    funding: Path | None = None
    home: Path | None = None
    config: Path | None = None


@final
@attrs.frozen(eq=False)
class BacktestInputs:
    """What the backtest runs on; ``source`` is the file or cache folder read, ``origin`` says it in words."""

    spec: StrategySpec
    data: BarData
    source: Path
    config: AppConfig
    home: Path
    warnings: tuple[str, ...]
    origin: str = ""


def _candidate_files(folder: Path, symbol: str) -> list[Path]:
    try:
        prices, _ = folder_data_files(folder)  # the folder's files of traded prices, as a replay lists them
    except DataError:
        prices = []  # none at all: said below, for the symbol wanted
    files = [path for path in prices if path.stem.upper().startswith(symbol.upper())]
    if not files:
        msg = f"{folder}: no data file for {symbol} (file names must start with the symbol)"
        raise DataError(msg)
    return files


def _pick_series(spec: StrategySpec, data: Path) -> tuple[BarSeries, Path]:
    files = _candidate_files(data, spec.symbol) if data.is_dir() else [data]
    found = [(series, path) for path in files for series in load_bars(path).series]
    named = [(s, p) for s, p in found if serves_symbol(s.symbol, spec.symbol)]
    if not named:
        have = ", ".join(sorted({s.symbol for s, _ in found})) or "none"
        raise ValidationFailed(str(data), [("", f"the data has no {spec.symbol} bars (it has {have})")])
    fitting = [(s, p) for s, p in named if s.timeframe == spec.timeframe]
    if not fitting:
        have = ", ".join(sorted({f"{s.symbol} {s.timeframe}" for s, _ in named}))
        problem = f"the data has {have}; the spec {spec.id} runs on {spec.timeframe} bars"
        raise ValidationFailed(str(data), [("", problem)])
    exact = [(s, p) for s, p in fitting if s.symbol.upper() == spec.symbol.upper()]
    fitting = exact or fitting
    if len(fitting) > 1:
        names = ", ".join(str(p) for _, p in fitting)
        raise ValidationFailed(str(data), [("", f"several files serve {spec.symbol}: {names}; pass one")])
    return fitting[0]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ns(moment: datetime) -> int:
    return int(pd.Timestamp(_aware(moment)).as_unit("ns").value)


def _file_bars(spec: StrategySpec, data: Path) -> tuple[BarBatch, Path, list[str]]:
    series, source = _pick_series(spec, data)
    bars = BarBatch(series.symbol, series.timeframe, series.ts, *_ohlcv(series))
    clean = series.report.summary().endswith(": clean")
    return bars, source, [] if clean else [f"data: {series.report.summary()}"]


def _ohlcv(series: BarSeries) -> tuple[np.ndarray, ...]:
    return series.open, series.high, series.low, series.close, series.volume


def _series(entries: list[CacheEntry]) -> str:
    return ", ".join(f"{e.symbol} {e.timeframe}" for e in entries)


def _nothing_cached(
    spec: StrategySpec, market: str, cache: ParquetBarCache, home: Path, serving: list[CacheEntry]
) -> str:
    if serving:
        have = f"it has {_series(serving)}"
    else:
        have = f"it has no {spec.symbol} bars" if cache.entries() else "it is empty"
    lines = [
        f"the {market} bar cache {cache.root} has no {spec.symbol} {spec.timeframe} bars, nor bars of a"
        f" shorter timeframe that {spec.timeframe} is a multiple of ({have})."
    ]
    for other, other_cache in home_caches(home):
        found = [e for e in other_cache.entries() if serves_symbol(e.symbol, spec.symbol)]
        if other != market and found:
            lines.append(
                f"{other_cache.root} has {_series(found)}, but {other} bars are another market's prices:"
                f" a {spec.asset.value} spec reads {market} bars only."
            )
    fill = f"`app data import FILE|DIR --market {market} --home {home}`"
    if market in {"spot", "linear"}:
        fill += (
            f" or `app data download --feed bybit --category {market} {spec.symbol}"
            f" --timeframe {spec.timeframe} --since DATE --home {home}`"
        )
    lines.append(f"Fill it with {fill}, or pass --data FILE|DIR.")
    return "\n".join(lines)


def _pick_entry(
    spec: StrategySpec,
    market: str,
    cache: ParquetBarCache,
    home: Path,
    window: tuple[datetime | None, datetime | None],
) -> CacheEntry:
    """The cached series to read: the spec's timeframe before a shorter one to resample, the spec's own
    symbol before one that serves it (``XRPUSDT_1h``), then the widest span inside the window [start, end)."""
    serving = [e for e in cache.entries() if serves_symbol(e.symbol, spec.symbol)]
    step = timeframe_ns(spec.timeframe)
    usable = [
        e for e in serving if step % timeframe_ns(e.timeframe) == 0 and timeframe_ns(e.timeframe) <= step
    ]
    if not usable:
        raise DataError(_nothing_cached(spec, market, cache, home, serving))

    def rank(entry: CacheEntry) -> tuple[bool, bool]:
        return entry.timeframe == spec.timeframe, entry.symbol == spec.symbol

    best = max(rank(e) for e in usable)
    tied = [e for e in usable if rank(e) == best]
    names = sorted({e.symbol for e in tied})
    if len(names) > 1:
        msg = (
            f"several cached series in {cache.root} serve {spec.symbol}: {', '.join(names)};"
            " pass --data FILE|DIR"
        )
        raise DataError(msg)
    return max(tied, key=lambda e: (_coverage(e, *window), timeframe_ns(e.timeframe)))


def _coverage(entry: CacheEntry, start: datetime | None, end: datetime | None) -> float:
    first = max(entry.first_ts, start) if start is not None else entry.first_ts
    last = min(entry.last_ts, end) if end is not None else entry.last_ts
    return max((last - first).total_seconds(), 0.0)


def _cache_bars(
    spec: StrategySpec, home: Path, start: datetime | None, end: datetime | None
) -> tuple[BarBatch, Path, str]:
    """The spec's bars from the cache of its market, resampled from a shorter cached timeframe if needed;
    read for [start, end), resampled ones reach a bar beyond either end (the caller cuts to the window).

    Raises:
        DataError: nothing cached in the spec's market serves it (the message says how to fill the cache).
    """
    market = market_of_asset(spec.asset)
    cache = home_cache(home, market)
    base = _pick_entry(spec, market, cache, home, (start, end))
    folder = cache.root / base.symbol / base.timeframe
    if base.timeframe == spec.timeframe:
        bars = cache.read(base.symbol, base.timeframe, start=start, end=end)
        return bars, folder, f"the bar cache {folder}"
    step = timeframe_ns(spec.timeframe)
    # One target bar either side, so the first and last bars inside [start, end) get all their base bars.
    margin = pd.Timedelta(step, unit="ns").to_pytimedelta()
    raw = cache.read(
        base.symbol,
        base.timeframe,
        start=start - margin if start is not None else None,
        end=end + margin if end is not None else None,
    )
    try:
        bars = resample(raw, spec.timeframe)
    except ValueError as e:
        raise DataError(f"{folder}: {e}") from e
    origin = f"the bar cache {folder}, {base.timeframe} bars resampled to {spec.timeframe}"
    return bars, folder, origin


def _funding_file(request: BacktestRequest, source: Path, symbol: str) -> Path | None:
    if request.funding is not None:
        return request.funding
    if request.data is None:  # the cache keeps no funding rates
        return None
    return funding_file(request.data if request.data.is_dir() else source.parent, symbol)


def _funding_rates(path: Path, ts: np.ndarray) -> np.ndarray:
    try:
        frame = pd.read_csv(path)
        stamps = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601"))
        rates = frame["funding_rate"].to_numpy(np.float64)
    except (OSError, KeyError, ValueError, pd.errors.ParserError) as error:
        msg = f"{path}: not a funding file (timestamp,funding_rate): {error}"
        raise DataError(msg) from error
    moments = stamps.as_unit("ns").asi8
    per_bar = np.zeros(len(ts))
    inside = (moments >= ts[0]) & (moments <= ts[-1]) & np.isfinite(rates)
    np.add.at(per_bar, np.searchsorted(ts, moments[inside], side="left"), rates[inside])
    return per_bar


def load_backtest_inputs(request: BacktestRequest) -> BacktestInputs:
    """Validate the config, spec and data and assemble what the backtest needs; nothing is written.

    Raises:
        ValidationFailed: bad config or spec, data without the spec's symbol or timeframe, or too few bars.
        DataError: unreadable or malformed data files, or (no ``data``) nothing in the cache for the spec.
    """
    config = load_config(request.config)
    spec = load_spec(request.spec)
    home = resolve_home(request.home, config)
    start = _aware(request.start) if request.start is not None else None
    end = _aware(request.end) if request.end is not None else None
    if request.data is not None:
        bars, source, warnings = _file_bars(spec, request.data)
        origin = str(source)
    else:
        bars, source, origin = _cache_bars(spec, home, start, end)
        warnings = []
    keep = np.ones(len(bars), dtype=bool)
    if start is not None:
        keep &= bars.ts >= _ns(start)
    if end is not None:
        keep &= bars.ts < _ns(end)
    needed = warmup_bars(spec) + 2
    if keep.sum() < needed:
        problem = f"{int(keep.sum())} bars in the chosen range; the spec needs at least {needed}"
        raise ValidationFailed(str(source), [("", problem)])
    bars = bars if bool(keep.all()) else bars.take(keep)
    funding = None
    funding_path = _funding_file(request, source, spec.symbol)
    if spec.asset is Asset.FUTURES and funding_path is not None:
        funding = _funding_rates(funding_path, bars.ts)
        warnings.append(f"funding: {int((funding != 0).sum())} rates from {funding_path}")
    elif spec.asset is Asset.FUTURES and request.data is None:
        warnings.append("funding: none charged (the bar cache keeps no funding rates: pass --funding FILE)")
    elif spec.asset is not Asset.FUTURES and request.funding is not None:
        warnings.append(f"--funding ignored: funding applies to futures, the spec trades {spec.asset.value}")
    if spec.stop_loss is None:
        default = config.get_asset(spec.asset).risk.default_stop_pct
        warnings.append(
            f"spec {spec.id} has no stop_loss: the backtest runs it as written; paper and live trading"
            f" add the {spec.asset.value} default protective stop ({float(default):.2%})"
        )
    data = BarData(spec.symbol, bars.timeframe, bars.ts, *bars.columns(), funding=funding)
    return BacktestInputs(spec, data, source, config, home, tuple(warnings), origin)
