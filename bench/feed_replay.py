"""Replay throughput and memory: Parquet bar cache -> data manager, against a raw pyarrow read.

Writes a long 1m series (default 5,000,000 bars, ~9.5 years) into a ParquetBarCache in a temporary
folder, then times, in the same run and on the same files:

- baseline: pyarrow alone reading every part a batch at a time into numpy arrays (the floor for any
  reader of these files);
- replay: ``DataManager.replay`` reading the cache and delivering every bar into the manager (cleaning
  rules, history buffers, last quote, the tick bus with one subscriber), as a ratio of the baseline;
- replay with 5m/1h/1d streams built on the way;
- for scale, the per-object path: the same bars as ``Candle`` objects through ``DataManager.ingest``.

Memory: each of a 1M-bar and a 5M-bar replay runs in a fresh process, which reports tracemalloc's peak
(numpy and Python allocations), pyarrow's pool peak and the process's peak RSS. Flat means the 5M
replay peaks no higher than the 1M one (a replay holds one batch, whatever the length).

Run: ``.venv/bin/python bench/feed_replay.py [--bars N]``; exits 1 when replay is under 1,000,000 bars/s.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import trio

from app.adapters.storage.parquet import ParquetBarCache
from app.domain.resample import BarBatch, datetime_to_ns, ns_to_datetime
from app.domain.values import Candle
from app.services.data_manager import DataManager

T = TypeVar("T")
TARGET = 1_000_000
START = datetime(2015, 1, 1, tzinfo=UTC)
MINUTE = 60 * 10**9
WRITE_CHUNK = 1_000_000


def write_series(cache: ParquetBarCache, symbol: str, bars: int, seed: int = 1) -> None:
    """A seeded random walk of 1m bars, appended a million at a time (as a long download would be)."""
    rng = np.random.default_rng(seed)
    price = 100.0
    for first in range(0, bars, WRITE_CHUNK):
        n = min(WRITE_CHUNK, bars - first)
        close = price * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
        open_ = np.r_[price, close[:-1]]
        high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 5e-4, n)))
        low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 5e-4, n)))
        ts = datetime_to_ns(START) + (first + np.arange(n, dtype=np.int64)) * MINUTE
        cache.append(BarBatch(symbol, "1m", ts, open_, high, low, close, rng.lognormal(2, 1, n)))
        price = float(close[-1])


def raw_pyarrow(folder: Path) -> int:
    """Every part read a batch at a time into numpy arrays, nothing else."""
    rows = 0
    for part in sorted(folder.glob("*.parquet")):
        for batch in pq.ParquetFile(part).iter_batches(batch_size=65_536):
            arrays = [batch.column(0).view(pa.int64()).to_numpy()]
            arrays += [batch.column(i).to_numpy() for i in range(1, batch.num_columns)]
            rows += len(arrays[0])
    return rows


def replay(cache: ParquetBarCache, symbol: str, streams: tuple[str, ...] = ()) -> tuple[int, int]:
    """Bars delivered into a fresh manager, and updates one subscriber received."""
    manager = DataManager()
    manager.subscribe([symbol], ["1m", *streams])
    subscription = manager.open_ticks()
    received = 0

    async def run() -> int:
        nonlocal received

        async def consume() -> None:
            nonlocal received
            async for _update in subscription:
                received += 1

        async with trio.open_nursery() as nursery:
            nursery.start_soon(consume)
            delivered = await manager.replay(cache, [symbol], "1m")
            subscription.close()
        return delivered

    return trio.run(run), received


def candle_path(cache: ParquetBarCache, symbol: str, bars: int) -> int:
    """The same bars as one Candle object each through ``ingest`` (conversion included)."""
    manager = DataManager()
    manager.subscribe([symbol], ["1m"])
    batch = cache.read(symbol, "1m", end=ns_to_datetime(datetime_to_ns(START) + bars * MINUTE))
    count = 0
    for ts, o, h, lo, c, v in zip(batch.ts.tolist(), *(col.tolist() for col in batch.columns()), strict=True):
        count += manager.ingest(Candle(symbol, "1m", ns_to_datetime(ts), o, h, lo, c, v))
    return count


def timed(fn: Callable[..., T], *args: Any) -> tuple[T, float]:
    began = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - began


def memory_child(root: str, symbol: str) -> None:
    """Run in a fresh process: one replay, then the peaks as JSON on stdout."""
    cache = ParquetBarCache(Path(root))
    tracemalloc.start()
    delivered, _ = replay(cache, symbol)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peaks = {
        "bars": delivered,
        "tracemalloc_peak": peak,
        "arrow_pool_peak": pa.default_memory_pool().max_memory(),
        "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    print(json.dumps(peaks))


def memory(root: Path, symbol: str) -> dict[str, int]:
    command = [sys.executable, __file__, "--memory-child", str(root), symbol]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def mib(n: float) -> str:
    return f"{n / 2**20:7.1f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=5_000_000)
    parser.add_argument("--memory-child", nargs=2, metavar=("ROOT", "SYMBOL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cache = ParquetBarCache(root)
        _, wrote = timed(write_series, cache, "LONG", args.bars)
        write_series(cache, "SHORT", 1_000_000, seed=2)
        size = sum(p.stat().st_size for p in (root / "LONG" / "1m").glob("*.parquet"))
        print(f"cache: {args.bars:,} 1m bars in {mib(size).strip()} of Parquet, written in {wrote:.2f}s")

        rows, base_s = timed(raw_pyarrow, root / "LONG" / "1m")
        (delivered, updates), replay_s = timed(replay, cache, "LONG")
        (with_streams, _), streams_s = timed(replay, cache, "LONG", ("5m", "1h", "1d"))
        candle_bars = min(args.bars, 200_000)
        _, candle_s = timed(candle_path, cache, "LONG", candle_bars)
        assert rows == delivered == with_streams == args.bars

        base_rate, replay_rate = rows / base_s, delivered / replay_s
        print(f"{'baseline: raw pyarrow read':<44} {base_rate:>14,.0f} bars/s  1.000x")
        for label, rate in (
            ("replay into the data manager", replay_rate),
            ("replay + 5m/1h/1d streams", with_streams / streams_s),
            ("per-Candle ingest (200k bars)", candle_bars / candle_s),
        ):
            print(f"{label:<44} {rate:>14,.0f} bars/s  {rate / base_rate:.3f}x")
        print(f"  (one subscriber got {updates} coalesced updates for {delivered:,} bars)")

        short, long = memory(root, "SHORT"), memory(root, "LONG")
        print("memory of one replay in a fresh process:")
        for key in ("tracemalloc_peak", "arrow_pool_peak", "max_rss"):
            print(
                f"  {key:<17} 1M bars {mib(short[key])}   {args.bars / 1e6:g}M bars {mib(long[key])}"
                f"   ratio {long[key] / short[key]:.2f}"
            )

    ok = replay_rate >= TARGET
    print(f"{'PASS' if ok else 'FAIL'}: replay {replay_rate:,.0f} bars/s (target {TARGET:,})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
