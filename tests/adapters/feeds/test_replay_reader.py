"""load_bars: formats, structural errors that name file and place, and counted content repairs."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.adapters.feeds.replay import DataReport, load_bars
from app.ports.errors import DataError

DATA = Path("/work/shared/data")
HEADER = "timestamp,open,high,low,close,volume"
T0 = "2024-01-01T00:00:00Z"


def _write(folder: Path, name: str, *lines: str) -> Path:
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _bars(count: int, *, minutes: int = 5, start: float = 100.0) -> pd.DataFrame:
    ts = pd.date_range("2024-01-01", periods=count, freq=f"{minutes}min", tz="UTC")
    close = start + np.arange(count, dtype=np.float64)
    return pd.DataFrame(
        {
            "timestamp": ts,
            "open": close - 0.5,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "volume": 10.0,
        }
    )


def _only(path: Path) -> tuple[np.ndarray, DataReport]:
    (series,) = load_bars(path).series
    return series.close, series.report


# --- the shared real data ---------------------------------------------------------------------------------


def test_ethbtc_csv_reads_as_clean_5m_bars_named_after_the_file() -> None:
    (series,) = load_bars(DATA / "crypto_spot_5m" / "ETHBTC.csv").series

    assert (series.symbol, series.timeframe, len(series)) == ("ETHBTC", "5m", 5760)
    assert series.report.first_ts == datetime(2018, 1, 10, 4, 55, tzinfo=UTC)
    assert series.close[0] == pytest.approx(0.0994766)
    assert series.report.summary().endswith("clean")


def test_coinbase_hourly_file_keeps_its_stem_as_symbol_and_reads_1h() -> None:
    (series,) = load_bars(DATA / "crypto_spot_1h" / "BTCUSD_coinbase.csv").series

    assert (series.symbol, series.timeframe, len(series)) == ("BTCUSD_coinbase", "1h", 20111)


def test_trades_file_aggregates_into_the_same_1m_candles_as_the_exchange_file() -> None:
    (from_trades,) = load_bars(DATA / "trades" / "XRPETH_trades.csv").series
    (candles,) = load_bars(DATA / "crypto_spot_1m" / "XRPETH.csv").series

    assert (from_trades.symbol, from_trades.timeframe) == ("XRPETH", "1m")
    assert from_trades.report.rows_read == 12477
    np.testing.assert_array_equal(from_trades.ts, candles.ts)
    for field in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(getattr(from_trades, field), getattr(candles, field))
    np.testing.assert_allclose(from_trades.volume, candles.volume)


def test_missing_volumes_read_as_zero_and_are_counted() -> None:
    (series,) = load_bars(DATA / "crypto_futures" / "XRPUSDT_1h_mark.csv").series

    assert series.report.volume_filled == 100
    assert not series.volume.any()


def test_arrays_are_float64_and_read_only() -> None:
    (series,) = load_bars(DATA / "crypto_spot_5m" / "ETHBTC.csv").series

    assert series.close.dtype == np.float64
    with pytest.raises(ValueError, match="read-only"):
        series.close[0] = 1.0


# --- structural problems ----------------------------------------------------------------------------------


def test_bad_timestamp_names_the_file_the_line_and_the_text(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "X.csv",
        HEADER,
        f"{T0},1,2,0.5,1.5,3",
        "2024-01-01T00:05:00Z,1,2,0.5,1.5,3",
        "yesterday noon,1,2,0.5,1.5,3",
    )

    with pytest.raises(
        DataError, match=r"X\.csv: line 4: column 'timestamp': unparseable timestamp 'yesterday noon'"
    ):
        load_bars(path)


def test_bad_timestamp_line_counts_blank_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, "X.csv", HEADER, f"{T0},1,2,0.5,1.5,3", "", "2024-13-45,1,2,0.5,1.5,3")

    with pytest.raises(DataError, match=r"line 4: .*'2024-13-45'"):
        load_bars(path)


def test_bad_number_names_the_line_the_column_and_the_text(tmp_path: Path) -> None:
    path = _write(tmp_path, "X.csv", HEADER, f"{T0},1,2,0.5,1.5,3", "2024-01-01T00:05:00Z,1,2,oops,1.5,3")

    with pytest.raises(DataError, match=r"X\.csv: line 3: column 'low': not a number: 'oops'"):
        load_bars(path)


@pytest.mark.parametrize("line", [2, 3])
def test_a_row_with_more_fields_than_the_header_is_refused_by_line(tmp_path: Path, line: int) -> None:
    rows = [f"{T0},1,2,0.5,1.5,3", "2024-01-01T00:05:00Z,1,2,0.5,1.5,3"]
    rows[line - 2] += ",9"
    path = _write(tmp_path, "X.csv", HEADER, *rows)

    with pytest.raises(DataError, match=rf"X\.csv: line {line}: more fields than the header names"):
        load_bars(path)


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "X.csv", "timestamp,open,high,close,volume", f"{T0},1,2,1.5,3")

    with pytest.raises(DataError, match=r"X\.csv: missing column\(s\) low;"):
        load_bars(path)


def test_missing_time_column_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "X.csv", "open,high,low,close,volume", "1,2,0.5,1.5,3")

    with pytest.raises(DataError, match=r"missing column\(s\) timestamp \(or date, time, datetime\)"):
        load_bars(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv: no such file"):
        load_bars(tmp_path / "nope.csv")


def test_unknown_extension_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "X.txt", HEADER, f"{T0},1,2,0.5,1.5,3")

    with pytest.raises(DataError, match=r"X\.txt: unknown file type '\.txt'"):
        load_bars(path)


@pytest.mark.parametrize("content", ["", HEADER + "\n"], ids=["zero bytes", "header only"])
def test_empty_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "X.csv"
    path.write_text(content)

    with pytest.raises(DataError, match=r"X\.csv: empty file"):
        load_bars(path)


def test_a_single_bar_cannot_tell_its_timeframe(tmp_path: Path) -> None:
    path = _write(tmp_path, "X.csv", HEADER, f"{T0},1,2,0.5,1.5,3")

    with pytest.raises(DataError, match="cannot infer the timeframe from a single bar"):
        load_bars(path)


def test_a_file_with_no_usable_row_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "X.csv", HEADER, f"{T0},-1,2,0.5,1.5,3", "2024-01-01T00:05:00Z,,,,,")

    with pytest.raises(DataError, match="no usable rows"):
        load_bars(path)


def test_corrupt_parquet_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "X.parquet"
    path.write_bytes(b"not parquet at all")

    with pytest.raises(DataError, match=r"X\.parquet: not a readable Parquet file"):
        load_bars(path)


# --- formats ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("unit", "scale"), [("seconds", 1), ("milliseconds", 1000)])
def test_epoch_timestamps_read_like_iso_ones(tmp_path: Path, unit: str, scale: int) -> None:
    start = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * scale
    lines = [f"{start + i * 300 * scale},1,2,0.5,1.5,3" for i in range(3)]
    path = _write(tmp_path, f"{unit}.csv", HEADER, *lines)

    (series,) = load_bars(path).series

    assert series.timeframe == "5m"
    assert series.report.first_ts == datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("name", ["date", "time", "datetime", "Date"])
def test_other_time_column_names_are_accepted(tmp_path: Path, name: str) -> None:
    path = _write(
        tmp_path,
        "X.csv",
        f"{name},open,high,low,close,volume",
        f"{T0},1,2,0.5,1.5,3",
        "2024-01-01T01:00:00Z,1,2,0.5,1.5,3",
    )

    (series,) = load_bars(path).series

    assert series.timeframe == "1h"


@pytest.mark.parametrize("suffix", [".parquet", ".feather"])
def test_arrow_files_round_trip_to_the_same_bars_as_csv(tmp_path: Path, suffix: str) -> None:
    frame = _bars(50)
    frame.to_csv(tmp_path / "A.csv", index=False)
    if suffix == ".parquet":
        frame.to_parquet(tmp_path / f"A{suffix}")
    else:
        frame.to_feather(tmp_path / f"A{suffix}")

    (from_csv,) = load_bars(tmp_path / "A.csv").series
    (from_arrow,) = load_bars(tmp_path / f"A{suffix}").series

    np.testing.assert_array_equal(from_arrow.ts, from_csv.ts)
    np.testing.assert_array_equal(from_arrow.close, from_csv.close)
    assert from_arrow.timeframe == from_csv.timeframe == "5m"


def test_parquet_with_a_time_index_is_read(tmp_path: Path) -> None:
    _bars(10).set_index("timestamp").to_parquet(tmp_path / "I.parquet")

    (series,) = load_bars(tmp_path / "I.parquet").series

    assert len(series) == 10


def test_freqtrade_feather_name_gives_symbol_and_timeframe(tmp_path: Path) -> None:
    _bars(20, minutes=5).rename(columns={"timestamp": "date"}).to_feather(tmp_path / "ETH_BTC-5m.feather")

    (series,) = load_bars(tmp_path / "ETH_BTC-5m.feather").series

    assert (series.symbol, series.timeframe) == ("ETHBTC", "5m")


def test_freqtrade_timeframe_comes_from_the_name_not_the_spacing(tmp_path: Path) -> None:
    _bars(20, minutes=5).rename(columns={"timestamp": "date"}).to_feather(tmp_path / "ETH_BTC-1m.feather")

    (series,) = load_bars(tmp_path / "ETH_BTC-1m.feather").series

    assert series.timeframe == "1m"


def test_freqtrade_futures_file_drops_the_settle_currency(tmp_path: Path) -> None:
    _bars(5).to_feather(tmp_path / "BTC_USDT_USDT-1h-futures.feather")

    (series,) = load_bars(tmp_path / "BTC_USDT_USDT-1h-futures.feather").series

    assert (series.symbol, series.timeframe) == ("BTCUSDT", "1h")


def test_freqtrade_json_rows_of_milliseconds_are_read(tmp_path: Path) -> None:
    start = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
    rows = [[start + i * 300_000, 1.0, 2.0, 0.5, 1.5 + i, 3.0] for i in range(4)]
    (tmp_path / "ETH_BTC-5m.json").write_text(json.dumps(rows))

    (series,) = load_bars(tmp_path / "ETH_BTC-5m.json").series

    assert (series.symbol, series.timeframe, len(series)) == ("ETHBTC", "5m", 4)
    assert series.close.tolist() == [1.5, 2.5, 3.5, 4.5]
    assert series.report.first_ts == datetime(2024, 1, 1, tzinfo=UTC)


def test_freqtrade_json_with_a_short_row_names_the_row(tmp_path: Path) -> None:
    rows = [[1704067200000, 1, 2, 0.5, 1.5, 3], [1704067500000, 1, 2]]
    (tmp_path / "ETH_BTC-5m.json").write_text(json.dumps(rows))

    with pytest.raises(DataError, match=r"ETH_BTC-5m\.json: row 2: \[1704067500000, 1, 2\]"):
        load_bars(tmp_path / "ETH_BTC-5m.json")


def test_symbol_column_splits_one_file_into_several_series(tmp_path: Path) -> None:
    both = pd.concat([_bars(6).assign(symbol="BBB"), _bars(4, minutes=60).assign(symbol="AAA")])
    both.to_csv(tmp_path / "mixed.csv", index=False)

    result = load_bars(tmp_path / "mixed.csv")

    assert [(s.symbol, s.timeframe, len(s)) for s in result.series] == [("AAA", "1h", 4), ("BBB", "5m", 6)]
    assert [r.symbol for r in result.reports] == ["AAA", "BBB"]


# --- content repairs ----------------------------------------------------------------------------------------


def test_nan_price_rows_are_dropped_and_counted(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "X.csv",
        HEADER,
        f"{T0},1,2,0.5,1.5,3",
        "2024-01-01T00:05:00Z,1,NaN,0.5,1.5,3",
        "2024-01-01T00:10:00Z,1,2,0.5,1.7,3",
        "2024-01-01T00:15:00Z,1,2,0.5,1.8,3",
    )

    closes, report = _only(path)

    assert closes.tolist() == [1.5, 1.7, 1.8]
    assert (report.rows_read, report.nan_dropped, report.gaps) == (4, 1, 1)


def test_non_positive_prices_and_negative_volumes_are_dropped_and_counted(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "X.csv",
        HEADER,
        f"{T0},1,2,0.5,1.5,3",
        "2024-01-01T00:05:00Z,0,2,0.5,1.5,3",
        "2024-01-01T00:10:00Z,1,2,0.5,1.5,-3",
        "2024-01-01T00:15:00Z,1,2,0.5,1.8,0",
    )

    closes, report = _only(path)

    assert closes.tolist() == [1.5, 1.8]
    assert report.nonpositive_dropped == 2


def test_duplicates_keep_the_last_row(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "X.csv",
        HEADER,
        f"{T0},1,2,0.5,1.5,3",
        "2024-01-01T00:05:00Z,1,2,0.5,1.6,3",
        "2024-01-01T00:05:00Z,1,2,0.5,1.9,3",
    )

    closes, report = _only(path)

    assert closes.tolist() == [1.5, 1.9]
    assert report.duplicates_dropped == 1


def test_out_of_order_rows_are_sorted_and_counted(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "X.csv",
        HEADER,
        "2024-01-01T00:10:00Z,1,2,0.5,1.3,3",
        f"{T0},1,2,0.5,1.1,3",
        "2024-01-01T00:05:00Z,1,2,0.5,1.2,3",
    )

    closes, report = _only(path)

    assert closes.tolist() == [1.1, 1.2, 1.3]
    assert report.out_of_order_fixed == 2


def test_high_below_low_is_widened_to_contain_every_price(tmp_path: Path) -> None:
    path = _write(tmp_path, "X.csv", HEADER, f"{T0},1.5,1.0,2.0,1.2,3", "2024-01-01T00:05:00Z,1,2,0.5,2.5,3")

    (series,) = load_bars(path).series

    assert (series.high.tolist(), series.low.tolist()) == ([2.0, 2.5], [1.0, 0.5])
    assert series.report.high_low_fixed == 2


def test_gaps_are_counted_in_missing_bars_not_filled(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "X.csv",
        HEADER,
        f"{T0},1,2,0.5,1.5,3",
        "2024-01-01T00:05:00Z,1,2,0.5,1.5,3",
        "2024-01-01T00:25:00Z,1,2,0.5,1.5,3",
    )

    closes, report = _only(path)

    assert (len(closes), report.gaps) == (3, 3)


def test_summary_names_each_repair(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "X.csv",
        HEADER,
        f"{T0},1,2,0.5,1.5,3",
        f"{T0},1,2,0.5,1.5,3",
        "2024-01-01T00:05:00Z,1,2,0.5,nan,3",
        "2024-01-01T00:10:00Z,1,2,0.5,1.5,3",
        "2024-01-01T00:15:00Z,1,2,0.5,1.5,3",
    )

    _, report = _only(path)

    assert report.summary() == (
        "X: 5 rows read, 2024-01-01T00:00:00+00:00 .. 2024-01-01T00:15:00+00:00: "
        "1 duplicates dropped, 1 NaN dropped, 1 gaps (missing bars)"
    )


_prices = st.one_of(st.floats(0.01, 1000), st.just(math.nan), st.just(-1.0), st.just(0.0))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 40), _prices, _prices, _prices, _prices, st.floats(0, 1e6)),
        min_size=1,
        max_size=60,
    )
)
def test_every_row_is_kept_or_counted_and_the_result_is_ordered_and_consistent(
    tmp_path: Path, rows: list[tuple[int, float, float, float, float, float]]
) -> None:
    anchors = [(100, 1.0, 2.0, 0.5, 1.5, 1.0), (101, 1.0, 2.0, 0.5, 1.5, 1.0)]  # always something usable
    lines = [f"{1_704_067_200 + 60 * t},{o},{h},{lo},{c},{v}" for t, o, h, lo, c, v in rows + anchors]
    path = _write(tmp_path, "P.csv", HEADER, *lines)

    (series,) = load_bars(path).series

    report = series.report
    dropped = report.nan_dropped + report.nonpositive_dropped + report.duplicates_dropped
    assert report.rows_read == len(lines) == len(series) + dropped
    assert (np.diff(series.ts) > 0).all()
    assert (series.low <= np.minimum(series.open, series.close)).all()
    assert (series.high >= np.maximum(series.open, series.close)).all()
    assert (series.low > 0).all()
