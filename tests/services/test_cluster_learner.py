"""Learned clusters: relearned once per correlation bar from data_manager's closes, added to the configured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from app.domain.exposure import ClusterDef, ExposureLimits
from app.domain.values import Candle
from app.services.cluster_learner import ClusterLearner, CorrelationSettings
from app.services.data_manager import DataManager
from app.services.exposure_manager import ExposureManager

T0 = datetime(2024, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
MAJORS = ClusterDef("majors", frozenset({"EURUSD", "GBPUSD"}))


def price_paths(bars: int, seed: int = 7) -> dict[str, np.ndarray]:
    """BTC and ETH move together (ETH = BTC's returns plus a little noise), XRP on its own."""
    rng = np.random.default_rng(seed)
    btc = rng.normal(0, 0.01, bars)
    eth = btc + rng.normal(0, 0.002, bars)
    xrp = rng.normal(0, 0.01, bars)
    return {s: 100 * np.cumprod(1 + r) for s, r in (("BTCUSDT", btc), ("ETHUSDT", eth), ("XRPUSDT", xrp))}


def bar(symbol: str, i: int, close: float, timeframe: str = "1h", step: timedelta = HOUR) -> Candle:
    return Candle(symbol, timeframe, T0 + i * step, close, close * 1.001, close * 0.999, close, 10.0)


class Recorder:
    def __init__(self) -> None:
        self.entries: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, kind: str, fields: Any) -> None:
        self.entries.append((kind, dict(fields)))


def setup(
    window: int = 40, timeframe: str = "1h", base: str = "1h"
) -> tuple[DataManager, ExposureManager, ClusterLearner, Recorder]:
    data = DataManager(history=1000)
    for symbol in ("BTCUSDT", "ETHUSDT", "XRPUSDT"):
        data.subscribe([symbol], [base])
    exposure = ExposureManager(ExposureLimits(), [MAJORS])
    journal = Recorder()
    learner = ClusterLearner(
        exposure,
        [MAJORS],
        data,
        CorrelationSettings(timeframe=timeframe, window=window, threshold=0.8),
        base_timeframe=lambda symbol: base,
        journal=journal,
    )
    return data, exposure, learner, journal


def feed(
    data: DataManager,
    learner: ClusterLearner,
    paths: dict[str, np.ndarray],
    start: int,
    stop: int,
    *,
    record: bool = True,
) -> list[int]:
    """Ingest bars ``start..stop-1`` of every symbol; the indexes at which the clusters changed."""
    changed = []
    for i in range(start, stop):
        for symbol, closes in paths.items():
            data.ingest(bar(symbol, i, float(closes[i])))
        if learner.on_bar(T0 + (i + 1) * HOUR, record=record):
            changed.append(i)
    return changed


def test_correlated_symbols_join_a_learned_cluster_once_the_window_is_full() -> None:
    data, exposure, learner, journal = setup(window=40)
    paths = price_paths(60)

    changed = feed(data, learner, paths, 0, 60)

    assert changed == [40]  # 41 closes give the 40 returns of the window
    assert learner.learned == (ClusterDef("corr:BTCUSDT+ETHUSDT", frozenset({"BTCUSDT", "ETHUSDT"})),)
    assert exposure.clusters == (MAJORS, *learner.learned)
    assert journal.entries == [("clusters_learned", {"clusters": [["BTCUSDT", "ETHUSDT"]]})]


def test_before_the_window_is_full_only_the_configured_clusters_count() -> None:
    data, exposure, learner, journal = setup(window=40)

    assert feed(data, learner, price_paths(30), 0, 30) == []
    assert exposure.clusters == (MAJORS,)
    assert journal.entries == []


def test_clusters_are_relearned_once_per_correlation_bar() -> None:
    data, _, learner, _ = setup(window=20, timeframe="4h", base="1h")
    paths = price_paths(200)
    calls = []
    original = learner._learn

    def counting() -> list[set[str]]:
        calls.append(1)
        return original()

    learner._learn = counting  # type: ignore[method-assign]
    feed(data, learner, paths, 0, 200)

    assert len(calls) == 51  # the first bar, then each of the 50 four-hour closes
    assert learner.learned
    assert learner.learned[0].symbols == {"BTCUSDT", "ETHUSDT"}


def test_a_relationship_that_breaks_leaves_the_learned_cluster() -> None:
    data, exposure, learner, journal = setup(window=30)
    paths = price_paths(120)
    rng = np.random.default_rng(99)
    # From bar 40 on, ETH goes its own way.
    own = 100 * np.cumprod(1 + rng.normal(0, 0.01, 80))
    paths["ETHUSDT"] = np.concatenate([paths["ETHUSDT"][:40], own * paths["ETHUSDT"][39] / own[0]])

    changed = feed(data, learner, paths, 0, 120)

    assert len(changed) == 2
    assert learner.learned == ()
    assert exposure.clusters == (MAJORS,)
    assert [e[1]["clusters"] for e in journal.entries] == [[["BTCUSDT", "ETHUSDT"]], []]


def test_warming_up_learns_the_same_clusters_without_journaling() -> None:
    paths = price_paths(80)
    straight_data, _, straight, straight_journal = setup(window=40)
    data, _, resumed, resumed_journal = setup(window=40)
    feed(straight_data, straight, paths, 0, 80)

    feed(data, resumed, paths, 0, 50, record=False)
    feed(data, resumed, paths, 50, 80)

    assert resumed.learned == straight.learned
    assert straight_journal.entries
    assert resumed_journal.entries == []


def test_a_correlation_timeframe_the_base_bars_cannot_build_falls_back_to_the_base() -> None:
    data, _, learner, _ = setup(window=30, timeframe="90m", base="1h")

    feed(data, learner, price_paths(60), 0, 60)

    assert learner.learned
    assert learner.learned[0].symbols == {"BTCUSDT", "ETHUSDT"}


def test_only_timestamps_every_symbol_has_are_paired() -> None:
    data, _, learner, _ = setup(window=30)
    paths = price_paths(80)
    # XRP's bars stop at 40: only BTC and ETH have a full common window later, and XRP drops out.
    for i in range(80):
        for symbol, closes in paths.items():
            if symbol != "XRPUSDT" or i < 40:
                data.ingest(bar(symbol, i, float(closes[i])))
        learner.on_bar(T0 + (i + 1) * HOUR)

    assert learner.learned[0].symbols == {"BTCUSDT", "ETHUSDT"}


def test_at_a_boundary_a_symbol_one_bar_behind_still_counts() -> None:
    data, _, learner, _ = setup(window=30)
    paths = price_paths(60)
    feed(data, learner, paths, 0, 59)
    # Bar 59 arrives for BTC first; the learner runs before ETH's bar 59 is in.
    data.ingest(bar("BTCUSDT", 59, float(paths["BTCUSDT"][59])))
    learner._boundary = None  # force a relearn now

    learner.on_bar(T0 + 60 * HOUR)

    assert learner.learned[0].symbols == {"BTCUSDT", "ETHUSDT"}
