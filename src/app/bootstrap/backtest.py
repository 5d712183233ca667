"""Wiring for ``app backtest``: the config, the spec, the bars (replay reader) and funding, checked up front.

Finding the bars: ``--data FILE`` reads that file; ``--data DIR`` reads the supported files whose names
start with the spec's symbol (``BTCUSD_coinbase.csv`` serves ``BTCUSD``), leaving out funding, mark and
index files. A series serves the spec when its symbol is the spec's, or starts with it followed by ``_`` or
``-``, and its timeframe is the spec's. For a futures spec, funding rates (``timestamp,funding_rate``) come
from ``--funding FILE`` or a ``<SYMBOL>*funding*.csv`` beside the bars; each rate is charged at the open of
the first bar at or after its time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import final

import attrs
import numpy as np
import pandas as pd

from app.adapters.feeds.replay import SUPPORTED_SUFFIXES, BarSeries, load_bars
from app.bootstrap.paper import resolve_home
from app.domain.errors import ValidationFailed
from app.domain.values import Asset
from app.learning.strategies import StrategySpec, load_spec, warmup_bars
from app.ports.errors import DataError
from app.services.config_manager import load_config
from app.services.config_schema import AppConfig
from app.services.validation.bars import BarData

__all__ = ["BacktestInputs", "BacktestRequest", "load_backtest_inputs"]

_NOT_PRICES = ("funding", "mark", "index")


@final
@attrs.frozen
class BacktestRequest:
    """What ``app backtest`` was asked for; None means "not given"."""

    spec: Path
    data: Path
    start: datetime | None = None
    end: datetime | None = None
    funding: Path | None = None
    home: Path | None = None
    config: Path | None = None


@final
@attrs.frozen(eq=False)
class BacktestInputs:
    spec: StrategySpec
    data: BarData
    source: Path
    config: AppConfig
    home: Path
    warnings: tuple[str, ...]


def _serves(series: BarSeries, symbol: str) -> bool:
    name = series.symbol.upper()
    wanted = symbol.upper()
    return name == wanted or (name.startswith(wanted) and name[len(wanted)] in "_-")


def _candidate_files(folder: Path, symbol: str) -> list[Path]:
    files = [
        path
        for path in sorted(folder.iterdir())
        if path.is_file()
        and not path.name.startswith(".")
        and path.suffix.lower() in SUPPORTED_SUFFIXES
        and path.stem.upper().startswith(symbol.upper())
        and not any(word in path.stem.lower() for word in _NOT_PRICES)
    ]
    if not files:
        msg = f"{folder}: no data file for {symbol} (file names must start with the symbol)"
        raise DataError(msg)
    return files


def _pick_series(spec: StrategySpec, data: Path) -> tuple[BarSeries, Path]:
    files = _candidate_files(data, spec.symbol) if data.is_dir() else [data]
    found = [(series, path) for path in files for series in load_bars(path).series]
    named = [(s, p) for s, p in found if _serves(s, spec.symbol)]
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


def _ns(moment: datetime) -> int:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(pd.Timestamp(aware).as_unit("ns").value)


def _funding_file(request: BacktestRequest, source: Path, symbol: str) -> Path | None:
    if request.funding is not None:
        return request.funding
    folder = request.data if request.data.is_dir() else source.parent
    matches = sorted(folder.glob("*funding*.csv"))
    return next((p for p in matches if p.stem.upper().startswith(symbol.upper())), None)


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
        DataError: unreadable or malformed data files.
    """
    config = load_config(request.config)
    spec = load_spec(request.spec)
    series, source = _pick_series(spec, request.data)
    keep = np.ones(len(series), dtype=bool)
    if request.start is not None:
        keep &= series.ts >= _ns(request.start)
    if request.end is not None:
        keep &= series.ts < _ns(request.end)
    needed = warmup_bars(spec) + 2
    if keep.sum() < needed:
        problem = f"{int(keep.sum())} bars in the chosen range; the spec needs at least {needed}"
        raise ValidationFailed(str(source), [("", problem)])
    ts = series.ts[keep]
    warnings = [] if series.report.summary().endswith(": clean") else [f"data: {series.report.summary()}"]
    funding = None
    funding_path = _funding_file(request, source, spec.symbol)
    if spec.asset is Asset.FUTURES and funding_path is not None:
        funding = _funding_rates(funding_path, ts)
        warnings.append(f"funding: {int((funding != 0).sum())} rates from {funding_path}")
    elif spec.asset is not Asset.FUTURES and request.funding is not None:
        warnings.append(f"--funding ignored: funding applies to futures, the spec trades {spec.asset.value}")
    if spec.stop_loss is None:
        default = config.get_asset(spec.asset).risk.default_stop_pct
        warnings.append(
            f"spec {spec.id} has no stop_loss: the backtest runs it as written; paper and live trading"
            f" add the {spec.asset.value} default protective stop ({float(default):.2%})"
        )
    o, h, lo, c, v = (
        column[keep] for column in (series.open, series.high, series.low, series.close, series.volume)
    )
    data = BarData(spec.symbol, series.timeframe, ts, o, h, lo, c, v, funding=funding)
    home = resolve_home(request.home, config)
    return BacktestInputs(spec, data, source, config, home, tuple(warnings))
