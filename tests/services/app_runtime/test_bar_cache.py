"""A paper run's bar cache: the runtime's data manager appends arriving bars to the home's cache of the feed's
market (``<home>/cache/spot``, ``.../linear``; live feeds only), a crash and restart leaves each bar there once,
a failing disk never stops the trading, and a backtest reading the cache sees the same bars and features as
the live path did."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pybit.unified_trading
import pytest
import trio

from app.adapters.feeds.bybit import BybitFeed
from app.adapters.feeds.replay import ReplayFeed, load_bars
from app.adapters.feeds.synthetic import SyntheticFeed
from app.adapters.storage.parquet import ParquetBarCache
from app.bootstrap.backtest import BacktestRequest, load_backtest_inputs
from app.bootstrap.bar_cache import home_cache
from app.bootstrap.paper import _bar_cache, _data_manager
from app.domain.resample import BarBatch
from app.learning.features import build_features
from app.learning.strategies.spec import load_spec
from app.services.app_runtime import RunStatus
from app.services.config_schema import AppConfig
from app.services.data_manager import CacheHealth, DataManager
from tests.adapters.feeds.bybit.conftest import T0, make_async_client
from tests.adapters.feeds.bybit.test_feed import expected
from tests.conftest import ROOT
from tests.services.app_runtime.wiring import ETHBTC, SPEC, paper_runtime
from tests.services.test_data_manager_cache import FlakyStore
from tests.support.fake_bybit import FakeBybit

SYMBOL = "ETHBTC"


def cached_paper_run(home: Path, *, bars: int | None, spec: Path = SPEC, store: object = None):
    """A paper run over the ETHBTC replay whose data manager appends to ``store`` (default: the home's
    cache), as ``build_paper_run`` wires it for a live feed."""
    feed = ReplayFeed(ETHBTC)
    data = _data_manager(feed, [load_spec(spec)], store=store or home_cache(home, "spot"))  # type: ignore[arg-type]
    return paper_runtime(home, bars=bars, spec=spec, feed=feed, data_manager=data), data


def frame(ts: np.ndarray, columns: tuple[np.ndarray, ...]) -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.to_datetime(ts, utc=True))
    return pd.DataFrame(
        dict(zip(("open", "high", "low", "close", "volume"), columns, strict=True)), index=index
    )


def live_frame(data: DataManager, timeframe: str) -> pd.DataFrame:
    held = data.get_ohlc(SYMBOL, timeframe, 10_000)
    return frame(held.ts, held.columns())


def backtest_frame(spec: Path, home: Path) -> pd.DataFrame:
    bars = load_backtest_inputs(BacktestRequest(spec=spec, home=home)).data
    return frame(bars.ts, (bars.open, bars.high, bars.low, bars.close, bars.volume))


def spec_at(tmp_path: Path, timeframe: str) -> Path:
    path = tmp_path / f"sma_cross_{timeframe}.yaml"
    path.write_text(SPEC.read_text().replace("timeframe: 5m", f"timeframe: {timeframe}"))
    return path


def test_only_live_exchange_feeds_are_cached_in_their_market_and_never_testnet_or_invented_bars(
    tmp_path: Path,
) -> None:
    testnet = AppConfig.model_validate({"feeds": {"bybit": {"testnet": True}}})
    with FakeBybit(now=T0) as fake:
        spot, linear, inverse = (
            BybitFeed(("BTCUSDT",), "1m", client=make_async_client(fake), category=category)
            for category in ("spot", "linear", "inverse")
        )

        caches = [_bar_cache(feed, AppConfig(), tmp_path) for feed in (spot, linear, inverse)]

        assert all(isinstance(cache, ParquetBarCache) for cache in caches)
        assert [cache.root for cache in caches if cache is not None] == [
            tmp_path / "cache" / market for market in ("spot", "linear", "inverse")
        ]
        assert _bar_cache(linear, testnet, tmp_path) is None
    assert _bar_cache(SyntheticFeed(["BTCUSDT"], start=T0), AppConfig(), tmp_path) is None
    assert _bar_cache(ReplayFeed(ETHBTC), AppConfig(), tmp_path) is None


def test_the_same_bars_give_the_same_features_from_a_paper_runs_cache_and_from_its_live_path(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    wired, data = cached_paper_run(home, bars=900)
    data.subscribe([SYMBOL], ["15m"])  # the live path also aggregates 15m bars as they close

    trio.run(wired.runtime.run)
    wired.storage.close()

    for spec, timeframe, count in ((SPEC, "5m", 900), (spec_at(tmp_path, "15m"), "15m", 300)):
        live = live_frame(data, timeframe)
        from_cache = backtest_frame(spec, home)  # 15m: resampled from the cached 5m bars
        assert len(live) == count
        pd.testing.assert_frame_equal(from_cache, live, check_exact=True)
        pd.testing.assert_frame_equal(build_features(from_cache), build_features(live), check_exact=True)


def test_a_failing_cache_never_stops_the_trading_and_shows_in_the_status_line(tmp_path: Path) -> None:
    plain = paper_runtime(tmp_path / "plain", bars=600)
    trio.run(plain.runtime.run)
    store = FlakyStore(tmp_path / "cache")
    store.failing = True
    wired, _data = cached_paper_run(tmp_path / "failing", bars=600, store=store)

    final = trio.run(wired.runtime.run)

    assert final.bars == 600
    assert [t.pnl for t in wired.storage.trades()] == [t.pnl for t in plain.storage.trades()]
    assert final.cache is not None
    assert final.cache.failures >= 1
    assert "cache: " in final.line()
    assert "failed writes" in final.line()
    assert store.cache.entries() == []


def test_the_status_line_names_cache_failures_only_when_there_are_some() -> None:
    healthy = RunStatus(10, None, (), 0, 0, cache=CacheHealth(3, 0, 12, 0))
    failing = RunStatus(10, None, (), 0, 0, cache=CacheHealth(3, 2, 612, 100, "disk full"))

    assert "cache" not in healthy.line()
    assert failing.line().endswith("| cache: 2 failed writes, 612 bars unsaved, 100 lost")


@pytest.mark.parametrize(("category", "asset"), [("spot", "spot"), ("linear", "futures")])
def test_a_paper_run_on_the_bybit_feed_appends_its_closed_bars_to_the_cache_of_its_category(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, category: str, asset: str
) -> None:
    spec = tmp_path / "btc.yaml"
    spec.write_text(
        SPEC.read_text()
        .replace("asset: spot", f"asset: {asset}")
        .replace("symbol: ETHBTC", "symbol: BTCUSDT")
        .replace("timeframe: 5m", "timeframe: 1m")
    )
    home = tmp_path / "home"
    other = {"spot": "linear", "linear": "spot"}[category]
    with FakeBybit(now=T0) as fake:
        monkeypatch.setattr(pybit.unified_trading, "PUBLIC_WSS", fake.public_wss)
        series = fake.add_klines(category, "BTCUSDT", "1", start=T0 - timedelta(minutes=30))
        # The other market's BTCUSDT trades at other prices at the same times: none of it may be cached.
        fake.add_klines(other, "BTCUSDT", "1", start=T0 - timedelta(minutes=30), base_price=50_000, seed=9)
        feed = BybitFeed(("BTCUSDT",), "1m", client=make_async_client(fake), category=category)
        cache = _bar_cache(feed, AppConfig(), home)
        data = _data_manager(feed, [load_spec(spec)], store=cache)
        wired = paper_runtime(home, bars=3, spec=spec, feed=feed, data_manager=data)

        async def scenario() -> None:
            with trio.fail_after(10):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(wired.runtime.run)
                    await trio.to_thread.run_sync(fake.wait_for_subscription, "kline.1.BTCUSDT")
                    fake.advance(timedelta(minutes=3))

        trio.run(scenario)

    want = expected(series, T0, 3)
    stored = home_cache(home, category).read("BTCUSDT", "1m")
    assert home_cache(home, other).entries() == []
    assert [(c.ts, c.open, c.high, c.low, c.close, c.volume) for c in want] == [
        (pd.Timestamp(ts, tz="UTC").to_pydatetime(), *row[1:])
        for ts, row in zip(stored.ts, (stored.row(i) for i in range(len(stored))), strict=True)
    ]


_KILLED_RUN = """
import sys
from pathlib import Path

import trio

from app.adapters.feeds.replay import ReplayFeed
from app.adapters.storage.sqlite import SqliteStorage
from app.bootstrap.bar_cache import home_cache
from app.bootstrap.paper import _data_manager, wire_paper
from app.learning.strategies.spec import load_spec
from app.services.config_schema import AppConfig

home, data, spec = (Path(a) for a in sys.argv[1:4])
feed = ReplayFeed(data, speed=float(sys.argv[4]))
specs = (load_spec(spec),)
wired = wire_paper(
    AppConfig(), specs, feed, SqliteStorage.open(home / "paper.db"), status_interval=3600,
    data_manager=_data_manager(feed, specs, store=home_cache(home, "spot")),
)
trio.run(wired.runtime.run)
"""


@pytest.mark.slow
def test_a_paper_run_killed_and_restarted_leaves_each_bar_in_the_cache_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    parts = home / "cache" / "spot" / SYMBOL / "5m"
    pace = 300 / 0.002  # a 5m bar every 2 ms: about 12 s for the file
    script = [
        sys.executable,
        "-c",
        textwrap.dedent(_KILLED_RUN),
        str(home),
        str(ETHBTC),
        str(SPEC),
        str(pace),
    ]
    proc = subprocess.Popen(script, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not list(parts.glob("*.parquet")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(0.3)  # some bars past the first flush, held in memory only
    finally:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err.decode()
    written_before = sum(e.rows for e in home_cache(home, "spot").entries())
    assert 0 < written_before < 5000

    wired, _data = cached_paper_run(home, bars=None)
    trio.run(wired.runtime.run)

    [source] = load_bars(ETHBTC).series
    want = BarBatch(
        SYMBOL, "5m", source.ts, source.open, source.high, source.low, source.close, source.volume
    )
    stored = home_cache(home, "spot").read(SYMBOL, "5m")
    assert stored.same_bars(want)
    assert bool((np.diff(stored.ts) > 0).all())
