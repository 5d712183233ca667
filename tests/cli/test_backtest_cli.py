"""`app backtest` as a user runs it: reports, exit codes, warnings and refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.adapters.feeds.replay import load_bars
from app.adapters.storage.parquet import ParquetBarCache
from app.bootstrap.bar_cache import home_cache
from app.cli.backtest import backtest
from app.cli.data import data
from app.domain.resample import BarBatch, resample
from tests.conftest import ROOT, SHARED_DATA

SPECS = ROOT / "config" / "specs"
SPOT_5M = SHARED_DATA / "crypto_spot_5m"
ETHBTC = SPOT_5M / "ETHBTC.csv"
METRICS = (
    "trades",
    "net_profit",
    "profit_factor",
    "sharpe",
    "sortino",
    "max_drawdown",
    "cvar_95",
    "win_rate",
    "exposure",
    "final_equity",
)
TRADE_FIELDS = (
    "entry_time",
    "exit_time",
    "side",
    "entry_price",
    "exit_price",
    "qty",
    "fees",
    "pnl",
    "exit_reason",
)


def invoke(*args: object):
    return CliRunner().invoke(backtest, [str(a) for a in args], catch_exceptions=False)


def spec_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_a_backtest_writes_the_json_it_was_asked_for_and_the_home_reports(tmp_path):
    out = tmp_path / "out" / "bt.json"

    result = invoke(SPECS / "sma_cross.yaml", "--data", SPOT_5M, "--json", out, "--home", tmp_path / "home")

    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert set(METRICS) <= set(report["metrics"])
    assert report["metrics"]["trades"] == len(report["trades"]) > 0
    assert set(TRADE_FIELDS) <= set(report["trades"][0])
    folder = tmp_path / "home" / "reports" / "validation" / "sma-cross-demo"
    assert (folder / "report.json").exists()
    assert (folder / "report.html").exists()
    assert "final_equity" in result.stdout


def test_html_goes_where_it_is_asked(tmp_path):
    out = tmp_path / "report.html"

    result = invoke(SPECS / "sma_cross.yaml", "--data", ETHBTC, "--html", out, "--home", tmp_path)

    assert result.exit_code == 0
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_a_spec_without_a_stop_runs_with_a_warning_about_the_default_stop(tmp_path):
    result = invoke(SPECS / "sma_cross.yaml", "--data", ETHBTC, "--home", tmp_path)

    assert result.exit_code == 0
    assert "has no stop_loss" in result.stderr
    assert "default protective stop (2.00%)" in result.stderr


def test_from_and_to_limit_the_bars(tmp_path):
    out = tmp_path / "bt.json"

    result = invoke(
        SPECS / "sma_cross.yaml",
        "--data",
        ETHBTC,
        "--from",
        "2018-01-20",
        "--to",
        "2018-01-21T00:00Z",
        "--json",
        out,
        "--home",
        tmp_path,
    )

    assert result.exit_code == 0
    data = json.loads(out.read_text())["data"]
    assert (data["first"], data["last"], data["bars"]) == (
        "2018-01-20T00:00:00+00:00",
        "2018-01-20T23:55:00+00:00",
        288,
    )


def test_the_fast_engine_reports_the_same_trades(tmp_path):
    outputs = []
    for engine in ("event", "fast"):
        out = tmp_path / f"{engine}.json"
        invoke(
            SPECS / "bb_breakout.yaml",
            "--data",
            SHARED_DATA / "crypto_spot_1h",
            "--engine",
            engine,
            "--json",
            out,
            "--home",
            tmp_path,
        )
        outputs.append(json.loads(out.read_text())["trades"])

    assert [t["entry_time"] for t in outputs[0]] == [t["entry_time"] for t in outputs[1]]


def test_a_failing_gate_lists_its_reasons_and_exits_1(tmp_path):
    result = invoke(SPECS / "sma_cross.yaml", "--data", ETHBTC, "--gate", "--home", tmp_path)

    assert result.exit_code == 1
    assert "gate: FAILED" in result.stdout
    assert "profit factor" in result.stdout
    assert "(min_profit_factor)" in result.stdout


def test_a_spec_with_an_error_is_refused_with_exit_2(tmp_path):
    bad = spec_file(
        tmp_path,
        "id: x\nasset: spot\nsymbol: ETHBTC\ntimeframe: 5m\nsignal:\n  kind: rules\n"
        "  long_entry: 'smaa(close, 3) > 1'\n",
    )

    result = invoke(bad, "--data", ETHBTC, "--home", tmp_path / "home")

    assert result.exit_code == 2
    assert "unknown name 'smaa'" in result.stderr
    assert not (tmp_path / "home").exists()


def test_data_without_the_specs_symbol_is_refused_with_exit_2(tmp_path):
    result = invoke(
        SPECS / "sma_cross.yaml", "--data", SHARED_DATA / "forex_1h" / "EURUSD.csv", "--home", tmp_path
    )

    assert result.exit_code == 2
    assert "the data has no ETHBTC bars (it has EURUSD)" in result.stderr


def test_data_of_another_timeframe_is_refused_with_exit_2(tmp_path):
    text = (SPECS / "ema_trend_short.yaml").read_text().replace("timeframe: 1h", "timeframe: 15m")

    result = invoke(spec_file(tmp_path, text), "--data", SHARED_DATA / "crypto_futures", "--home", tmp_path)

    assert result.exit_code == 2
    assert "runs on 15m bars" in result.stderr


def test_a_range_too_short_for_the_warm_up_is_refused_with_exit_2(tmp_path):
    result = invoke(
        SPECS / "sma_cross.yaml", "--data", ETHBTC, "--from", "2018-01-30T04:00", "--home", tmp_path
    )

    assert result.exit_code == 2
    assert "the spec needs at least 32" in result.stderr


def test_a_bad_date_is_refused_with_exit_2(tmp_path):
    result = invoke(SPECS / "sma_cross.yaml", "--data", ETHBTC, "--to", "yesterday", "--home", tmp_path)

    assert result.exit_code == 2
    assert "--to: expected an ISO-8601 date" in result.stderr


def test_a_futures_spec_picks_up_funding_beside_its_bars(tmp_path):
    result = invoke(
        SPECS / "ema_trend_short.yaml", "--data", SHARED_DATA / "crypto_futures", "--home", tmp_path
    )

    assert result.exit_code == 0
    assert "XRPUSDT_8h_funding.csv" in result.stderr


@pytest.mark.slow
def test_the_command_runs_in_a_fresh_interpreter(tmp_path):
    code = "from app.cli.backtest import backtest; backtest()"
    args = [str(SPECS / "sma_cross.yaml"), "--data", str(ETHBTC), "--home", str(tmp_path)]

    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)

    assert done.returncode == 0, done.stderr
    assert "report:" in done.stdout


def cached_home(tmp_path: Path, *sources: Path, market: str = "spot") -> Path:
    """A home whose ``market`` bar cache holds ``sources``, imported as `app data import` does."""
    home = tmp_path / "home"
    cache = home_cache(home, market)
    for source in sources:
        cache.import_file(source)
    return home


def test_without_data_the_backtest_reads_the_homes_cache_and_matches_the_file(tmp_path):
    home = cached_home(tmp_path, ETHBTC)
    from_file, from_cache = tmp_path / "file.json", tmp_path / "cache.json"
    invoke(SPECS / "sma_cross.yaml", "--data", ETHBTC, "--json", from_file, "--home", tmp_path / "other")

    result = invoke(SPECS / "sma_cross.yaml", "--json", from_cache, "--home", home)

    assert result.exit_code == 0, result.output
    assert f"data: the bar cache {home / 'cache' / 'spot' / 'ETHBTC' / '5m'}" in result.stdout
    file_report, cache_report = (json.loads(p.read_text()) for p in (from_file, from_cache))
    assert cache_report["data"] == file_report["data"]
    assert cache_report["trades"] == file_report["trades"]
    assert cache_report["metrics"] == file_report["metrics"]


def test_from_and_to_limit_the_cached_bars(tmp_path):
    home = cached_home(tmp_path, ETHBTC)
    out = tmp_path / "bt.json"

    result = invoke(
        SPECS / "sma_cross.yaml",
        "--from",
        "2018-01-20",
        "--to",
        "2018-01-21T00:00Z",
        "--json",
        out,
        "--home",
        home,
    )

    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())["data"]
    assert (data["first"], data["last"], data["bars"]) == (
        "2018-01-20T00:00:00+00:00",
        "2018-01-20T23:55:00+00:00",
        288,
    )


def test_a_timeframe_not_cached_is_resampled_from_a_shorter_cached_one_within_the_range(tmp_path):
    home = cached_home(tmp_path, ETHBTC)
    spec = spec_file(
        tmp_path, (SPECS / "sma_cross.yaml").read_text().replace("timeframe: 5m", "timeframe: 1h")
    )
    out = tmp_path / "bt.json"

    result = invoke(
        spec, "--from", "2018-01-20T00:20", "--to", "2018-01-25T10:00Z", "--json", out, "--home", home
    )

    assert result.exit_code == 0, result.output
    assert "5m bars resampled to 1h" in result.stdout
    data = json.loads(out.read_text())["data"]
    # The first whole hour after 00:20, through the last hour that opens before 10:00: each from 12 5m bars.
    assert (data["first"], data["last"], data["bars"]) == (
        "2018-01-20T01:00:00+00:00",
        "2018-01-25T09:00:00+00:00",
        5 * 24 + 9,
    )


def test_with_nothing_cached_for_the_spec_the_message_names_it_and_how_to_fill_the_cache(tmp_path):
    home = cached_home(tmp_path)
    [five] = load_bars(ETHBTC).series
    bars = BarBatch("ETHBTC", "5m", five.ts, five.open, five.high, five.low, five.close, five.volume)
    home_cache(home, "spot").append(resample(bars, "1h"))

    result = invoke(SPECS / "sma_cross.yaml", "--home", home)

    assert result.exit_code == 2
    message = result.stderr
    assert f"the spot bar cache {home / 'cache' / 'spot'} has no ETHBTC 5m bars" in message
    assert "(it has ETHBTC 1h)" in message
    assert f"app data import FILE|DIR --market spot --home {home}" in message
    assert "app data download --feed bybit --category spot ETHBTC --timeframe 5m" in message
    assert not (home / "reports").exists()


def test_an_empty_cache_says_so(tmp_path):
    result = invoke(SPECS / "sma_cross.yaml", "--home", tmp_path / "home")

    assert result.exit_code == 2
    assert "(it is empty)" in result.stderr


def test_a_futures_spec_from_the_cache_takes_funding_from_the_option_only(tmp_path):
    home = cached_home(tmp_path, SHARED_DATA / "crypto_futures" / "XRPUSDT_1h.csv", market="linear")
    funding = SHARED_DATA / "crypto_futures" / "XRPUSDT_8h_funding.csv"

    without = invoke(SPECS / "ema_trend_short.yaml", "--home", home)
    with_funding = invoke(SPECS / "ema_trend_short.yaml", "--funding", funding, "--home", home)

    assert without.exit_code == 0, without.output
    assert "the bar cache keeps no funding rates" in without.stderr
    assert with_funding.exit_code == 0, with_funding.output
    assert "XRPUSDT_8h_funding.csv" in with_funding.stderr


def one_symbol_two_markets(tmp_path: Path) -> tuple[Path, Path]:
    """``BTCUSDT`` 5m files for spot and for the linear perpetual: the same times, different prices."""
    spot, linear = tmp_path / "spot" / "BTCUSDT.csv", tmp_path / "linear" / "BTCUSDT.csv"
    for path, source in ((spot, ETHBTC), (linear, SPOT_5M / "LTCBTC.csv")):
        path.parent.mkdir()
        path.write_bytes(source.read_bytes())
    return spot, linear


def btc_spec(tmp_path: Path, asset: str) -> Path:
    path = tmp_path / f"btc_{asset}.yaml"
    path.write_text(
        (SPECS / "sma_cross.yaml")
        .read_text()
        .replace("id: sma-cross-demo", f"id: btc-{asset}")
        .replace("asset: spot", f"asset: {asset}")
        .replace("symbol: ETHBTC", "symbol: BTCUSDT")
    )
    return path


def test_spot_and_linear_bars_of_one_symbol_stay_apart_and_each_spec_backtests_its_own_market(tmp_path):
    spot, linear = one_symbol_two_markets(tmp_path)
    home = tmp_path / "home"
    for market, source in (("spot", spot), ("linear", linear)):
        imported = CliRunner().invoke(data, ["import", str(source), "--market", market, "--home", str(home)])
        assert imported.exit_code == 0, imported.output

    reports = {}
    for asset, market, source in (("spot", "spot", spot), ("futures", "linear", linear)):
        spec = btc_spec(tmp_path, asset)
        from_file, from_cache = tmp_path / f"{asset}_file.json", tmp_path / f"{asset}_cache.json"
        invoke(spec, "--data", source, "--json", from_file, "--home", tmp_path / "other")
        result = invoke(spec, "--json", from_cache, "--home", home)

        assert result.exit_code == 0, result.output
        assert f"data: the bar cache {home / 'cache' / market / 'BTCUSDT' / '5m'}" in result.stdout
        file_report, cache_report = (json.loads(p.read_text()) for p in (from_file, from_cache))
        assert cache_report["data"] == file_report["data"]
        assert cache_report["trades"] == file_report["trades"]
        assert cache_report["metrics"] == file_report["metrics"]
        reports[asset] = cache_report
    assert reports["spot"]["trades"] != reports["futures"]["trades"]
    [eth], [ltc] = load_bars(ETHBTC).series, load_bars(SPOT_5M / "LTCBTC.csv").series
    assert list(home_cache(home, "spot").read("BTCUSDT", "5m").close) == list(eth.close)
    assert list(home_cache(home, "linear").read("BTCUSDT", "5m").close) == list(ltc.close)


def test_a_futures_spec_never_reads_spot_bars_and_the_refusal_says_which_market_to_fill(tmp_path):
    spot, _linear = one_symbol_two_markets(tmp_path)
    home = cached_home(tmp_path, spot)

    result = invoke(btc_spec(tmp_path, "futures"), "--home", home)

    assert result.exit_code == 2
    message = result.stderr
    assert f"the linear bar cache {home / 'cache' / 'linear'} has no BTCUSDT 5m bars" in message
    assert f"{home / 'cache' / 'spot'} has BTCUSDT 5m, but spot bars are another market's prices" in message
    assert f"app data import FILE|DIR --market linear --home {home}" in message
    assert "app data download --feed bybit --category linear BTCUSDT --timeframe 5m" in message
    assert not (home / "reports").exists()


def test_a_cache_of_the_layout_before_markets_is_moved_into_spot_and_backtested_from_there(tmp_path):
    home = tmp_path / "home"
    ParquetBarCache(home / "cache").import_file(ETHBTC)  # the old layout: <home>/cache/ETHBTC/5m

    result = invoke(SPECS / "sma_cross.yaml", "--home", home)

    assert result.exit_code == 0, result.output
    assert f"data: the bar cache {home / 'cache' / 'spot' / 'ETHBTC' / '5m'}" in result.stdout
    assert [p.name for p in (home / "cache").iterdir()] == ["spot"]


def test_a_forex_spec_backtests_the_forex_market_of_the_cache(tmp_path):
    eurusd = SHARED_DATA / "forex_1h" / "EURUSD.csv"
    home = cached_home(tmp_path, eurusd, market="forex")
    spec = spec_file(
        tmp_path,
        (SPECS / "sma_cross.yaml")
        .read_text()
        .replace("asset: spot", "asset: forex")
        .replace("symbol: ETHBTC", "symbol: EURUSD")
        .replace("timeframe: 5m", "timeframe: 1h"),
    )
    from_file, from_cache = tmp_path / "file.json", tmp_path / "cache.json"
    invoke(spec, "--data", eurusd, "--json", from_file, "--home", tmp_path / "other")

    result = invoke(spec, "--json", from_cache, "--home", home)

    assert result.exit_code == 0, result.output
    assert f"data: the bar cache {home / 'cache' / 'forex' / 'EURUSD' / '1h'}" in result.stdout
    file_report, cache_report = (json.loads(p.read_text()) for p in (from_file, from_cache))
    assert cache_report["trades"] == file_report["trades"]
    assert len(cache_report["trades"]) > 0
