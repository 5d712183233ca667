"""Read one market-data file into clean per-symbol float64 bar arrays and a report of every repair.

Formats: CSV (``timestamp,open,high,low,close,volume``), Parquet and Feather (pyarrow), freqtrade's layout
(``ETH_BTC-5m.feather`` / ``.json``, the json a list of ``[ms, open, high, low, close, volume]``), and trades
files (``timestamp,id,side,price,amount``) aggregated into 1m candles. The time column may be called
``timestamp``, ``date``, ``time`` or ``datetime``: ISO-8601 text (naive means UTC) or epoch seconds,
milliseconds, microseconds or nanoseconds (the unit read from the magnitude). The symbol is the file's stem
(``ETH_BTC-5m`` -> ``ETHBTC``, ``XRPUSDT_5m`` -> ``XRPUSDT``; a trades file drops its ``_trades`` or
``-trades`` suffix) unless a ``symbol`` column names one per row; the timeframe is freqtrade's from the name,
else the most common bar spacing.

Structural problems raise ``DataError`` naming the file, the place (``line N`` in a CSV counting the header as
line 1, ``row N`` elsewhere, the column) and the reason. Content problems are repaired or dropped, per symbol,
in this order, and counted in a ``DataReport``:

1. A NaN or infinite open, high, low or close (a trade's price), or an infinite volume, drops the row
   (``nan_dropped``). A missing volume (a trade's amount) is read as 0 (``volume_filled``): mark-price and
   index files carry none.
2. A price <= 0 or a negative volume drops the row (``nonpositive_dropped``): no market trades there.
3. Rows sharing a timestamp (a trade id for trades) keep the last one in the file (``duplicates_dropped``):
   a later row is a correction.
4. Rows are stably sorted by time; ``out_of_order_fixed`` counts the rows found earlier than a row above them.
5. high < low, or open/close outside [low, high]: high becomes max(open, high, low, close) and low
   min(open, high, low, close) (``high_low_fixed``): the bar then contains every price it reports.
6. Missing bar intervals are counted (``gaps``), never filled: an invented bar would be silently wrong.

Trades are cleaned by rules 1-4, then bucketed by UTC minute: open/close are the first/last trade price,
high/low the extremes, volume the summed amount.
"""

from __future__ import annotations

import csv
import json
import re
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, final

import attrs
import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from app.domain.timeframes import format_timeframe, parse_timeframe
from app.ports.errors import DataError

__all__ = [
    "SUPPORTED_SUFFIXES",
    "BarSeries",
    "DataReport",
    "LoadResult",
    "folder_data_files",
    "load_bars",
    "not_traded_prices",
]

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

SUPPORTED_SUFFIXES: Final = (".csv", ".feather", ".json", ".parquet", ".pq")
_TIME_COLUMNS: Final = ("timestamp", "date", "time", "datetime")
_BAR_COLUMNS: Final = ("open", "high", "low", "close", "volume")
_TRADE_COLUMNS: Final = ("price", "amount")
_FREQTRADE_NAME: Final = re.compile(
    r"^(?P<pair>[A-Za-z0-9]+(?:_[A-Za-z0-9]+)+)-(?P<tf>\d+[smhdw])(?:-[A-Za-z_]+)?$"
)
# ``XRPUSDT_5m.csv``: a symbol and the bar size, as many downloads name their files.
_SYMBOL_TIMEFRAME_NAME: Final = re.compile(r"^(?P<symbol>[A-Za-z0-9]+)[_-](?P<tf>\d+[smhdw])$")
# Files beside a symbol's bars that are not its traded prices: ``XRPUSDT_8h_funding.csv`` (funding rates,
# read by the funding loader), ``XRPUSDT_1h_mark.csv`` (mark prices), an index price series.
_NOT_TRADED_TAGS: Final = frozenset({"funding", "mark", "index"})
_MINUTE_NS: Final = 60 * 10**9
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def not_traded_prices(path: Path) -> str | None:
    """What the file holds when its name tags it as something other than the symbol's traded prices
    (``funding``, ``mark``, ``index`` after the symbol: ``XRPUSDT_8h_funding.csv``), else None."""
    tags = re.split(r"[_-]", path.stem.lower())[1:]
    return next((tag for tag in tags if tag in _NOT_TRADED_TAGS), None)


def folder_data_files(folder: Path) -> tuple[list[Path], tuple[str, ...]]:
    """The data files directly inside ``folder``, in name order (dotfiles aside), but for those whose names
    tag them as no traded prices (``not_traded_prices``): those are the second part, each with why.

    Raises:
        DataError: the folder holds no data file of prices.
    """
    found = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES and not p.name.startswith(".")
    )
    tags = {p: not_traded_prices(p) for p in found}
    prices = [p for p, tag in tags.items() if tag is None]
    if not prices:
        msg = f"{folder}: no data files (expected {', '.join(SUPPORTED_SUFFIXES)} files of bars or trades)"
        raise DataError(msg)
    return prices, tuple(f"{p.name} ({tag} data, not traded prices)" for p, tag in tags.items() if tag)


@final
@attrs.frozen
class DataReport:
    """What one file's rows for one symbol needed (rules in the module docstring)."""

    symbol: str
    rows_read: int
    duplicates_dropped: int
    out_of_order_fixed: int
    nan_dropped: int
    nonpositive_dropped: int
    high_low_fixed: int
    gaps: int
    first_ts: datetime
    last_ts: datetime
    volume_filled: int = 0

    def summary(self) -> str:
        """One line: the symbol, its span and every non-zero repair count."""
        counts = {
            "duplicates dropped": self.duplicates_dropped,
            "out-of-order fixed": self.out_of_order_fixed,
            "NaN dropped": self.nan_dropped,
            "non-positive dropped": self.nonpositive_dropped,
            "high/low fixed": self.high_low_fixed,
            "volumes missing (read as 0)": self.volume_filled,
            "gaps (missing bars)": self.gaps,
        }
        repairs = ", ".join(f"{n} {label}" for label, n in counts.items() if n) or "clean"
        span = f"{self.first_ts.isoformat()} .. {self.last_ts.isoformat()}"
        return f"{self.symbol}: {self.rows_read} rows read, {span}: {repairs}"


@final
@attrs.frozen(eq=False)
class BarSeries:
    """One symbol's clean bars as read-only arrays; ``ts`` is the bar open time in ns since the epoch (UTC),
    strictly increasing."""

    symbol: str
    timeframe: str
    ts: Ints
    open: Floats
    high: Floats
    low: Floats
    close: Floats
    volume: Floats
    report: DataReport

    def __len__(self) -> int:
        return len(self.ts)


@final
@attrs.frozen(eq=False)
class LoadResult:
    """Everything one file held: a series per symbol (sorted by symbol) and their reports."""

    path: Path
    series: tuple[BarSeries, ...]

    @property
    def reports(self) -> tuple[DataReport, ...]:
        return tuple(s.report for s in self.series)


@attrs.define
class _Table:
    path: Path
    frame: pd.DataFrame
    is_csv: bool
    time_column: str = ""

    def place(self, label: int) -> str:
        return f"line {label + 2}" if self.is_csv else f"row {label + 1}"

    def fail(self, label: int, column: str, reason: str) -> DataError:
        msg = f"{self.path}: {self.place(label)}: column {column!r}: {reason}"
        return DataError(msg)


def load_bars(path: Path) -> LoadResult:
    """Read one file into clean per-symbol bars and reports.

    Raises:
        DataError: missing file, unknown extension, empty file, missing required columns, or an
            unparseable timestamp or number; the message names the file, the place and the reason.
    """
    path = Path(path)
    table = _read_table(path)
    is_trades = _check_columns(table)
    default_symbol, timeframe = _name_parts(path.stem, is_trades=is_trades)
    ts = _parse_times(table)
    columns = _TRADE_COLUMNS if is_trades else _BAR_COLUMNS
    values = [_parse_floats(table, c) for c in columns]
    ids = table.frame["id"].to_numpy() if is_trades and "id" in table.frame.columns else None
    series = []
    for symbol, mask in _split_symbols(table, default_symbol):
        rows = slice(None) if mask is None else mask
        picked = [v[rows] for v in values]
        if is_trades:
            sub_ids = None if ids is None else ids[rows]
            series.append(_trades_to_bars(path, symbol, ts[rows], picked, sub_ids))
        else:
            series.append(_clean_bars(path, symbol, ts[rows], picked, timeframe))
    return LoadResult(path=path, series=tuple(series))


def _name_parts(stem: str, *, is_trades: bool) -> tuple[str, str | None]:
    """The symbol a file's stem gives and, for freqtrade's ``PAIR-TIMEFRAME`` names, the timeframe."""
    if is_trades:
        if stem.lower().endswith("-trades"):  # freqtrade's ETH_BTC-trades.feather
            return _freqtrade_symbol(stem[: -len("-trades")]), None
        return (stem[: -len("_trades")] if stem.lower().endswith("_trades") else stem) or stem, None
    name = _FREQTRADE_NAME.match(stem)
    if name:
        return _freqtrade_symbol(name["pair"]), name["tf"]
    plain = _SYMBOL_TIMEFRAME_NAME.match(stem)
    # Only the symbol is taken from such a name: the bars' own spacing says their timeframe.
    return (plain["symbol"], None) if plain else (stem, None)


def _freqtrade_symbol(pair: str) -> str:
    parts = pair.upper().split("_")
    if len(parts) == 3 and parts[2] == parts[1]:
        parts = parts[:2]  # futures "BTC_USDT_USDT" (settled in the quote) is Bybit's BTCUSDT
    return "".join(parts)


def _read_table(path: Path) -> _Table:
    if not path.is_file():
        msg = f"{path}: no such file"
        raise DataError(msg)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        known = ", ".join(SUPPORTED_SUFFIXES)
        msg = f"{path}: unknown file type {suffix or '(none)'!r}: expected one of {known}"
        raise DataError(msg)
    if path.stat().st_size == 0:
        msg = f"{path}: empty file"
        raise DataError(msg)
    if suffix == ".csv":
        frame = _read_csv(path)
    elif suffix == ".json":
        frame = _read_freqtrade_json(path)
    else:
        frame = _read_arrow(path, "Feather" if suffix == ".feather" else "Parquet")
    frame = _normalise_columns(frame)
    if suffix == ".csv":
        frame = frame.dropna(how="all")  # blank lines carry nothing
    if frame.empty:
        msg = f"{path}: empty file: no data rows"
        raise DataError(msg)
    return _Table(path=path, frame=frame, is_csv=suffix == ".csv")


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():
            # pandas only warns when a row has more fields than the header, then drops them: refuse.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            # skip_blank_lines=False keeps row labels aligned with line numbers; index_col=False stops
            # pandas from taking the first column as the index when rows have one field too many.
            return pd.read_csv(path, skip_blank_lines=False, low_memory=False, index_col=False)
    except pd.errors.EmptyDataError:
        msg = f"{path}: empty file"
        raise DataError(msg) from None
    except pd.errors.ParserWarning:
        msg = f"{path}: {_first_long_line(path)}: more fields than the header names"
        raise DataError(msg) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        too_long = re.search(r"Expected \d+ fields in line (\d+)", str(e))
        reason = "more fields than the header names" if too_long else f"not a readable CSV file: {e}"
        msg = f"{path}: line {too_long[1]}: {reason}" if too_long else f"{path}: {reason}"
        raise DataError(msg) from e


def _first_long_line(path: Path) -> str:
    # Only runs once a file is known to be bad, to name the place.
    with path.open(newline="", encoding="utf-8", errors="replace") as lines:
        rows = csv.reader(lines)
        width = len(next(rows))
        for row in rows:
            if len(row) > width:
                return f"line {rows.line_num}"
    return "a line"


def _read_arrow(path: Path, kind: str) -> pd.DataFrame:
    try:
        return pd.read_feather(path) if kind == "Feather" else pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as e:
        msg = f"{path}: not a readable {kind} file: {e}"
        raise DataError(msg) from e


def _read_freqtrade_json(path: Path) -> pd.DataFrame:
    expected = "expected a list of [timestamp, open, high, low, close, volume] rows (freqtrade)"
    try:
        rows = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        msg = f"{path}: not valid JSON: {e}"
        raise DataError(msg) from e
    if not isinstance(rows, list):
        msg = f"{path}: {expected}"
        raise DataError(msg)
    try:
        array = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        array = np.empty((0, 0))
    if array.ndim != 2 or array.shape[1] != len(_BAR_COLUMNS) + 1:
        msg = f"{path}: {_first_bad_json_row(rows)}: {expected}"
        raise DataError(msg)
    return pd.DataFrame(array, columns=["timestamp", *_BAR_COLUMNS])


def _first_bad_json_row(rows: list[object]) -> str:
    # Only runs once a file is known to be bad, to name the place.
    width = len(_BAR_COLUMNS) + 1
    for i, row in enumerate(rows):
        if (
            not isinstance(row, list)
            or len(row) != width
            or not all(v is None or isinstance(v, int | float) for v in row)
        ):
            return f"row {i + 1}: {json.dumps(row)[:80]}"
    return "row 1"


def _normalise_columns(frame: pd.DataFrame) -> pd.DataFrame:
    frame.columns = pd.Index([str(c).strip().lower() for c in frame.columns])
    has_time = any(c in frame.columns for c in _TIME_COLUMNS)
    if not has_time and (
        isinstance(frame.index, pd.DatetimeIndex) or str(frame.index.name).lower() in _TIME_COLUMNS
    ):
        frame = frame.reset_index()  # Parquet written from a time-indexed DataFrame
        frame.columns = pd.Index([str(c).strip().lower() for c in frame.columns])
    return frame


def _check_columns(table: _Table) -> bool:
    """Names the time column; True for a trades file. Raises when a required column is missing."""
    columns = list(table.frame.columns)
    is_trades = not any(c in columns for c in _BAR_COLUMNS[:4]) and any(c in columns for c in _TRADE_COLUMNS)
    required = _TRADE_COLUMNS if is_trades else _BAR_COLUMNS
    missing = [c for c in required if c not in columns]
    table.time_column = next((c for c in _TIME_COLUMNS if c in columns), "")
    if not table.time_column:
        missing.insert(0, "timestamp (or date, time, datetime)")
    if missing:
        msg = (
            f"{table.path}: missing column(s) {', '.join(missing)}; found {', '.join(columns)}; expected "
            "timestamp,open,high,low,close,volume (bars) or timestamp,price,amount (trades)"
        )
        raise DataError(msg)
    return is_trades


def _parse_times(table: _Table) -> Ints:
    name = table.time_column
    column = table.frame[name]
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return _epoch_ns(table, column)
    if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(column):
        parsed = pd.to_datetime(column, utc=True)
    else:
        parsed = pd.to_datetime(column, utc=True, format="ISO8601", errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        label = int(column.index[int(bad.argmax())])
        text = column.loc[label]
        reason = "missing timestamp" if pd.isna(text) else f"unparseable timestamp {str(text)!r}"
        raise table.fail(label, name, reason)
    try:
        return pd.DatetimeIndex(parsed).as_unit("ns").asi8.copy()
    except (OverflowError, pd.errors.OutOfBoundsDatetime) as e:
        msg = f"{table.path}: column {name!r}: timestamps outside the years 1677-2262: {e}"
        raise DataError(msg) from e


def _epoch_ns(table: _Table, column: pd.Series) -> Ints:
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(values)
    if missing.any():
        raise table.fail(int(column.index[int(missing.argmax())]), table.time_column, "missing timestamp")
    factor = _epoch_factor(float(np.abs(values).max()))
    if pd.api.types.is_integer_dtype(column):
        return column.to_numpy(dtype=np.int64) * np.int64(factor)  # exact: floats lose ns precision
    return np.round(values * factor).astype(np.int64)


def _epoch_factor(biggest: float) -> int:
    """Nanoseconds per unit: seconds until the year 5138, then milliseconds, microseconds, nanoseconds."""
    for limit, factor in ((1e11, 10**9), (1e14, 10**6), (1e17, 10**3)):
        if biggest < limit:
            return factor
    return 1


def _parse_floats(table: _Table, name: str) -> Floats:
    column = table.frame[name]
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    numbers = pd.to_numeric(column, errors="coerce")
    bad = (numbers.isna() & column.notna()).to_numpy()
    if bad.any():
        label = int(column.index[int(bad.argmax())])
        raise table.fail(label, name, f"not a number: {str(column.loc[label])!r}")
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def _split_symbols(table: _Table, default: str) -> list[tuple[str, NDArray[np.bool_] | None]]:
    if "symbol" not in table.frame.columns:
        return [(default, None)]
    column = table.frame["symbol"]
    text = column.astype(str).str.strip()
    empty = (column.isna() | (text == "")).to_numpy()
    if empty.any():
        raise table.fail(int(column.index[int(empty.argmax())]), "symbol", "empty symbol")
    codes, names = pd.factorize(text)
    return sorted(((str(n), codes == i) for i, n in enumerate(names)), key=lambda pair: pair[0])


def _drop_bad_rows(
    ts: Ints, prices: list[Floats], volume: Floats, keys: NDArray[np.generic]
) -> tuple[Ints, list[Floats], Floats, dict[str, int]]:
    """Rules 1-4; ``volume`` is the amount for trades. Gathers each column once, with a single index."""
    finite = np.logical_and.reduce([np.isfinite(p) for p in prices]) & ~np.isinf(volume)
    positive = np.logical_and.reduce([p > 0 for p in prices]) & ~(volume < 0)
    rows = np.flatnonzero(finite & positive)
    duplicate = _duplicated(keys[rows])
    rows = rows[~duplicate]
    kept = ts[rows]
    late = kept[1:] < np.maximum.accumulate(kept)[:-1]
    if late.any():
        rows = rows[np.argsort(kept, kind="stable")]
    volume = volume[rows]
    missing_volume = np.isnan(volume)
    counts = {
        "nan_dropped": int((~finite).sum()),
        "nonpositive_dropped": int((finite & ~positive).sum()),
        "duplicates_dropped": int(duplicate.sum()),
        "out_of_order_fixed": int(late.sum()),
        "volume_filled": int(missing_volume.sum()),
    }
    return ts[rows], [p[rows] for p in prices], np.where(missing_volume, 0.0, volume), counts


def _duplicated(keys: NDArray[np.generic]) -> NDArray[np.bool_]:
    """Marks all but the last of equal keys (file order)."""
    if keys.dtype.kind in "iuf" and bool((np.diff(keys) > 0).all()):
        return np.zeros(len(keys), dtype=np.bool_)  # the usual case, without hashing every key
    return pd.Series(keys).duplicated(keep="last").to_numpy()


def _clean_bars(path: Path, symbol: str, ts: Ints, columns: list[Floats], timeframe: str | None) -> BarSeries:
    rows_read = len(ts)
    ts, (o, h, lo, c), volume, counts = _drop_bad_rows(ts, columns[:4], columns[4], ts)
    _require_rows(path, symbol, rows_read, len(ts))
    top = np.maximum(np.maximum(o, c), np.maximum(h, lo))
    bottom = np.minimum(np.minimum(o, c), np.minimum(h, lo))
    fixed = int(((top != h) | (bottom != lo)).sum())
    return _series(path, symbol, timeframe, ts, (o, top, bottom, c, volume), rows_read, counts, fixed)


def _trades_to_bars(
    path: Path, symbol: str, ts: Ints, columns: list[Floats], ids: NDArray[np.generic] | None
) -> BarSeries:
    rows_read = len(ts)
    keys = np.arange(rows_read) if ids is None else ids  # without ids, equal trades are legitimate
    ts, (price,), amount, counts = _drop_bad_rows(ts, columns[:1], columns[1], keys)
    _require_rows(path, symbol, rows_read, len(ts))
    minute = ts - ts % _MINUTE_NS
    starts = np.flatnonzero(np.r_[True, minute[1:] != minute[:-1]])
    ends = np.r_[starts[1:], len(ts)] - 1
    ohlcv = (
        price[starts],
        np.maximum.reduceat(price, starts),
        np.minimum.reduceat(price, starts),
        price[ends],
        np.add.reduceat(amount, starts),
    )
    return _series(path, symbol, "1m", minute[starts], ohlcv, rows_read, counts, 0)


def _require_rows(path: Path, symbol: str, rows_read: int, rows_left: int) -> None:
    if rows_left == 0:
        msg = f"{path}: symbol {symbol}: no usable rows: all {rows_read} rows were NaN, non-positive or empty"
        raise DataError(msg)


def _series(
    path: Path,
    symbol: str,
    timeframe: str | None,
    ts: Ints,
    ohlcv: tuple[Floats, ...],
    rows_read: int,
    counts: dict[str, int],
    high_low_fixed: int,
) -> BarSeries:
    steps = np.diff(ts)
    timeframe = timeframe or _infer_timeframe(path, symbol, steps)
    step = int(parse_timeframe(timeframe).total_seconds()) * 10**9
    gaps = int((steps[steps > step] // step - 1).sum())
    arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in ohlcv]
    ts = np.ascontiguousarray(ts, dtype=np.int64)
    for array in (ts, *arrays):
        array.flags.writeable = False
    report = DataReport(
        symbol=symbol,
        rows_read=rows_read,
        high_low_fixed=high_low_fixed,
        gaps=gaps,
        first_ts=_EPOCH + timedelta(microseconds=int(ts[0]) // 1000),
        last_ts=_EPOCH + timedelta(microseconds=int(ts[-1]) // 1000),
        **counts,
    )
    o, h, lo, c, v = arrays
    return BarSeries(symbol, timeframe, ts, o, h, lo, c, v, report=report)


def _infer_timeframe(path: Path, symbol: str, steps: Ints) -> str:
    if len(steps) == 0:
        msg = f"{path}: symbol {symbol}: cannot infer the timeframe from a single bar"
        raise DataError(msg)
    values, counts = np.unique(steps, return_counts=True)
    spacing = int(values[int(counts.argmax())])
    try:
        return format_timeframe(timedelta(microseconds=spacing / 1000))
    except ValueError as e:
        msg = f"{path}: symbol {symbol}: bar spacing of {spacing} ns is not a timeframe: {e}"
        raise DataError(msg) from e
