"""exposure_manager's learned clusters: symbols whose rolling return correlation reaches a threshold.

The configured clusters (``exposure.clusters``) always hold; learned ones (``exposure.correlation``) are added
to them. They are relearned once per closed bar of the correlation timeframe (UTC-aligned), from the closes
data_manager holds, on the timestamps every up-to-date symbol has (returns of bars at different times never
pair up; a symbol whose bars stopped is left out).
Only bars decide, so a run resumed after a restart (which re-ingests the bars it had processed) learns the
same clusters at the same bars as one that was never interrupted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import reduce
from typing import Any, Protocol

import attrs
import numpy as np
import numpy.typing as npt

from app.domain.exposure import ClusterDef, learn_clusters, learned_cluster_defs
from app.domain.resample import BarBatch, datetime_to_ns, timeframe_ns
from app.ports.errors import DataError
from app.ports.market_data import MarketData
from app.ports.storage import Storage
from app.services.config_schema import AppConfig
from app.services.exposure_manager import ExposureManager
from app.services.market_clock import MarketClock
from app.services.rules_config import clusters_from

__all__ = ["ClusterLearner", "CorrelationSettings", "OhlcSource", "learned_clusters"]

log = logging.getLogger("app.exposure_manager")

Journal = Callable[[str, Mapping[str, Any]], object]
"""(kind, fields) -> None: where a change of the learned clusters is recorded."""


class OhlcSource(Protocol):
    """What the learner reads from data_manager."""

    def symbols(self) -> tuple[str, ...]: ...

    def subscribe(self, symbols: Sequence[str], streams: Sequence[str] = ()) -> None: ...

    def get_ohlc(self, symbol: str, timeframe: str, lookback: int) -> BarBatch: ...


@attrs.frozen
class CorrelationSettings:
    timeframe: str
    window: int
    threshold: float


class ClusterLearner:
    def __init__(
        self,
        exposure: ExposureManager,
        configured: Sequence[ClusterDef],
        data: OhlcSource,
        settings: CorrelationSettings,
        *,
        base_timeframe: Callable[[str], str],
        journal: Journal | None = None,
    ) -> None:
        self._exposure = exposure
        self._configured = tuple(configured)
        self._data = data
        self._settings = settings
        self._base_timeframe = base_timeframe
        self._journal = journal
        self._step = timeframe_ns(settings.timeframe)
        self._timeframes: dict[str, str] = {}
        self._boundary: int | None = None
        self.learned: tuple[ClusterDef, ...] = ()

    def on_bar(self, close_time: datetime, *, record: bool = True) -> bool:
        """Relearn when ``close_time`` reaches a new correlation-timeframe boundary. True if the clusters
        changed. ``record`` False (warming up after a restart) learns without journaling."""
        now = datetime_to_ns(close_time)
        boundary = now - now % self._step
        if boundary == self._boundary:
            return False
        self._boundary = boundary
        learned = tuple(learned_cluster_defs(self._learn()))
        if learned == self.learned:
            return False
        self.learned = learned
        self._exposure.set_clusters((*self._configured, *learned))
        log.info("learned clusters: %s", ", ".join(c.name for c in learned) or "none")
        if record and self._journal is not None:
            self._journal("clusters_learned", {"clusters": [sorted(c.symbols) for c in learned]})
        return True

    def _learn(self) -> list[set[str]]:
        window = self._settings.window
        closes = {}
        for symbol in self._data.symbols():
            # One bar more than the window needs: a symbol one bar behind still shares window + 1 times.
            batch = self._data.get_ohlc(symbol, self._timeframe(symbol), window + 2)
            if len(batch.ts) > window:
                closes[symbol] = batch
        # A symbol whose bars stopped (delisted, stale) would hold everyone to its old bars: it is left out.
        # One bar behind is not stopped: bars of one close time arrive symbol by symbol, so at a boundary the
        # others may not have theirs yet (the window then ends a bar earlier, the same way in every run).
        newest = max((int(b.ts[-1]) for b in closes.values()), default=0)
        closes = {s: b for s, b in closes.items() if newest - int(b.ts[-1]) <= timeframe_ns(b.timeframe)}
        if len(closes) < 2:
            return []
        common = reduce(np.intersect1d, (b.ts for b in closes.values()))
        if len(common) <= window:
            return []
        common = common[-(window + 1) :]
        returns = {s: _returns(b, common) for s, b in closes.items()}
        return learn_clusters(returns, self._settings.threshold, window)

    def _timeframe(self, symbol: str) -> str:
        """The correlation timeframe as a stream of the symbol, or its base bars when it cannot be built
        from them (a base timeframe longer than it, or not dividing it)."""
        known = self._timeframes.get(symbol)
        if known is None:
            try:
                self._data.subscribe([symbol], [self._settings.timeframe])
                known = self._settings.timeframe
            except DataError as e:
                known = self._base_timeframe(symbol)
                log.warning("%s: correlation on %s bars instead: %s", symbol, known, e)
            self._timeframes[symbol] = known
        return known


def _returns(batch: BarBatch, times: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    close = np.asarray(batch.close, dtype=np.float64)[np.isin(batch.ts, times)]
    return np.diff(close) / close[:-1]


def learned_clusters(
    config: AppConfig,
    exposure: ExposureManager,
    data: OhlcSource | None,
    feed: MarketData,
    storage: Storage,
    clock: MarketClock,
) -> ClusterLearner | None:
    """The learner of a run over ``feed`` (``exposure.correlation``), journaling into ``storage``; None
    without a data manager or with a single symbol (nothing to correlate)."""
    if data is None or len(feed.symbols()) < 2:
        return None
    settings = config.exposure.correlation
    return ClusterLearner(
        exposure,
        clusters_from(config),
        data,
        CorrelationSettings(settings.timeframe, settings.window_bars, settings.threshold),
        base_timeframe=feed.timeframe,
        journal=lambda kind, fields: storage.append_event(clock.now(), kind, fields),
    )
