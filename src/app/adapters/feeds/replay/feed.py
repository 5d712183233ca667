"""ReplayFeed: candles from files, merged across symbols in time order, as fast as possible or paced.

Loading happens in the constructor, so a bad file raises ``DataError`` before anything starts. Every file
is read whole into float64 arrays (see ``reader``), the symbols are merged once with a stable sort (ties in
symbol order), and ``stream()`` builds ``Candle`` objects lazily, a chunk of arrays at a time.

Pacing: ``speed=None`` delivers as fast as the consumer takes them (yielding to the scheduler once per
chunk); ``speed=N`` replays N times faster than real time. Before each new bar timestamp the feed awaits
``sleep(interval / N)``, the interval being the time since the previous delivered timestamp (for the first
one, that bar's own duration: a bar is delivered when it has closed). Bars of several symbols that share a
timestamp arrive together, without sleeps between them.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, final

import attrs
import numpy as np
import pandas as pd
import trio

from app.adapters.feeds.replay.reader import BarSeries, DataReport, folder_data_files, load_bars
from app.domain.symbols import serves_symbol
from app.domain.timeframes import parse_timeframe
from app.domain.values import Candle
from app.ports.errors import DataError

__all__ = ["ReplayFeed"]

Sleep = Callable[[float], Awaitable[None]]

_CHUNK: Final = 8192
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@final
class ReplayFeed:
    """A MarketData feed over files: one file, a folder of files (one symbol per file) or a list of both.

    Args:
        source: a file, a folder (every file inside with a supported suffix, dotfiles aside, in name
            order; not recursive) or a sequence of files and folders.
        speed: None for as fast as possible, else N times real time.
        sleep: how to wait when paced (default ``trio.sleep``); tests pass a fake or run under MockClock.
        start: first bar time to deliver (inclusive); end: bars from ``end`` on are left out.
        wanted: the symbols to be traded and the timeframe each is wanted at, as ``app backtest`` picks its
            file: a symbol that no file gives exactly is served by the one series named after it with a tag
            (``BTCUSD_coinbase.csv`` serves ``BTCUSD``), delivered under the wanted name (``served()`` says
            which); of several files giving one symbol (``XRPUSDT_1h.csv`` and ``XRPUSDT_5m.csv``), the one
            at the wanted timeframe is read and the others left out (``left_out()``).

    A folder's files that its names tag as no traded prices (``XRPUSDT_8h_funding.csv``, ``..._mark.csv``,
    ``..._index.csv``) are left out too: funding rates are read by the funding loader.

    Raises:
        DataError: a file is missing, unreadable or structurally bad, a folder holds no data file, two
            files give the same symbol (and no wanted timeframe picks one), or several series could serve a
            wanted symbol.
    """

    def __init__(
        self,
        source: Path | Sequence[Path],
        *,
        speed: float | None = None,
        sleep: Sleep | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        wanted: Mapping[str, str] | None = None,
    ) -> None:
        if speed is not None and not speed > 0:
            msg = f"speed must be positive (or None for as fast as possible), got {speed}"
            raise ValueError(msg)
        self._speed = speed
        self._sleep: Sleep = sleep or trio.sleep
        wanted = wanted or {}
        files, left_out = _data_files(source)
        loaded, other_timeframes = _load_all(files, wanted)
        self._left_out = left_out + other_timeframes
        self._served = _served(wanted, [one.symbol for one in loaded])
        renamed = [attrs.evolve(one, symbol=self._served.get(one.symbol, one.symbol)) for one in loaded]
        series = sorted(renamed, key=lambda one: one.symbol)
        self._names = [one.symbol for one in series]
        self._timeframes = [one.timeframe for one in series]
        self._reports = tuple(one.report for one in series)
        self._step_ns = [
            int(parse_timeframe(tf) / timedelta(microseconds=1)) * 1000 for tf in self._timeframes
        ]
        # Only the merged arrays are kept: the per-file ones are dropped with ``series``.
        self._merge(series, _to_ns(start, "start"), _to_ns(end, "end"))

    def symbols(self) -> Sequence[str]:
        """The symbols, sorted."""
        return tuple(self._names)

    def served(self) -> Mapping[str, str]:
        """The wanted symbols delivered from a series of another name: {series name: symbol delivered as}."""
        return dict(self._served)

    def left_out(self) -> tuple[str, ...]:
        """The files not replayed, each with why (a folder's funding or mark file, a symbol's other timeframe)."""
        return self._left_out

    def timeframe(self, symbol: str) -> str:
        """The symbol's timeframe (from its file name or bar spacing)."""
        if symbol not in self._names:
            msg = f"unknown symbol {symbol!r}: this replay has {', '.join(self._names)}"
            raise DataError(msg)
        return self._timeframes[self._names.index(symbol)]

    def reports(self) -> tuple[DataReport, ...]:
        """What each symbol's file needed: repairs, drops and gaps (whole files, before start/end)."""
        return self._reports

    def __len__(self) -> int:
        """Candles between start and end, all symbols together."""
        return len(self._ts)

    async def stream(
        self, *, after: datetime | None = None, catch_up_through: datetime | None = None
    ) -> AsyncGenerator[Candle, None]:
        """Candles oldest first (ties in symbol order); with ``after``, only those whose ``ts`` is later. When
        paced, those at or before ``catch_up_through`` come without waiting (a resumed run's warm-up).

        A consumer that stops early should close the stream (``async with contextlib.aclosing(...)``).
        """
        after_ns = _to_ns(after, "after")
        through_ns = _to_ns(catch_up_through, "catch_up_through")
        first = 0 if after_ns is None else int(np.searchsorted(self._ts, after_ns, side="right"))
        previous: int | None = None
        for begin in range(first, len(self._ts), _CHUNK):
            chunk = slice(begin, begin + _CHUNK)
            stamps = self._ts[chunk].tolist()
            # Symbols of a folder share timestamps: convert each distinct one once.
            distinct, where = np.unique(self._ts[chunk], return_inverse=True)
            times = pd.DatetimeIndex(distinct, tz=UTC).to_pydatetime()[where].tolist()
            rows = zip(
                stamps,
                times,
                self._symbol[chunk].tolist(),
                self._open[chunk].tolist(),
                self._high[chunk].tolist(),
                self._low[chunk].tolist(),
                self._close[chunk].tolist(),
                self._volume[chunk].tolist(),
                strict=True,
            )
            if self._speed is None or (through_ns is not None and stamps[0] <= through_ns):
                await self._sleep(0)  # a checkpoint, so a replay delivered at once can still be cancelled
            for stamp, ts, s, o, h, lo, c, v in rows:
                if self._speed is not None and stamp != previous:
                    if through_ns is None or stamp > through_ns:
                        wait_ns = self._step_ns[s] if previous is None else stamp - previous
                        await self._sleep(wait_ns / 1e9 / self._speed)
                    previous = stamp
                yield Candle(self._names[s], self._timeframes[s], ts, o, h, lo, c, v)

    def _merge(self, series: list[BarSeries], start_ns: int | None, end_ns: int | None) -> None:
        parts = [(one, _window(one, start_ns, end_ns)) for one in series]
        ts = np.concatenate([one.ts[window] for one, window in parts])
        symbol = np.concatenate(
            [np.full(len(one.ts[window]), i, dtype=np.int32) for i, (one, window) in enumerate(parts)]
        )
        order = np.lexsort((symbol, ts))
        self._ts, self._symbol = ts[order], symbol[order]
        self._open, self._high, self._low, self._close, self._volume = (
            np.concatenate([getattr(one, field)[window] for one, window in parts])[order]
            for field in ("open", "high", "low", "close", "volume")
        )


def _window(series: BarSeries, start_ns: int | None, end_ns: int | None) -> slice:
    lo = 0 if start_ns is None else int(np.searchsorted(series.ts, start_ns, side="left"))
    hi = len(series.ts) if end_ns is None else int(np.searchsorted(series.ts, end_ns, side="left"))
    return slice(lo, hi)


def _to_ns(moment: datetime | None, name: str) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        msg = f"{name} must be timezone-aware (UTC), got {moment.isoformat()}"
        raise ValueError(msg)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def _data_files(source: Path | Sequence[Path]) -> tuple[list[Path], tuple[str, ...]]:
    """The files to read, and the folder files left out as no traded prices (each with why)."""
    sources: Iterable[Path] = [source] if isinstance(source, str | Path) else source
    files: list[Path] = []
    left_out: tuple[str, ...] = ()
    for item in map(Path, sources):
        if item.is_dir():
            prices, skipped = folder_data_files(item)
            files.extend(prices)
            left_out += skipped
        else:
            files.append(item)  # load_bars names a missing file or an unknown suffix
    if not files:
        msg = "no data files given"
        raise DataError(msg)
    return files, left_out


def _served(wanted: Collection[str], names: Sequence[str]) -> dict[str, str]:
    """{series name: wanted symbol} for each wanted symbol no series has by name, served by a tagged one."""
    served: dict[str, str] = {}
    for symbol in dict.fromkeys(wanted):
        if symbol in names:
            continue
        tagged = [n for n in names if serves_symbol(n, symbol) and n not in wanted and n not in served]
        if len(tagged) > 1:
            msg = f"several series could serve {symbol}: {', '.join(tagged)}; pass one of their files"
            raise DataError(msg)
        if tagged:
            served[tagged[0]] = symbol
    return served


def _load_all(files: Sequence[Path], wanted: Mapping[str, str]) -> tuple[list[BarSeries], tuple[str, ...]]:
    """Every file's series; of several giving one symbol, the one at its wanted timeframe (the others are
    left out, each with why)."""
    found: dict[str, list[tuple[BarSeries, Path]]] = {}
    for path in files:
        for one in load_bars(path).series:
            found.setdefault(one.symbol, []).append((one, path))
    series: list[BarSeries] = []
    left_out: list[str] = []
    for symbol, candidates in found.items():
        picked = candidates
        if len(candidates) > 1 and symbol in wanted:
            picked = [(one, path) for one, path in candidates if one.timeframe == wanted[symbol]]
        if len(picked) != 1:
            (_, first), (_, second) = candidates[:2]
            msg = f"{second}: symbol {symbol} is already read from {first}"
            if symbol in wanted:
                has = "none has" if not picked else "several have"
                msg += f" ({has} the wanted timeframe {wanted[symbol]}: pass one file)"
            raise DataError(msg)
        (chosen, chosen_path), *_ = picked
        series.append(chosen)
        left_out += [
            f"{path.name} ({symbol} {one.timeframe}; {chosen_path.name} has the wanted {chosen.timeframe})"
            for one, path in candidates
            if path != chosen_path
        ]
    return series, tuple(left_out)
