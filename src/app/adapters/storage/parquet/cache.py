"""ParquetBarCache: the BarStore port on Parquet files, appended as data arrives.

Layout: ``<root>/<SYMBOL>/<timeframe>/<first_ns>-<last_ns>-<rows>.parquet``. A series is a run of part
files whose time ranges do not overlap; the name says what a part holds, so listing needs no file reads.
Each part has the columns ``timestamp`` (ns, UTC), ``open``, ``high``, ``low``, ``close``, ``volume``: the
replay reader (and pandas, and freqtrade users) can read a part as it is.

- Appending bars later than everything stored writes one new part: nothing is rewritten.
- Appending bars at or before the stored end (a correction, an import over cached data) rewrites only the
  parts from that time on, merged, the new bars winning on equal times.
- When a series has more than ``max_parts`` parts, runs of neighbouring parts are merged into parts of up
  to ``compact_rows`` bars, so a long live run does not leave thousands of small files.
- Every file is written under a dot-name and renamed into place. Should a merge be cut short (a crash
  between writing the merged part and deleting the old ones), the next access finds parts that overlap
  and merges them again, the newest file winning.

Reads go one row group at a time (``iter_batches``), so replaying a series of any length holds one
batch in memory.
"""

from __future__ import annotations

import itertools
import os
import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Final, final

import attrs
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from app.adapters.feeds.replay.reader import DataReport, load_bars
from app.domain.resample import BarBatch, datetime_to_ns, ns_to_datetime, timeframe_ns
from app.ports.bar_store import DEFAULT_CHUNK, CacheEntry, RepairReport
from app.ports.errors import DataError, StorageError

__all__ = ["ParquetBarCache"]

_PART: Final = re.compile(r"^(\d+)-(\d+)-(\d+)\.parquet$")
_SAFE_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_TIME: Final = pa.timestamp("ns", tz="UTC")
_PRICES: Final = ("open", "high", "low", "close", "volume")
_SCHEMA: Final = pa.schema([("timestamp", _TIME), *((name, pa.float64()) for name in _PRICES)])


@attrs.frozen
class _Part:
    path: Path
    first: int
    last: int
    rows: int


@final
class ParquetBarCache:
    """Bars on disk under ``root`` (usually ``<home>/cache``).

    Args:
        root: the cache folder (created on the first write).
        row_group_size: bars per Parquet row group: the unit a read holds in memory (default 131072).
        max_parts: parts a series may have before neighbouring ones are merged (default 32).
        compact_rows: the largest part the merge builds, in bars (default 1048576).
    """

    def __init__(
        self,
        root: Path,
        *,
        row_group_size: int = 131_072,
        max_parts: int = 32,
        compact_rows: int = 1_048_576,
    ) -> None:
        self.root = Path(root)
        self._row_group_size = row_group_size
        self._max_parts = max_parts
        self._compact_rows = compact_rows

    def append(self, batch: BarBatch) -> None:
        """Store ``batch``; bars at times already stored are replaced (the later write wins)."""
        if len(batch) == 0:
            return
        if len(batch) > 1 and not bool((np.diff(batch.ts) > 0).all()):
            msg = f"cache {batch.symbol} {batch.timeframe}: bar times must be strictly increasing"
            raise DataError(msg)
        folder = self._folder(batch.symbol, batch.timeframe)
        parts = self._parts(folder, batch.symbol, batch.timeframe)
        if not parts or int(batch.ts[0]) > parts[-1].last:
            self._write(folder, batch)
            parts = self._parts(folder, batch.symbol, batch.timeframe)
        else:
            touched = [p for p in parts if p.last >= int(batch.ts[0])]
            stored = self._load(touched, batch.symbol, batch.timeframe)
            self._replace(folder, touched, _merge([stored, batch]))
            parts = self._parts(folder, batch.symbol, batch.timeframe)
        if len(parts) > self._max_parts:
            self._compact(folder, parts, batch.symbol, batch.timeframe)

    def read(
        self, symbol: str, timeframe: str, *, start: datetime | None = None, end: datetime | None = None
    ) -> BarBatch:
        """Bars with ``start <= ts < end``; empty when nothing is cached."""
        batches = list(self.iter_batches(symbol, timeframe, start=start, end=end))
        return BarBatch.concat(symbol, timeframe, batches)

    def iter_batches(
        self,
        symbol: str,
        timeframe: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        chunk: int = DEFAULT_CHUNK,
    ) -> Iterator[BarBatch]:
        """Bars with ``start <= ts < end`` in batches of at most ``chunk``, oldest first."""
        lo = datetime_to_ns(start) if start is not None else None
        hi = datetime_to_ns(end) if end is not None else None
        folder = self._folder(symbol, timeframe)
        for part in self._parts(folder, symbol, timeframe):
            if (lo is not None and part.last < lo) or (hi is not None and part.first >= hi):
                continue
            for record in self._open(part).iter_batches(batch_size=chunk, columns=list(_SCHEMA.names)):
                batch = _to_batch(symbol, timeframe, record)
                if lo is not None or hi is not None:
                    first = 0 if lo is None else int(np.searchsorted(batch.ts, lo, side="left"))
                    stop = len(batch) if hi is None else int(np.searchsorted(batch.ts, hi, side="left"))
                    batch = batch.slice(first, stop)
                if len(batch):
                    yield batch

    def tail(self, symbol: str, timeframe: str, count: int) -> BarBatch:
        """The last ``count`` bars, reading only the row groups that hold them."""
        pieces: list[BarBatch] = []
        needed = count
        for part in reversed(self._parts(self._folder(symbol, timeframe), symbol, timeframe)):
            if needed <= 0:
                break
            file = self._open(part)
            groups: list[int] = []
            for index in reversed(range(file.metadata.num_row_groups)):
                if needed <= 0:
                    break
                groups.insert(0, index)
                needed -= file.metadata.row_group(index).num_rows
            table = file.read_row_groups(groups, columns=list(_SCHEMA.names))
            pieces.insert(0, _to_batch(symbol, timeframe, table))
        return BarBatch.concat(symbol, timeframe, pieces).tail(count)

    def entries(self) -> list[CacheEntry]:
        """Every cached series, sorted by symbol then timeframe."""
        found = []
        if not self.root.is_dir():
            return []
        for symbol_dir in sorted(p for p in self.root.iterdir() if p.is_dir() and _SAFE_NAME.match(p.name)):
            for frame_dir in sorted(p for p in symbol_dir.iterdir() if p.is_dir()):
                parts = self._parts(frame_dir, symbol_dir.name, frame_dir.name)
                if parts:
                    found.append(
                        CacheEntry(
                            symbol=symbol_dir.name,
                            timeframe=frame_dir.name,
                            rows=sum(p.rows for p in parts),
                            first_ts=ns_to_datetime(parts[0].first),
                            last_ts=ns_to_datetime(parts[-1].last),
                        )
                    )
        return found

    def import_file(self, path: Path) -> list[RepairReport]:
        """Read ``path`` with the replay reader (its repair rules), store every symbol, report each."""
        reports = []
        for series in load_bars(path).series:
            ohlcv = (series.open, series.high, series.low, series.close, series.volume)
            self.append(BarBatch(series.symbol, series.timeframe, series.ts, *ohlcv))
            reports.append(_report(series.report, series.timeframe, len(series)))
        return reports

    # -- files ---------------------------------------------------------------------------------------------
    def _folder(self, symbol: str, timeframe: str) -> Path:
        if not _SAFE_NAME.match(symbol):
            msg = f"cannot cache symbol {symbol!r}: use letters, digits, '.', '_' or '-' (at most 64)"
            raise DataError(msg)
        try:
            timeframe_ns(timeframe)
        except ValueError as e:
            raise DataError(str(e)) from e
        return self.root / symbol / timeframe

    def _parts(self, folder: Path, symbol: str, timeframe: str) -> list[_Part]:
        if not folder.is_dir():
            return []
        parts = []
        for path in folder.iterdir():
            match = _PART.match(path.name)
            if match:
                parts.append(_Part(path, int(match[1]), int(match[2]), int(match[3])))
        parts.sort(key=lambda p: (p.first, p.last))
        if any(later.first <= earlier.last for earlier, later in itertools.pairwise(parts)):
            return self._heal(folder, parts, symbol, timeframe)
        return parts

    def _heal(self, folder: Path, parts: list[_Part], symbol: str, timeframe: str) -> list[_Part]:
        """Merge overlapping parts (left by an interrupted rewrite), the newest file winning."""
        by_age = sorted(parts, key=lambda p: p.path.stat().st_mtime_ns)
        merged = _merge([self._load([p], symbol, timeframe) for p in by_age])
        self._replace(folder, parts, merged)
        return self._parts(folder, symbol, timeframe)

    def _open(self, part: _Part) -> pq.ParquetFile:
        try:
            return pq.ParquetFile(part.path)
        except (OSError, pa.ArrowException) as e:
            msg = f"{part.path}: not a readable cache file: {e}"
            raise StorageError(msg) from e

    def _load(self, parts: list[_Part], symbol: str, timeframe: str) -> BarBatch:
        tables = [self._open(p).read(columns=list(_SCHEMA.names)) for p in parts]
        return BarBatch.concat(symbol, timeframe, [_to_batch(symbol, timeframe, t) for t in tables])

    def _write(self, folder: Path, batch: BarBatch) -> Path:
        first, last = int(batch.ts[0]), int(batch.ts[-1])
        final_path = folder / f"{first:019d}-{last:019d}-{len(batch)}.parquet"
        temporary = folder / f".{uuid.uuid4().hex}.tmp"
        columns = [pa.array(batch.ts, type=pa.int64()).view(_TIME)]
        columns += [pa.array(column, type=pa.float64()) for column in batch.columns()]
        metadata = {b"symbol": batch.symbol.encode(), b"timeframe": batch.timeframe.encode()}
        table = pa.Table.from_arrays(columns, schema=_SCHEMA.with_metadata(metadata))
        try:
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, temporary, row_group_size=self._row_group_size)
            os.replace(temporary, final_path)
        except (OSError, pa.ArrowException) as e:
            temporary.unlink(missing_ok=True)
            msg = f"cannot write the bar cache at {folder}: {e}"
            raise StorageError(msg) from e
        return final_path

    def _replace(self, folder: Path, old: list[_Part], merged: BarBatch) -> None:
        size = self._compact_rows
        written = {self._write(folder, merged.slice(i, i + size)) for i in range(0, len(merged), size)}
        for part in old:
            if part.path not in written:
                part.path.unlink(missing_ok=True)

    def _compact(self, folder: Path, parts: list[_Part], symbol: str, timeframe: str) -> None:
        runs: list[list[_Part]] = [[]]
        for part in parts:
            if runs[-1] and sum(p.rows for p in runs[-1]) + part.rows > self._compact_rows:
                runs.append([])
            runs[-1].append(part)
        for run in runs:
            if len(run) > 1:
                self._replace(folder, run, self._load(run, symbol, timeframe))


def _to_batch(symbol: str, timeframe: str, data: pa.RecordBatch | pa.Table) -> BarBatch:
    def column(name: str) -> pa.Array:
        values = data.column(name)
        return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values

    ts = column("timestamp").view(pa.int64()).to_numpy()
    return BarBatch(symbol, timeframe, ts, *(column(name).to_numpy() for name in _PRICES))


def _merge(batches: list[BarBatch]) -> BarBatch:
    """The bars of every batch by time; on equal times the later batch's bar wins."""
    joined = BarBatch.concat(batches[0].symbol, batches[0].timeframe, batches)
    order = np.argsort(joined.ts, kind="stable")
    ordered = joined.ts[order]
    last_of_each = np.r_[ordered[1:] != ordered[:-1], True]
    return joined.take(order[last_of_each])


def _report(report: DataReport, timeframe: str, rows_kept: int) -> RepairReport:
    return RepairReport(
        symbol=report.symbol,
        timeframe=timeframe,
        rows_read=report.rows_read,
        rows_kept=rows_kept,
        first_ts=report.first_ts,
        last_ts=report.last_ts,
        duplicates_dropped=report.duplicates_dropped,
        out_of_order_fixed=report.out_of_order_fixed,
        nan_dropped=report.nan_dropped,
        nonpositive_dropped=report.nonpositive_dropped,
        high_low_fixed=report.high_low_fixed,
        volume_filled=report.volume_filled,
        gaps=report.gaps,
    )
