"""A paper run on the Bybit feed, built as ``app run --paper --feed bybit`` builds it, against the loopback fake
Bybit (real pybit, REST and WebSocket): warm-up from REST, live bars over the stream, fills in the paper venue,
a dropped socket backfilled, live quotes, a stopped run resumed, and the refusals before anything is written."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trio
from click.testing import CliRunner

from app.adapters.storage.parquet import ParquetBarCache
from app.adapters.storage.sqlite import SqliteStorage
from app.bootstrap.paper import PaperRun, PaperRunOptions, build_paper_run
from app.cli import main
from app.domain.resample import datetime_to_ns
from app.domain.values import Candle
from app.ports.errors import DataError
from app.services.app_runtime.progress import LAST_BAR_KEY
from app.services.order_requests import OrderRequest
from app.services.trade_executor import TradeExecutor
from tests.support.fake_bybit import FakeBybit, KlineSeries

T0 = datetime(2024, 1, 8, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
WARM_UP = 20
KLINES = "kline.1.BTCUSDT"
TICKERS = "tickers.BTCUSDT"
SPEC = """\
id: flip-btc
asset: spot
symbol: BTCUSDT
timeframe: 1m
signal:
  kind: rules
  long_entry: "close > sma(close, 3)"
  long_exit: "close < sma(close, 3)"
sizing:
  mode: fraction
  fraction: 0.25
"""


@pytest.fixture
def fake() -> Iterator[FakeBybit]:
    with FakeBybit(now=T0) as server:
        yield server


@pytest.fixture
def series(fake: FakeBybit) -> KlineSeries:
    return fake.add_klines("spot", "BTCUSDT", "1", start=T0 - 300 * MINUTE, base_price=42000)


class StrategyView:
    """What the strategies saw: bars they warmed up on, bars they acted on (a spy on TradeExecutor).

    ``take()`` hands over what was seen so far and starts afresh (one run after another).
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.warm_up: list[Candle] = []
        self.acted: list[Candle] = []
        warm_up, propose = TradeExecutor.warm_up, TradeExecutor.propose

        def spy_warm_up(executor: TradeExecutor, candle: Candle) -> None:
            self.warm_up.append(candle)
            warm_up(executor, candle)

        async def spy_propose(executor: TradeExecutor, candle: Candle) -> OrderRequest | None:
            self.acted.append(candle)
            return await propose(executor, candle)

        monkeypatch.setattr(TradeExecutor, "warm_up", spy_warm_up)
        monkeypatch.setattr(TradeExecutor, "propose", spy_propose)

    def take(self) -> tuple[list[Candle], list[Candle]]:
        seen = (self.warm_up, self.acted)
        self.warm_up, self.acted = [], []
        return seen


def config_file(folder: Path, rest_url: str, ws_url: str, **bybit: Any) -> Path:
    path = folder / "bybit.yaml"
    settings = {"rest_url": rest_url, "ws_url": ws_url, "warm_up_bars": WARM_UP, **bybit}
    path.write_text(
        "feeds:\n  bybit:\n" + "".join(f"    {k}: {json.dumps(v)}\n" for k, v in settings.items())
    )
    return path


def options(
    tmp_path: Path, fake: FakeBybit, *, bars: int, home: str = "home", **bybit: Any
) -> PaperRunOptions:
    spec = tmp_path / "flip.yaml"
    spec.write_text(SPEC)
    return PaperRunOptions(
        feed="bybit",
        specs=(spec,),
        bars=bars,
        home=tmp_path / home,
        config=config_file(tmp_path, fake.rest_url, fake.ws_url, **bybit),
        status_interval=60,
    )


def candles(series: KlineSeries, first: datetime, count: int) -> list[Candle]:
    """The fake's closed bars from ``first`` on, as the strategies should see them."""
    start = (first - datetime.fromtimestamp(series.start_ms / 1000, tz=UTC)) // MINUTE
    return [
        Candle("BTCUSDT", "1m", first + i * MINUTE, *(float(v) for v in series.bar(start + i)[1:6]))
        for i in range(count)
    ]


async def subscribed(fake: FakeBybit, topic: str, count: int = 1) -> None:
    await trio.to_thread.run_sync(fake.wait_for_subscription, topic, count)


async def quote_is_live(run: PaperRun, fake: FakeBybit) -> None:
    """Push a ticker with a book and wait until the runtime's data tap quotes it."""
    await subscribed(fake, TICKERS)
    fake.push_ticker("spot", "BTCUSDT", bid1Price="42001.5", ask1Price="42002.5")
    # The quote crosses from pybit's thread: there is nothing to wait on but the data tap itself.
    while (quote := run.runtime.last_quote("BTCUSDT")) is None or quote.bid != 42001.5:  # noqa: ASYNC110
        await trio.sleep(0.01)
    assert (quote.ask, quote.ts) == (42002.5, fake.now)


def play(
    run: PaperRun, fake: FakeBybit, *, drop_after: int | None = None, gap: int = 3, quote_at: int = -1
) -> None:
    """Run the paper runtime while the fake's clock moves a minute at a time, until the run's ``--bars`` end.

    After ``drop_after`` minutes every stream socket is cut and ``gap`` minutes pass in silence; at minute
    ``quote_at`` a ticker is pushed and must reach ``last_quote``.
    """

    async def scenario() -> None:
        done = trio.Event()

        async def run_it() -> None:
            await run.runtime.run()
            done.set()

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run_it)
                await subscribed(fake, KLINES)
                minute = 0
                while not done.is_set():
                    if minute == quote_at:
                        await quote_is_live(run, fake)
                    if minute == drop_after:
                        assert fake.drop_websockets() == 2  # the kline and the ticker streams
                        fake.advance(gap * MINUTE, push=False)
                        await subscribed(fake, KLINES, 2)
                    fake.advance(MINUTE)
                    minute += 1
                    await trio.sleep(0.02)

    try:
        trio.run(scenario)
    finally:
        run.close()


def bar_rows(bars: list[Candle]) -> list[tuple[int, float, float, float, float, float]]:
    return [(datetime_to_ns(c.ts), c.open, c.high, c.low, c.close, c.volume) for c in bars]


def trades_json(home: Path) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["trades", "--home", str(home), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def test_live_bars_trade_in_the_paper_venue_and_a_dropped_socket_is_backfilled(
    tmp_path: Path, fake: FakeBybit, series: KlineSeries, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = StrategyView(monkeypatch)
    run = build_paper_run(options(tmp_path, fake, bars=30), lambda status: None)

    play(run, fake, drop_after=12, gap=3, quote_at=5)

    # History up to the last bar closed at the start only warms up; every later bar is acted on once, in
    # order, with the same values the stream and REST serve: the 3 silent minutes came through REST.
    assert seen.warm_up == candles(series, T0 - WARM_UP * MINUTE, WARM_UP)
    assert seen.acted == candles(series, T0, 30)
    backfills = [r for r in fake.requests_to("/v5/market/kline") if int(r.params["start"]) > series.start_ms]
    assert any(int(r.params["start"]) >= int(T0.timestamp() * 1000) for r in backfills)
    report = trades_json(tmp_path / "home")
    mine = [o for o in report["orders"] if o["client_order_id"].startswith("flip-btc-")]
    assert len(mine) >= 6
    # Each order fills at the next bar's open; one placed on the last bar is still working at the stop.
    assert {o["status"] for o in mine[:-1]} == {"filled"}
    assert mine[-1]["status"] in {"filled", "accepted"}
    mine = [o for o in mine if o["status"] == "filled"]
    assert len(report["trades"]) >= 3
    assert all(o["created_at"] > T0.isoformat() for o in mine)  # nothing traded on the warm-up history
    # The venue trades on Bybit's instrument rules: spot BTCUSDT's lot step is 0.000001, its tick 0.1.
    assert all(len(o["qty"].split(".")[-1].rstrip("0")) <= 6 for o in mine)
    assert all(float(o["avg_price"]) * 10 == pytest.approx(round(float(o["avg_price"]) * 10)) for o in mine)


def test_a_stopped_run_resumes_and_ends_like_an_uninterrupted_one(
    tmp_path: Path, fake: FakeBybit, series: KlineSeries, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = StrategyView(monkeypatch)
    play(build_paper_run(options(tmp_path, fake, bars=24, home="whole"), lambda status: None), fake)
    assert seen.take()[1] == candles(series, T0, 24)

    with FakeBybit(now=T0) as again:  # the same market from the same moment, for the run in pieces
        again.add_klines("spot", "BTCUSDT", "1", start=T0 - 300 * MINUTE, base_price=42000)
        play(build_paper_run(options(tmp_path, again, bars=10, home="pieces"), lambda status: None), again)
        first = seen.take()
        again.advance(6 * MINUTE, push=False)  # bars close while the run is stopped
        # The whole run's limit: it bounds the run, so this part trades the 14 bars left.
        play(build_paper_run(options(tmp_path, again, bars=24, home="pieces"), lambda status: None), again)
        second = seen.take()

    last = T0 + 9 * MINUTE
    assert first[1] == candles(series, T0, 10)
    # The restart warms up on the bars up to the last one processed, then trades on from the next one: the
    # bars that closed while it was stopped come through REST, none is skipped and none is traded twice.
    assert second[0] == candles(series, last - (WARM_UP - 1) * MINUTE, WARM_UP)
    assert second[1] == candles(series, last + MINUTE, 14)
    pieces = trades_json(tmp_path / "pieces")
    assert pieces == trades_json(tmp_path / "whole")
    ids = [o["client_order_id"] for o in pieces["orders"]]
    assert len(ids) == len(set(ids))


def test_a_run_stopped_longer_than_the_catch_up_limit_is_refused_naming_the_key(
    tmp_path: Path, fake: FakeBybit, series: KlineSeries
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    store = SqliteStorage.open(home / "paper.db")
    store.set_meta(LAST_BAR_KEY, (T0 - 100 * MINUTE).isoformat())
    store.close()

    with pytest.raises(DataError, match=r"99 1m bars have closed since.*max_catch_up_bars \(60\)"):
        build_paper_run(options(tmp_path, fake, bars=5, max_catch_up_bars=60), lambda status: None)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_cli(tmp_path: Path, config: Path, *extra: str) -> Any:
    home = tmp_path / "home"
    args = ["run", "--paper", "--feed", "bybit", "--config", str(config), "--home", str(home), *extra]
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_without_network_the_run_exits_2_naming_the_endpoint_and_creates_nothing(tmp_path: Path) -> None:
    rest = f"http://127.0.0.1:{closed_port()}"
    config = config_file(tmp_path, rest, f"ws://127.0.0.1:{closed_port()}")

    result = run_cli(tmp_path, config)

    assert result.exit_code == 2
    assert f"error: cannot reach bybit at {rest}: " in result.output
    assert "Connection refused" in result.output
    assert "`app run --paper --feed bybit` needs network access" in result.output
    assert not (tmp_path / "home").exists()


def test_a_stream_out_of_reach_exits_2_naming_its_url_and_creates_nothing(
    tmp_path: Path, fake: FakeBybit
) -> None:
    ws = f"ws://127.0.0.1:{closed_port()}"

    result = run_cli(tmp_path, config_file(tmp_path, fake.rest_url, ws, symbols=["BTCUSDT"]))

    assert result.exit_code == 2
    assert f"cannot open the bybit spot stream at {ws}/v5/public/spot" in result.output
    assert not (tmp_path / "home").exists()


def test_a_symbol_bybit_does_not_list_and_options_a_live_feed_cannot_take_exit_2(
    tmp_path: Path, fake: FakeBybit
) -> None:
    config = config_file(tmp_path, fake.rest_url, fake.ws_url, symbols=["BTCUSDT", "NOPEUSDT"])

    unknown = run_cli(tmp_path, config)
    paced = run_cli(tmp_path, config, "--speed", "10")

    assert unknown.exit_code == 2
    assert "has no spot instrument NOPEUSDT" in unknown.output
    assert paced.exit_code == 2
    assert "--speed: does not apply: a live feed runs in real time" in paced.output
    assert not (tmp_path / "home").exists()


def test_a_futures_run_caches_the_linear_bars_apart_from_spot_and_a_backtest_of_the_spec_reads_them(
    tmp_path: Path, fake: FakeBybit, series: KlineSeries
) -> None:
    # Spot BTCUSDT (the `series` fixture, at 42000) and the perpetual at other prices, at the same times.
    perp = fake.add_klines("linear", "BTCUSDT", "1", start=T0 - 300 * MINUTE, base_price=42500, seed=7)
    spec = tmp_path / "flip-perp.yaml"
    spec.write_text(SPEC.replace("id: flip-btc", "id: flip-perp").replace("asset: spot", "asset: futures"))
    wanted = PaperRunOptions(
        feed="bybit",
        specs=(spec,),
        bars=10,
        home=tmp_path / "home",
        config=config_file(tmp_path, fake.rest_url, fake.ws_url, category="linear"),
        status_interval=60,
    )

    play(build_paper_run(wanted, lambda status: None), fake)

    cache = tmp_path / "home" / "cache"
    assert sorted(p.name for p in cache.iterdir()) == ["linear"]
    stored = ParquetBarCache(cache / "linear").read("BTCUSDT", "1m")
    cached = [stored.row(i) for i in range(len(stored))]
    first = T0 - WARM_UP * MINUTE
    assert cached == bar_rows(candles(perp, first, WARM_UP + 10))  # the perpetual's: warm-up and live
    assert cached != bar_rows(candles(series, first, WARM_UP + 10))
    backtest = CliRunner().invoke(
        main, ["backtest", str(spec), "--home", str(tmp_path / "home")], catch_exceptions=False
    )
    assert backtest.exit_code == 0, backtest.output
    assert f"data: the bar cache {cache / 'linear' / 'BTCUSDT' / '1m'}" in backtest.stdout
