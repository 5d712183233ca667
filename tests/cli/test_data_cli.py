"""`app data import|list|download` and `app universe`, invoked as a user would (CliRunner, real files)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from app.cli.data import data
from app.cli.universe import universe
from tests.conftest import SHARED_DATA
from tests.support.fake_bybit import FakeBybit, documented

SPOT_5M = SHARED_DATA / "crypto_spot_5m"
T0 = datetime(2024, 1, 8, 12, 0, tzinfo=UTC)


def invoke(command: click.Command, *args: str) -> Result:
    return CliRunner().invoke(command, list(args), catch_exceptions=False)


@pytest.fixture
def fake() -> Iterator[FakeBybit]:
    with FakeBybit(now=T0) as server:
        yield server


@pytest.fixture
def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_importing_a_folder_caches_every_symbol_and_reports_each(tmp_path: Path) -> None:
    result = invoke(data, "import", str(SPOT_5M), "--home", str(tmp_path))

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert sum(line.startswith(("spot ADABTC 5m", "spot ETHBTC 5m")) for line in lines) == 2
    assert f"cache: {tmp_path / 'cache' / 'spot'} (market spot)" in lines
    assert sorted(p.name for p in (tmp_path / "cache" / "spot").iterdir()) == sorted(
        p.stem for p in SPOT_5M.glob("*.csv")
    )


def test_importing_the_futures_folder_leaves_out_its_funding_and_mark_files(tmp_path: Path) -> None:
    result = invoke(
        data, "import", str(SHARED_DATA / "crypto_futures"), "--market", "linear", "--home", str(tmp_path)
    )

    assert result.exit_code == 0, result.output
    assert "left out: XRPUSDT_8h_funding.csv (funding data, not traded prices)" in result.output
    assert "left out: XRPUSDT_1h_mark.csv (mark data, not traded prices)" in result.output
    assert [p.name for p in (tmp_path / "cache" / "linear").iterdir()] == ["XRPUSDT"]


def test_an_import_reports_what_was_repaired_or_dropped(tmp_path: Path) -> None:
    source = tmp_path / "XRPUSDT.csv"
    source.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z,1,2,0.5,1,10\n"
        "2024-01-01T00:00:00Z,1,2,0.5,1.5,10\n"
        "2024-01-01T00:01:00Z,-1,2,0.5,1,10\n"
        "2024-01-01T00:02:00Z,1,0.9,1.2,1,10\n"
        "2024-01-01T00:03:00Z,1,2,0.5,1,10\n"
        "2024-01-01T00:04:00Z,1,2,0.5,1,10\n"
        "2024-01-01T00:05:00Z,1,2,0.5,1,10\n"
        "2024-01-01T00:07:00Z,1,2,0.5,1,10\n"
    )

    result = invoke(data, "import", str(source), "--home", str(tmp_path / "home"))

    assert result.exit_code == 0, result.output
    assert (
        "XRPUSDT 1m: 8 read, 6 kept, 2024-01-01T00:00:00+00:00 .. 2024-01-01T00:07:00+00:00: "
        "1 duplicates dropped, 1 non-positive dropped, 1 high/low fixed, 2 gaps (missing bars)"
    ) in result.output


def test_a_file_that_cannot_be_read_is_named_the_rest_imported_and_the_status_is_2(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ETHBTC.csv").write_bytes((SPOT_5M / "ETHBTC.csv").read_bytes())
    (folder / "BAD.csv").write_text("timestamp,open\n2024-01-01,1\n")

    result = invoke(data, "import", str(folder), "--home", str(tmp_path))

    assert result.exit_code == 2
    assert "BAD.csv: missing column(s) high, low, close, volume" in result.output
    assert "1 of 2 file(s) not imported" in result.output
    assert (tmp_path / "cache" / "spot" / "ETHBTC" / "5m").is_dir()


def test_importing_a_path_that_does_not_exist_exits_2(tmp_path: Path) -> None:
    result = invoke(data, "import", str(tmp_path / "nowhere"), "--home", str(tmp_path))

    assert result.exit_code == 2
    assert "nowhere: no such file or folder" in result.output


def test_listing_an_empty_cache_says_how_to_fill_it(tmp_path: Path) -> None:
    result = invoke(data, "list", "--home", str(tmp_path))

    assert result.exit_code == 0
    assert "is empty" in result.output


def test_the_list_shows_each_cached_series_with_its_bars_and_span(tmp_path: Path) -> None:
    invoke(data, "import", str(SPOT_5M / "ETHBTC.csv"), "--home", str(tmp_path))

    listed = json.loads(invoke(data, "list", "--home", str(tmp_path), "--json").output)

    assert listed["series"] == [
        {
            "market": "spot",
            "symbol": "ETHBTC",
            "timeframe": "5m",
            "bars": 5760,
            "first": "2018-01-10T04:55:00+00:00",
            "last": "2018-01-30T04:50:00+00:00",
        }
    ]


def test_the_same_symbol_imported_for_spot_and_linear_is_two_series_and_the_list_shows_both(
    tmp_path: Path,
) -> None:
    spot, linear = tmp_path / "spot" / "BTCUSDT.csv", tmp_path / "linear" / "BTCUSDT.csv"
    for path, source in ((spot, SPOT_5M / "ETHBTC.csv"), (linear, SPOT_5M / "LTCBTC.csv")):
        path.parent.mkdir()
        path.write_bytes(source.read_bytes())

    spot_import = invoke(data, "import", str(spot), "--home", str(tmp_path / "home"))
    linear_import = invoke(
        data, "import", str(linear), "--market", "linear", "--home", str(tmp_path / "home")
    )
    table = invoke(data, "list", "--home", str(tmp_path / "home")).output.splitlines()
    listed = json.loads(invoke(data, "list", "--home", str(tmp_path / "home"), "--json").output)

    assert spot_import.output.splitlines()[-2].startswith("spot BTCUSDT 5m: 5760 read, 5760 kept")
    assert linear_import.output.splitlines()[-2].startswith("linear BTCUSDT 5m: 5760 read, 5760 kept")
    assert table[1].split() == ["market", "symbol", "timeframe", "bars", "first", "..", "last", "(UTC)"]
    assert [line.split()[:4] for line in table[2:]] == [
        ["spot", "BTCUSDT", "5m", "5760"],
        ["linear", "BTCUSDT", "5m", "5760"],
    ]
    assert listed["cache"] == str(tmp_path / "home" / "cache")
    assert [(s["market"], s["symbol"], s["bars"]) for s in listed["series"]] == [
        ("spot", "BTCUSDT", 5760),
        ("linear", "BTCUSDT", 5760),
    ]


def test_a_forex_file_imports_into_the_forex_market(tmp_path: Path) -> None:
    result = invoke(data, "import", str(SHARED_DATA / "forex_1h" / "EURUSD.csv"), "--market", "forex",
                    "--home", str(tmp_path))  # fmt: skip

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-2].startswith("forex EURUSD 1h: ")
    assert (tmp_path / "cache" / "forex" / "EURUSD" / "1h").is_dir()
    assert not (tmp_path / "cache" / "spot").exists()


def test_an_unknown_market_is_refused_naming_the_choices(tmp_path: Path) -> None:
    result = invoke(data, "import", str(SPOT_5M), "--market", "perp", "--home", str(tmp_path))

    assert result.exit_code == 2
    assert "'spot', 'linear', 'inverse', 'forex', 'options'" in result.output
    assert not (tmp_path / "cache").exists()


def test_the_cli_offers_exactly_the_caches_markets() -> None:
    from app.bootstrap.bar_cache import MARKETS
    from app.cli import data as data_cli

    assert data_cli.MARKETS == MARKETS


def test_a_download_from_bybit_caches_the_closed_bars(tmp_path: Path, fake: FakeBybit) -> None:
    fake.add_klines("spot", "BTCUSDT", "1", start=T0 - timedelta(minutes=30))
    fake.add_klines("spot", "ETHUSDT", "1", start=T0 - timedelta(minutes=30), seed=2)
    home = str(tmp_path)

    result = invoke(
        data, "download", "BTCUSDT,ethusdt", "--since", "2024-01-08T11:30", "--until", "2024-01-08T12:00Z",
        "--endpoint", fake.rest_url, "--home", home,
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    listed = json.loads(invoke(data, "list", "--home", home, "--json").output)["series"]
    assert [(s["market"], s["symbol"], s["bars"], s["last"]) for s in listed] == [
        ("spot", "BTCUSDT", 30, "2024-01-08T11:59:00+00:00"),
        ("spot", "ETHUSDT", 30, "2024-01-08T11:59:00+00:00"),
    ]


def test_a_linear_download_is_cached_in_the_linear_market_apart_from_spot(
    tmp_path: Path, fake: FakeBybit
) -> None:
    perp = fake.add_klines("linear", "BTCUSDT", "1", start=T0 - timedelta(minutes=30), base_price=42100)
    fake.add_klines("spot", "BTCUSDT", "1", start=T0 - timedelta(minutes=30), base_price=42000, seed=2)
    home = str(tmp_path)
    common = ("--since", "2024-01-08T11:30", "--until", "2024-01-08T12:00Z", "--endpoint", fake.rest_url)

    linear = invoke(data, "download", "BTCUSDT", "--category", "linear", *common, "--home", home)
    spot = invoke(data, "download", "BTCUSDT", *common, "--home", home)

    assert linear.exit_code == 0, linear.output
    assert spot.exit_code == 0, spot.output
    assert "linear BTCUSDT 1m: 30 read, 30 kept" in linear.output
    listed = json.loads(invoke(data, "list", "--home", home, "--json").output)["series"]
    assert [(s["market"], s["symbol"], s["bars"]) for s in listed] == [
        ("spot", "BTCUSDT", 30),
        ("linear", "BTCUSDT", 30),
    ]
    stored = pd.read_parquet(next((tmp_path / "cache" / "linear" / "BTCUSDT" / "1m").glob("*.parquet")))
    assert list(stored["close"]) == [float(perp.bar(i)[4]) for i in range(30)]


def test_a_download_without_network_says_so_and_exits_2(tmp_path: Path, closed_port: str) -> None:
    result = invoke(
        data,
        "download",
        "BTCUSDT",
        "--since",
        "2024-01-01",
        "--endpoint",
        closed_port,
        "--home",
        str(tmp_path),
    )

    assert result.exit_code == 2
    assert f"cannot reach bybit at {closed_port}" in result.output
    assert "needs network access to Bybit's public market data" in result.output


def test_a_download_with_a_bad_date_exits_2_naming_the_option(tmp_path: Path) -> None:
    result = invoke(data, "download", "BTCUSDT", "--since", "last tuesday", "--home", str(tmp_path))

    assert result.exit_code == 2
    assert "--since: expected a date or an ISO-8601 time" in result.output


def turnover_at(path: Path, at: pd.Timestamp) -> float:
    """24h turnover computed independently: close x volume of the bars that closed in (at - 24h, at]."""
    bars = pd.read_csv(path, parse_dates=["timestamp"])
    closed = bars["timestamp"] + pd.Timedelta(minutes=5)
    window = (closed > at - pd.Timedelta(hours=24)) & (closed <= at)
    return float((bars["close"] * bars["volume"])[window].sum())


def test_the_universe_ranks_the_six_pairs_by_24h_turnover_at_the_end_of_the_data() -> None:
    result = invoke(universe, "--data", str(SPOT_5M), "--json")

    report = json.loads(result.output)
    end = pd.Timestamp("2018-01-30T04:55:00Z")
    expected = sorted(((turnover_at(p, end), p.stem) for p in SPOT_5M.glob("*.csv")), reverse=True)
    assert result.exit_code == 0
    assert (report["at"], report["ranked_by"]) == ("2018-01-30T04:55:00+00:00", "BTC")
    assert [s["symbol"] for s in report["symbols"]] == [name for _, name in expected]
    assert [s["turnover_24h"] for s in report["symbols"]] == pytest.approx(
        [t for t, _ in expected], rel=1e-12
    )
    assert {s["quote"] for s in report["symbols"]} == {"BTC"}


def test_the_universe_at_an_earlier_time_uses_the_24h_before_it() -> None:
    report = json.loads(invoke(universe, "--data", str(SPOT_5M), "--at", "2018-01-20T00:00", "--json").output)

    eth = next(s for s in report["symbols"] if s["symbol"] == "ETHBTC")
    assert report["at"] == "2018-01-20T00:00:00+00:00"
    assert eth["turnover_24h"] == pytest.approx(
        turnover_at(SPOT_5M / "ETHBTC.csv", pd.Timestamp("2018-01-20T00:00Z")), rel=1e-12
    )


def test_the_universe_table_names_the_ranking_currency() -> None:
    result = invoke(universe, "--data", str(SPOT_5M))

    assert result.exit_code == 0
    assert "6 symbols, ranked by 24h turnover in BTC" in result.output
    assert result.output.splitlines()[1].split()[:3] == ["1", "ETHBTC", "core"]


def test_the_universe_at_a_time_without_data_exits_2() -> None:
    result = invoke(universe, "--at", "2024-01-01")

    assert result.exit_code == 2
    assert "--at needs --data" in result.output


def test_the_universe_from_bybit_ranks_the_tickers_turnover(fake: FakeBybit) -> None:
    fake.add_klines("spot", "BTCUSDT", "D", start=T0 - timedelta(days=30))
    ticker = next(t for t in documented("market__tickers") if t["result"]["category"] == "spot")
    expected = float(ticker["result"]["list"][0]["turnover24h"])

    report = json.loads(invoke(universe, "--endpoint", fake.rest_url, "--json").output)

    assert [(s["symbol"], s["quote"], s["role"]) for s in report["symbols"]] == [("BTCUSDT", "USDT", "core")]
    assert report["symbols"][0]["turnover_24h"] == pytest.approx(expected)


def test_the_universe_from_bybit_without_network_exits_2(closed_port: str) -> None:
    result = invoke(universe, "--endpoint", closed_port)

    assert result.exit_code == 2
    assert "needs network access to Bybit" in result.output


def a_config(tmp_path: Path, home: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"storage:\n  home: {home}\n", encoding="utf-8")
    return path


def test_import_and_list_use_the_home_of_the_config_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("APP_HOME", raising=False)
    config = a_config(tmp_path, tmp_path / "configured")

    imported = invoke(data, "import", str(SPOT_5M / "ETHBTC.csv"), "--config", str(config))
    listed = json.loads(invoke(data, "list", "--config", str(config), "--json").output)

    assert imported.exit_code == 0, imported.output
    assert f"cache: {tmp_path / 'configured' / 'cache' / 'spot'}" in imported.output
    assert listed["cache"] == str(tmp_path / "configured" / "cache")
    assert [(s["market"], s["symbol"]) for s in listed["series"]] == [("spot", "ETHBTC")]


def test_a_download_lands_in_the_home_of_the_config_given(
    tmp_path: Path, fake: FakeBybit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("APP_HOME", raising=False)
    fake.add_klines("spot", "BTCUSDT", "1", start=T0 - timedelta(minutes=30))
    config = a_config(tmp_path, tmp_path / "configured")

    result = invoke(
        data, "download", "BTCUSDT", "--since", "2024-01-08T11:30", "--until", "2024-01-08T12:00Z",
        "--endpoint", fake.rest_url, "--config", str(config),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    listed = json.loads(invoke(data, "list", "--home", str(tmp_path / "configured"), "--json").output)
    assert [(s["symbol"], s["bars"]) for s in listed["series"]] == [("BTCUSDT", 30)]


@pytest.mark.parametrize("command", [("list",), ("import", str(SPOT_5M / "ETHBTC.csv"))])
def test_a_bad_config_for_the_data_commands_is_named_and_exits_2(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("storage:\n  hoem: /tmp/x\n", encoding="utf-8")

    result = invoke(data, *command, "--config", str(config), "--home", str(tmp_path / "home"))

    assert result.exit_code == 2
    assert str(config) in result.output
    assert "hoem" in result.output
    assert not (tmp_path / "home").exists()  # refused before anything was written
