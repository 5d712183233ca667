"""Builders for validation tests: small hand-made bar series and specs, and the shared real data."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.adapters.feeds.replay import load_bars
from app.domain.values import Asset, Instrument
from app.learning.strategies import StrategySpec, load_spec, parse_spec
from app.services.validation import BarData
from tests.conftest import ROOT, SHARED_DATA

SPECS = ROOT / "config" / "specs"
HOUR_NS = 3_600 * 10**9
START_NS = 1_514_764_800 * 10**9  # 2018-01-01T00:00Z

# Hand-made bars carry their signals in the volume: 10 opens a position, 0 closes it, 1 does nothing.
ENTER, EXIT, HOLD = 10.0, 0.0, 1.0


def spec_of(**changes: Any) -> StrategySpec:
    """A spot long spec on 1h TEST bars trading on the volume codes, free of costs unless changed."""
    data: dict[str, Any] = {
        "id": "test-spec",
        "asset": "spot",
        "symbol": "TEST",
        "timeframe": "1h",
        "signal": {"kind": "rules", "long_entry": "volume > 5", "long_exit": "volume < 0.5"},
        "costs": {"fee_rate": 0.0, "slippage_bps": 0.0},
    }
    data.update(changes)
    return parse_spec(data)


def bars_of(
    opens: Sequence[float],
    highs: Sequence[float] | None = None,
    lows: Sequence[float] | None = None,
    closes: Sequence[float] | None = None,
    volumes: Sequence[float] | None = None,
    funding: Sequence[float] | None = None,
    symbol: str = "TEST",
) -> BarData:
    """Hourly bars; highs/lows default to the open/close envelope, closes to the opens, volumes to HOLD."""
    o = np.asarray(opens, dtype=float)
    c = o if closes is None else np.asarray(closes, dtype=float)
    h = np.maximum(o, c) if highs is None else np.asarray(highs, dtype=float)
    low = np.minimum(o, c) if lows is None else np.asarray(lows, dtype=float)
    v = np.full(len(o), HOLD) if volumes is None else np.asarray(volumes, dtype=float)
    ts = START_NS + HOUR_NS * np.arange(len(o), dtype=np.int64)
    return BarData(symbol, "1h", ts, o, h, low, c, v, funding=funding)


def whole_units(symbol: str = "TEST", asset: Asset = Asset.SPOT) -> Instrument:
    """An instrument traded in whole units with a 1e-8 tick (backtesting.py's sizing)."""
    return Instrument(
        symbol=symbol,
        asset=asset,
        base="X",
        quote="Y",
        tick_size=Decimal("0.00000001"),
        lot_step=Decimal(1),
        min_qty=Decimal(1),
    )


def real_bars(relative: str, symbol: str | None = None) -> BarData:
    """A shared data file as BarData, named ``symbol`` (default: the reader's name for it)."""
    series = load_bars(SHARED_DATA / relative).series[0]
    return BarData(
        symbol or series.symbol,
        series.timeframe,
        series.ts,
        series.open,
        series.high,
        series.low,
        series.close,
        series.volume,
    )


def example_spec(name: str, **changes: Any) -> StrategySpec:
    """A spec of config/specs with some top-level keys replaced (symbol, timeframe, asset ...)."""
    data = load_spec(SPECS / f"{name}.yaml").model_dump(exclude_unset=True)
    data.update(changes)
    return parse_spec(data)


@pytest.fixture(scope="session")
def ethbtc() -> BarData:
    return real_bars("crypto_spot_5m/ETHBTC.csv")


@pytest.fixture(scope="session")
def xrpusdt() -> BarData:
    return real_bars("crypto_futures/XRPUSDT_1h.csv", "XRPUSDT")


def path_of(relative: str) -> Path:
    return SHARED_DATA / relative
