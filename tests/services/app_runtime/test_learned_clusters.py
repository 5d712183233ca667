"""A paper run learns correlation clusters from its bars and exposure_manager applies them; a resumed run
learns the same ones at the same bars without journaling the warm-up again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import trio

from app.adapters.feeds.synthetic import SyntheticFeed
from app.adapters.storage.sqlite import SqliteStorage
from app.bootstrap.paper import _data_manager, wire_paper
from app.learning.strategies.spec import parse_spec
from app.services.config_schema import AppConfig

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")
CONFIG = AppConfig.model_validate(
    {"exposure": {"correlation": {"window_bars": 12, "timeframe": "1h", "threshold": 0.5}}}
)
SPEC = parse_spec(
    {
        "id": "demo",
        "asset": "spot",
        "symbol": "BTCUSDT",
        "timeframe": "1m",
        "signal": {
            "kind": "rules",
            "long_entry": "crosses_above(sma(close, 10), sma(close, 30))",
            "long_exit": "crosses_below(sma(close, 10), sma(close, 30))",
        },
        "sizing": {"mode": "fraction", "fraction": 0.25},
    },
    source="test",
)


def run(home: Path, bars: int) -> list[tuple[datetime, object]]:
    """Run the paper runtime over the first ``bars`` bars (all symbols), resuming what ``home`` holds;
    returns the journal's learned-cluster entries and the clusters exposure_manager applies at the end."""
    feed = SyntheticFeed(SYMBOLS, timeframe="1m", seed=3, start=datetime(2024, 1, 1, tzinfo=UTC))
    with SqliteStorage.open(home / "paper.db") as storage:
        data = _data_manager(feed, [SPEC], min_history=CONFIG.exposure.correlation.window_bars + 2)
        wired = wire_paper(
            CONFIG, [SPEC], feed, storage, status_interval=3600, max_bars=bars, data_manager=data
        )
        trio.run(wired.runtime.run)
        learned = [(ts, fields["clusters"]) for _, ts, _, fields in storage.events(kind="clusters_learned")]
        applied = wired.runtime._clusters.learned if wired.runtime._clusters else ()
    return [*learned, ("applied", sorted(sorted(c.symbols) for c in applied))]


def test_a_run_learns_clusters_and_a_resumed_run_learns_the_same_at_the_same_bars(tmp_path: Path) -> None:
    whole = run(tmp_path / "whole", 4 * 30 * 60)  # four symbols, 30 hours of 1m bars
    first = run(tmp_path / "resumed", 4 * 20 * 60)
    resumed = run(tmp_path / "resumed", 4 * 30 * 60)  # max_bars bounds the run: 10 hours more

    assert len(first) > 2  # learned, and changed, before the restart
    assert len(whole) > len(first)  # and after it
    assert resumed == whole
