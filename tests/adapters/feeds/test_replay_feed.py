"""ReplayFeed: files and folders merged in time order, resume after a timestamp, and paced delivery."""

from __future__ import annotations

import itertools
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio
import trio.testing

from app.adapters.feeds.replay import ReplayFeed
from app.domain.values import Candle
from app.ports import MarketData
from app.ports.errors import DataError

DATA = Path("/work/shared/data")
ETHBTC = DATA / "crypto_spot_5m" / "ETHBTC.csv"
HEADER = "timestamp,open,high,low,close,volume"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


class RecordingSleep:
    """A fake sleep that records each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _write(folder: Path, name: str, minutes: list[int], close: float = 1.0) -> Path:
    lines = [f"{(T0 + timedelta(minutes=m)).isoformat()},{close},{close},{close},{close},1" for m in minutes]
    path = folder / name
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def _collect(feed: ReplayFeed, after: datetime | None = None) -> list[Candle]:
    async def main() -> list[Candle]:
        return [candle async for candle in feed.stream(after=after)]

    return trio.run(main)


def test_replay_feed_is_a_market_data_port() -> None:
    assert isinstance(ReplayFeed(ETHBTC), MarketData)


def test_one_file_streams_every_bar_in_order_with_its_symbol_and_timeframe() -> None:
    feed = ReplayFeed(ETHBTC)

    candles = _collect(feed)

    assert (feed.symbols(), feed.timeframe("ETHBTC"), len(candles)) == (("ETHBTC",), "5m", 5760)
    assert candles[0] == Candle(
        "ETHBTC",
        "5m",
        datetime(2018, 1, 10, 4, 55, tzinfo=UTC),
        0.0984,
        0.0994766,
        0.09828605,
        0.0994766,
        1820.54447418,
    )
    assert all(a.ts < b.ts for a, b in itertools.pairwise(candles))


def test_a_folder_merges_its_files_in_time_order_with_ties_by_symbol(tmp_path: Path) -> None:
    _write(tmp_path, "BBB.csv", [0, 5, 10, 15])
    _write(tmp_path, "AAA.csv", [5, 10, 20])
    (tmp_path / "notes.txt").write_text("not data")

    candles = _collect(ReplayFeed(tmp_path))

    assert [(c.ts.minute, c.symbol) for c in candles] == [
        (0, "BBB"),
        (5, "AAA"),
        (5, "BBB"),
        (10, "AAA"),
        (10, "BBB"),
        (15, "BBB"),
        (20, "AAA"),
    ]


def test_the_shared_5m_folder_replays_six_symbols_in_time_order() -> None:
    feed = ReplayFeed(DATA / "crypto_spot_5m")

    candles = _collect(feed)

    assert feed.symbols() == ("ADABTC", "DASHBTC", "ETCBTC", "ETHBTC", "LTCBTC", "XLMBTC")
    assert len(candles) == len(feed) == sum(r.rows_read for r in feed.reports())
    keys = [(c.ts, c.symbol) for c in candles]
    assert keys == sorted(keys)


def test_a_sequence_of_files_is_merged_like_a_folder(tmp_path: Path) -> None:
    files = [_write(tmp_path, "BBB.csv", [0, 5]), _write(tmp_path, "AAA.csv", [0, 5])]

    candles = _collect(ReplayFeed(files))

    assert [c.symbol for c in candles] == ["AAA", "BBB", "AAA", "BBB"]


def test_after_resumes_with_the_first_candle_later_than_it() -> None:
    feed = ReplayFeed(ETHBTC)
    everything = _collect(feed)

    resumed = _collect(feed, after=everything[99].ts)

    assert resumed == everything[100:]


def test_after_between_bars_skips_to_the_next_one(tmp_path: Path) -> None:
    feed = ReplayFeed(_write(tmp_path, "X.csv", [0, 5, 10]))

    resumed = _collect(feed, after=T0 + timedelta(minutes=7))

    assert [c.ts.minute for c in resumed] == [10]


def test_start_and_end_bound_the_replay_half_open(tmp_path: Path) -> None:
    path = _write(tmp_path, "X.csv", [0, 5, 10, 15, 20])

    feed = ReplayFeed(path, start=T0 + timedelta(minutes=5), end=T0 + timedelta(minutes=15))

    assert [c.ts.minute for c in _collect(feed)] == [5, 10]


def test_reports_cover_each_symbol(tmp_path: Path) -> None:
    _write(tmp_path, "AAA.csv", [0, 5, 5, 10])
    _write(tmp_path, "BBB.csv", [0, 5, 20])

    reports = ReplayFeed(tmp_path).reports()

    assert [(r.symbol, r.duplicates_dropped, r.gaps) for r in reports] == [("AAA", 1, 0), ("BBB", 0, 2)]


def test_a_bad_file_in_the_folder_fails_before_anything_streams(tmp_path: Path) -> None:
    _write(tmp_path, "AAA.csv", [0, 5])
    (tmp_path / "BBB.csv").write_text(f"{HEADER}\nsoon,1,1,1,1,1\n")

    with pytest.raises(DataError, match=r"BBB\.csv: line 2"):
        ReplayFeed(tmp_path)


def test_two_files_with_the_same_symbol_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, "AAA.csv", [0, 5])
    (tmp_path / "AAA.json").write_text("[[1704067200000, 1, 1, 1, 1, 1], [1704067500000, 1, 1, 1, 1, 1]]")

    with pytest.raises(DataError, match="symbol AAA is already read from"):
        ReplayFeed(tmp_path)


def test_a_wanted_symbol_is_served_by_the_series_named_after_it_with_a_tag(tmp_path: Path) -> None:
    _write(tmp_path, "BTCUSD_coinbase.csv", [0, 5])
    _write(tmp_path, "AAA.csv", [0, 5])

    feed = ReplayFeed(tmp_path, wanted={"BTCUSD": "5m", "AAA": "5m"})

    assert feed.symbols() == ("AAA", "BTCUSD")
    assert feed.timeframe("BTCUSD") == "5m"
    assert feed.served() == {"BTCUSD_coinbase": "BTCUSD"}
    assert [c.symbol for c in _collect(feed)] == ["AAA", "BTCUSD", "AAA", "BTCUSD"]


def test_a_series_of_the_wanted_name_wins_over_a_tagged_one(tmp_path: Path) -> None:
    _write(tmp_path, "BTCUSD.csv", [0, 5])
    _write(tmp_path, "BTCUSD_kraken.csv", [0, 5])

    feed = ReplayFeed(tmp_path, wanted={"BTCUSD": "5m"})

    assert (feed.symbols(), feed.served()) == (("BTCUSD", "BTCUSD_kraken"), {})


@pytest.mark.parametrize("name", ["BTCUSDT.csv", "XBTCUSD_coinbase.csv", "BTC.csv"])
def test_a_name_that_only_resembles_the_wanted_symbol_does_not_serve_it(tmp_path: Path, name: str) -> None:
    _write(tmp_path, name, [0, 5])

    feed = ReplayFeed(tmp_path, wanted={"BTCUSD": "5m"})

    assert (feed.symbols(), feed.served()) == ((name.removesuffix(".csv"),), {})


def test_several_tagged_series_for_one_wanted_symbol_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, "BTCUSD_coinbase.csv", [0, 5])
    _write(tmp_path, "BTCUSD-kraken.csv", [0, 5])

    with pytest.raises(DataError, match="several series could serve BTCUSD: BTCUSD-kraken, BTCUSD_coinbase"):
        ReplayFeed(tmp_path, wanted={"BTCUSD": "5m"})


def _write_hours(folder: Path, name: str, hours: list[int]) -> Path:
    lines = [f"{(T0 + timedelta(hours=h)).isoformat()},1,1,1,1,1" for h in hours]
    path = folder / name
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def test_of_two_files_of_one_symbol_the_wanted_timeframe_is_read_and_the_other_left_out(
    tmp_path: Path,
) -> None:
    _write(tmp_path, "XRPUSDT_5m.csv", [0, 5, 10])
    _write_hours(tmp_path, "XRPUSDT_1h.csv", [0, 1])

    feed = ReplayFeed(tmp_path, wanted={"XRPUSDT": "1h"})

    assert (feed.symbols(), feed.timeframe("XRPUSDT"), len(feed)) == (("XRPUSDT",), "1h", 2)
    assert feed.left_out() == ("XRPUSDT_5m.csv (XRPUSDT 5m; XRPUSDT_1h.csv has the wanted 1h)",)


@pytest.mark.parametrize(
    ("wanted", "why"),
    [({}, "symbol XRPUSDT is already read from"), ({"XRPUSDT": "4h"}, "none has the wanted timeframe 4h")],
)
def test_two_files_of_one_symbol_without_one_at_the_wanted_timeframe_are_refused(
    tmp_path: Path, wanted: dict[str, str], why: str
) -> None:
    _write(tmp_path, "XRPUSDT_5m.csv", [0, 5, 10])
    _write_hours(tmp_path, "XRPUSDT_1h.csv", [0, 1])

    with pytest.raises(DataError, match=why):
        ReplayFeed(tmp_path, wanted=wanted)


def test_a_folder_leaves_out_its_funding_mark_and_index_files(tmp_path: Path) -> None:
    _write_hours(tmp_path, "XRPUSDT_1h.csv", [0, 1])
    _write_hours(tmp_path, "XRPUSDT_1h_mark.csv", [0, 1])
    _write_hours(tmp_path, "XRPUSDT-index.csv", [0, 1])
    (tmp_path / "XRPUSDT_8h_funding.csv").write_text("timestamp,funding_rate\n2024-01-01T00:00:00Z,0.0001\n")

    feed = ReplayFeed(tmp_path)

    assert feed.symbols() == ("XRPUSDT",)
    assert feed.left_out() == (
        "XRPUSDT-index.csv (index data, not traded prices)",
        "XRPUSDT_1h_mark.csv (mark data, not traded prices)",
        "XRPUSDT_8h_funding.csv (funding data, not traded prices)",
    )


def test_the_shared_futures_folder_replays_the_wanted_timeframe() -> None:
    feed = ReplayFeed(DATA / "crypto_futures", wanted={"XRPUSDT": "1h"})

    assert (feed.symbols(), feed.timeframe("XRPUSDT")) == (("XRPUSDT",), "1h")
    assert len(feed.left_out()) == 3


def test_a_file_given_by_name_is_read_whatever_its_name_says(tmp_path: Path) -> None:
    path = _write_hours(tmp_path, "XRPUSDT_1h_mark.csv", [0, 1])

    assert ReplayFeed(path).symbols() == ("XRPUSDT_1h_mark",)


def test_a_folder_without_data_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("nothing here")

    with pytest.raises(DataError, match="no data files"):
        ReplayFeed(tmp_path)


def test_asking_for_an_unknown_symbol_names_the_known_ones() -> None:
    with pytest.raises(DataError, match="unknown symbol 'BTCUSDT': this replay has ETHBTC"):
        ReplayFeed(ETHBTC).timeframe("BTCUSDT")


def test_a_naive_resume_time_is_refused() -> None:
    feed = ReplayFeed(ETHBTC)

    with pytest.raises(ValueError, match="timezone-aware"):
        _collect(feed, after=datetime(2018, 1, 11))  # noqa: DTZ001 - the naive time is the point


@pytest.mark.parametrize("speed", [0, -2.0])
def test_speed_must_be_positive(speed: float) -> None:
    with pytest.raises(ValueError, match="speed must be positive"):
        ReplayFeed(ETHBTC, speed=speed)


def test_paced_replay_takes_bars_times_interval_over_speed_of_virtual_time() -> None:
    bars, speed = 288, 60.0
    feed = ReplayFeed(
        ETHBTC, speed=speed, end=datetime(2018, 1, 10, 4, 55, tzinfo=UTC) + bars * timedelta(minutes=5)
    )

    async def main() -> tuple[int, float]:
        began = trio.current_time()
        count = len([candle async for candle in feed.stream()])
        return count, trio.current_time() - began

    count, elapsed = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))

    assert count == bars
    assert elapsed == pytest.approx(bars * 300 / speed)


def test_paced_replay_sleeps_once_per_timestamp_not_per_symbol(tmp_path: Path) -> None:
    _write(tmp_path, "AAA.csv", [0, 5, 10])
    _write(tmp_path, "BBB.csv", [0, 5, 10, 20])
    sleep = RecordingSleep()

    candles = _collect(ReplayFeed(tmp_path, speed=10.0, sleep=sleep))

    assert len(candles) == 7
    assert sleep.waits == [30.0, 30.0, 30.0, 60.0]


def test_max_speed_never_waits() -> None:
    sleep = RecordingSleep()

    _collect(ReplayFeed(ETHBTC, sleep=sleep))

    assert sleep.waits
    assert set(sleep.waits) == {0}


def test_a_max_speed_replay_can_be_cancelled() -> None:
    feed = ReplayFeed(ETHBTC)

    async def main() -> int:
        delivered = 0
        with trio.CancelScope() as scope:
            scope.cancel()
            async with aclosing(feed.stream()) as stream:
                async for _ in stream:
                    delivered += 1
        return delivered

    assert trio.run(main) == 0


def test_a_paced_replay_delivers_what_it_catches_up_on_at_once_then_paces_again(tmp_path: Path) -> None:
    _write(tmp_path, "AAA.csv", [0, 5, 10, 15, 20])
    _write(tmp_path, "BBB.csv", [0, 5, 10, 15, 20])
    sleep = RecordingSleep()
    feed = ReplayFeed(tmp_path, speed=10.0, sleep=sleep)

    async def main() -> list[Candle]:
        through = T0 + timedelta(minutes=10)  # a resumed run had processed the bars up to 00:10
        return [candle async for candle in feed.stream(catch_up_through=through)]

    candles = trio.run(main)

    assert len(candles) == 10
    # No wait before the three times caught up on (checkpoints only), then one interval before each later one.
    assert [w for w in sleep.waits if w] == [30.0, 30.0]
    assert sleep.waits[0] == 0
