"""A paper run over the real XRPUSDT perpetual: its 5-minute bars and its 8-hourly funding series, copied into
a folder the way a user lays them out (``XRPUSDT.csv`` beside ``XRPUSDT_8h_funding.csv``)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import trio

from app.adapters.brokers.sim import SimBroker, load_funding_rates
from app.adapters.feeds.replay import ReplayFeed
from app.adapters.storage.sqlite import SqliteStorage
from app.bootstrap.paper import wire_paper
from app.domain.values import Asset
from app.learning.strategies.spec import StrategySpec, parse_spec
from app.services.config_schema import AppConfig
from tests.conftest import SHARED_DATA

PERP = SHARED_DATA / "crypto_futures"
FUNDING_FILE = "XRPUSDT_8h_funding.csv"

SPEC_DATA: dict[str, Any] = {
    "id": "perp-cross",
    "asset": "futures",
    "symbol": "XRPUSDT",
    "timeframe": "5m",
    "signal": {
        "kind": "rules",
        "long_entry": "crosses_above(sma(close, 10), sma(close, 30))",
        "long_exit": "crosses_below(sma(close, 10), sma(close, 30))",
        "short_entry": "crosses_below(sma(close, 10), sma(close, 30))",
        "short_exit": "crosses_above(sma(close, 10), sma(close, 30))",
    },
    "sizing": {"mode": "fraction", "fraction": 0.5},
    # An ATR stop (keeps its distance from the fill) and a percentage target (keeps its share of it).
    "stop_loss": {"atr": 2.0, "atr_period": 14},
    "take_profit": {"pct": 0.02},
    # The futures bucket's fees and slippage (config/default.yaml), so the backtester fills as paper does.
    "costs": {"fee_rate": 0.00055, "slippage_bps": 2},
}


def perp_spec(**changes: Any) -> StrategySpec:
    return parse_spec({**SPEC_DATA, **changes})


def perp_folder(tmp_path: Path) -> Path:
    """``<tmp>/data`` with ``XRPUSDT.csv`` (the 5m bars) and the real funding file; returns the bars file."""
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    shutil.copy(PERP / "XRPUSDT_5m.csv", folder / "XRPUSDT.csv")
    shutil.copy(PERP / FUNDING_FILE, folder / FUNDING_FILE)
    return folder / "XRPUSDT.csv"


def run_paper(
    home: Path, bars_file: Path, spec: StrategySpec, *, bars: int | None = None
) -> dict[Asset, SimBroker]:
    """One paper run (or the next part of one: the store resumes it, and ``bars`` bounds the whole run) over
    ``bars_file``; returns its venues."""
    home.mkdir(exist_ok=True)
    storage = SqliteStorage.open(home / "paper.db")
    try:
        wired = wire_paper(
            AppConfig(),
            (spec,),
            ReplayFeed(bars_file),
            storage,
            status_interval=3600,
            max_bars=bars,
            environ={},
            funding_rates={"XRPUSDT": load_funding_rates(bars_file.parent / FUNDING_FILE)},
        )
        trio.run(wired.runtime.run)
    finally:
        storage.close()
    return wired.brokers
