"""File names that carry a symbol and a bar size: the symbol is the part before the size."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.adapters.feeds.replay import load_bars
from tests.conftest import SHARED_DATA

FUTURES = SHARED_DATA / "crypto_futures"


@pytest.mark.parametrize(
    ("name", "source", "timeframe"),
    [("XRPUSDT_5m.csv", "XRPUSDT_5m.csv", "5m"), ("XRPUSDT_1h.csv", "XRPUSDT_1h.csv", "1h"),
     ("XRPUSDT-1h.csv", "XRPUSDT_1h.csv", "1h")],
)  # fmt: skip
def test_a_symbol_and_bar_size_name_gives_the_symbol(
    tmp_path: Path, name: str, source: str, timeframe: str
) -> None:
    path = tmp_path / name
    shutil.copy(FUTURES / source, path)

    (series,) = load_bars(path).series

    assert (series.symbol, series.timeframe) == ("XRPUSDT", timeframe)


def test_the_bar_size_comes_from_the_bars_not_the_name(tmp_path: Path) -> None:
    path = tmp_path / "XRPUSDT_1h.csv"
    shutil.copy(FUTURES / "XRPUSDT_5m.csv", path)  # misnamed: 5m bars

    (series,) = load_bars(path).series

    assert series.timeframe == "5m"


@pytest.mark.parametrize("name", ["XRPUSDT_1h_mark.csv", "XRPUSDT_8h_funding.csv", "BTCUSD_coinbase.csv"])
def test_other_suffixes_keep_the_whole_stem(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    shutil.copy(FUTURES / "XRPUSDT_1h.csv", path)

    assert load_bars(path).series[0].symbol == name.removesuffix(".csv")
