"""Real market data for the learning tests: the shared CSV files, read once per session."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ETHBTC_5M = DATA / "crypto_spot_5m" / "ETHBTC.csv"
BTCUSD_1H = DATA / "crypto_spot_1h" / "BTCUSD_coinbase.csv"
SPECS = Path(__file__).resolve().parents[2] / "config" / "specs"


def read_bars(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


@pytest.fixture(scope="session")
def ethbtc() -> pd.DataFrame:
    return read_bars(ETHBTC_5M)


@pytest.fixture(scope="session")
def btcusd() -> pd.DataFrame:
    return read_bars(BTCUSD_1H)


@pytest.fixture(scope="session", params=["ETHBTC_5m", "BTCUSD_1h"])
def bars(request: pytest.FixtureRequest) -> pd.DataFrame:
    """Each reference file in turn."""
    return read_bars(ETHBTC_5M if request.param == "ETHBTC_5m" else BTCUSD_1H)
