"""The home's bar cache per market (``<home>/cache/<market>``) and the move of a cache made before markets:
its symbol folders go into ``spot`` by atomic renames, once, and an interrupted move finishes on the next
open with every bar still there."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from app.adapters.storage.parquet import ParquetBarCache
from app.bootstrap import bar_cache
from app.bootstrap.bar_cache import (
    MARKETS,
    home_cache,
    home_caches,
    market_of_asset,
    market_of_category,
    migrate_legacy_layout,
)
from app.domain.resample import BarBatch
from app.domain.values import Asset
from app.ports.errors import DataError, StorageError

MINUTE_NS = 60 * 10**9
Expected = dict[tuple[str, str], BarBatch]


def bars(symbol: str, timeframe: str, first: int, count: int, price: float) -> BarBatch:
    step = {"1m": MINUTE_NS, "5m": 5 * MINUTE_NS}[timeframe]
    ts = np.arange(first, first + count, dtype=np.int64) * step
    close = price + np.arange(count, dtype=np.float64)
    return BarBatch(symbol, timeframe, ts, close, close + 1, close - 1, close, np.ones(count))


def old_layout(home: Path) -> Expected:
    """A cache as the version before markets wrote it (``<home>/cache/<SYMBOL>/<tf>/``), several parts per
    series; returns what each series holds."""
    cache = ParquetBarCache(home / "cache")
    series = {
        ("BTCUSDT", "1m"): [bars("BTCUSDT", "1m", 0, 50, 42000.0), bars("BTCUSDT", "1m", 50, 30, 42050.0)],
        ("BTCUSDT", "5m"): [bars("BTCUSDT", "5m", 0, 20, 42000.0)],
        ("ETHBTC", "5m"): [bars("ETHBTC", "5m", 0, 40, 0.05), bars("ETHBTC", "5m", 40, 40, 0.06)],
    }
    for batches in series.values():
        for batch in batches:
            cache.append(batch)
    return {key: BarBatch.concat(*key, batches) for key, batches in series.items()}


def assert_holds(cache: ParquetBarCache, expected: Expected) -> None:
    assert [(e.symbol, e.timeframe) for e in cache.entries()] == sorted(expected)
    for (symbol, timeframe), want in expected.items():
        assert cache.read(symbol, timeframe).same_bars(want)


def test_each_market_has_its_own_root_and_the_same_symbol_stays_two_series(tmp_path: Path) -> None:
    spot = bars("BTCUSDT", "1m", 0, 10, 42000.0)
    perp = bars("BTCUSDT", "1m", 0, 10, 42100.0)  # the same times, the perpetual's prices

    home_cache(tmp_path, "spot").append(spot)
    home_cache(tmp_path, "linear").append(perp)

    assert home_cache(tmp_path, "spot").root == tmp_path / "cache" / "spot"
    assert home_cache(tmp_path, "spot").read("BTCUSDT", "1m").same_bars(spot)
    assert home_cache(tmp_path, "linear").read("BTCUSDT", "1m").same_bars(perp)
    assert [(m, len(c.entries())) for m, c in home_caches(tmp_path)] == [
        ("spot", 1),
        ("linear", 1),
        ("inverse", 0),
        ("forex", 0),
        ("options", 0),
    ]


def test_the_market_follows_the_spec_asset_or_the_bybit_category() -> None:
    assert [market_of_asset(a) for a in Asset] == ["spot", "linear", "forex", "options"]
    assert [market_of_category(c) for c in ("spot", "linear", "inverse", "option")] == [
        "spot",
        "linear",
        "inverse",
        "options",
    ]
    assert set(map(market_of_asset, Asset)) | {"inverse"} == set(MARKETS)
    with pytest.raises(DataError, match="unknown bybit category 'perp'"):
        market_of_category("perp")


def test_an_unknown_market_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown market 'perp'; expected one of spot, linear"):
        home_cache(tmp_path, "perp")


def test_opening_a_cache_of_the_old_layout_moves_every_series_into_spot_once(tmp_path: Path) -> None:
    expected = old_layout(tmp_path)
    parts_before = sorted(p.relative_to(tmp_path / "cache") for p in (tmp_path / "cache").rglob("*.parquet"))

    cache = home_cache(tmp_path, "spot")

    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["spot"]
    assert_holds(cache, expected)
    parts_after = sorted(p.relative_to(tmp_path / "cache" / "spot") for p in cache.root.rglob("*.parquet"))
    assert parts_after == parts_before  # moved, not rewritten
    assert migrate_legacy_layout(tmp_path / "cache") == 0  # nothing left to do
    assert_holds(home_cache(tmp_path, "spot"), expected)
    assert home_cache(tmp_path, "linear").entries() == []


def test_a_cache_without_old_series_is_left_alone(tmp_path: Path) -> None:
    home_cache(tmp_path, "linear").append(bars("BTCUSDT", "1m", 0, 5, 42100.0))
    (tmp_path / "cache" / ".stray.tmp").write_text("")

    assert migrate_legacy_layout(tmp_path / "cache") == 0
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [".stray.tmp", "linear"]
    assert migrate_legacy_layout(tmp_path / "nowhere") == 0
    assert not (tmp_path / "nowhere").exists()


class Crash(Exception):
    """The process dying between two renames."""


def crash_at(monkeypatch: pytest.MonkeyPatch, step: int) -> list[int]:
    """Make the migration's ``step``-th rename (counting os.rename and os.replace) raise ``Crash``."""
    calls = [0]
    rename, replace = os.rename, os.replace

    def counted(real: Callable[[Path, Path], None]) -> Callable[[Path, Path], None]:
        def move(source: Path, target: Path) -> None:
            calls[0] += 1
            if calls[0] == step:
                raise Crash
            real(source, target)

        return move

    monkeypatch.setattr(bar_cache.os, "rename", counted(rename))
    monkeypatch.setattr(bar_cache.os, "replace", counted(replace))
    return calls


def half_moved(home: Path) -> Expected:
    """The old layout as a move cut short inside a series leaves it: ETHBTC 5m's first part already in
    ``spot``, the second still in the old folder, and a copy of the first part on both sides."""
    expected = old_layout(home)
    old = home / "cache" / "ETHBTC" / "5m"
    new = home / "cache" / "spot" / "ETHBTC" / "5m"
    new.mkdir(parents=True)
    first, _second = sorted(old.glob("*.parquet"))
    shutil.copy2(first, new / first.name)
    return expected


@pytest.mark.parametrize("start", [old_layout, half_moved], ids=["old layout", "half-moved"])
def test_a_move_interrupted_at_any_rename_finishes_on_the_next_open_with_every_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start: Callable[[Path], Expected]
) -> None:
    with monkeypatch.context() as counting:
        probe = tmp_path / "probe"
        start(probe)
        renames = crash_at(counting, step=0)  # never crashes: counts the renames of a whole move
        migrate_legacy_layout(probe / "cache")
    assert renames[0] >= 2

    for step in range(1, renames[0] + 1):
        home = tmp_path / f"crash-{step}"
        expected = start(home)
        with monkeypatch.context() as crashing:
            crash_at(crashing, step)
            with pytest.raises(Crash):
                home_cache(home, "spot")

        cache = home_cache(home, "spot")

        assert sorted(p.name for p in (home / "cache").iterdir()) == ["spot"], step
        assert_holds(cache, expected)
        assert not list(cache.root.rglob(".*")), step  # no temporary or stray files left behind


def test_a_series_that_cannot_be_moved_is_named_and_nothing_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = old_layout(tmp_path)

    def refuse(source: Path, target: Path) -> None:
        raise PermissionError(13, "Permission denied", str(source))

    with monkeypatch.context() as refusing:
        refusing.setattr(bar_cache.os, "rename", refuse)
        with pytest.raises(StorageError) as refused:
            home_cache(tmp_path, "spot")

    message = str(refused.value)
    assert f"cannot move the bar cache's old-layout series into {tmp_path / 'cache' / 'spot'}" in message
    assert f"Permission denied: '{tmp_path / 'cache' / 'BTCUSDT'}'" in message
    assert_holds(home_cache(tmp_path, "spot"), expected)
