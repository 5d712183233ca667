"""Wiring for the market-data commands: ``app data import|list|download`` and ``app universe``.

The bar cache lives in ``<home>/cache/<market>`` (``home`` resolved as for a paper run; the markets in
``bootstrap/bar_cache.py``). Bybit is reached through its public client only (no keys); ``endpoint`` replaces
pybit's base URL (a loopback fake in tests).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import final

import attrs
import trio

from app.adapters.feeds.bybit import AsyncBybitPublicClient, BybitClientConfig, BybitFeed, BybitPublicClient
from app.adapters.feeds.replay import folder_data_files, load_bars
from app.adapters.storage.parquet import ParquetBarCache
from app.bootstrap.bar_cache import cache_folder, home_cache, home_caches, market_of_category
from app.bootstrap.paper import resolve_home
from app.domain.resample import BarBatch
from app.domain.timeframes import format_timeframe, parse_timeframe
from app.domain.values import Asset
from app.ports.bar_store import RepairReport
from app.ports.errors import DataError
from app.services.cache_history import download_history
from app.services.config_manager import load_config
from app.services.symbol_universe import (
    Candidate,
    MarketSnapshot,
    Universe,
    UniverseConfig,
    candidates_from_bars,
    select_universe,
)

__all__ = [
    "DownloadRequest",
    "bybit_universe",
    "data_files",
    "download_bars",
    "open_cache",
    "open_caches",
    "replay_universe",
]

log = logging.getLogger("app.data")


def open_cache(home: Path | None, market: str, config: Path | None = None) -> ParquetBarCache:
    """The ``market`` bar cache of the home folder (``--home``, ``APP_HOME``, the config's ``storage.home``,
    platform default); ``config`` is the config file (None: the defaults).

    Raises ValidationFailed for a bad config file."""
    return home_cache(resolve_home(home, load_config(config)), market)


def open_caches(
    home: Path | None, config: Path | None = None
) -> tuple[Path, list[tuple[str, ParquetBarCache]]]:
    """The home's cache folder and every market's cache in it, for ``app data list`` (home as ``open_cache``)."""
    resolved = resolve_home(home, load_config(config))
    return cache_folder(resolved), home_caches(resolved)


def data_files(source: Path) -> tuple[list[Path], tuple[str, ...]]:
    """``source`` if it is a file, else every data file directly inside the folder, in name order, but for
    those whose names tag them as no traded prices (``XRPUSDT_8h_funding.csv``, ``..._mark.csv``): those
    are the second part, each with why.

    Raises:
        DataError: it does not exist, or the folder holds no data file.
    """
    if source.is_file():
        return [source], ()
    if not source.is_dir():
        msg = f"{source}: no such file or folder"
        raise DataError(msg)
    return folder_data_files(source)


@final
@attrs.frozen
class DownloadRequest:
    """``app data download``: bars of ``symbols`` from ``since`` until ``until`` (default: now), cached in
    the market of Bybit's ``category``."""

    symbols: tuple[str, ...]
    timeframe: str
    since: datetime
    until: datetime | None = None
    category: str = "spot"
    endpoint: str | None = None
    home: Path | None = None
    config: Path | None = None


def _client(endpoint: str | None, testnet: bool) -> AsyncBybitPublicClient:
    return AsyncBybitPublicClient(BybitPublicClient(BybitClientConfig(endpoint=endpoint, testnet=testnet)))


def download_bars(request: DownloadRequest, on_progress: Callable[[str, int], None]) -> list[RepairReport]:
    """Fetch every symbol's closed bars from Bybit into the cache of its category's market, symbol by symbol.

    Raises:
        BrokerUnavailable: Bybit cannot be reached (no network); DataError: it refused or a symbol is unknown.
    """
    timeframe = format_timeframe(parse_timeframe(request.timeframe))
    config = load_config(request.config)
    cache = home_cache(resolve_home(request.home, config), market_of_category(request.category))
    testnet = config.feeds.bybit.testnet
    feed = BybitFeed(
        request.symbols, timeframe, client=_client(request.endpoint, testnet), category=request.category
    )
    until = request.until or datetime.now(UTC)

    async def fetch() -> list[RepairReport]:
        return [
            await download_history(
                feed, cache, symbol, timeframe, since=request.since, until=until, on_progress=on_progress
            )
            for symbol in request.symbols
        ]

    return trio.run(fetch)


def _spot_rates(config_path: Path | None) -> dict[str, float]:
    config = load_config(config_path)
    return {currency: float(rate) for currency, rate in config.get_asset(Asset.SPOT).quote_rates.items()}


def replay_universe(data: Path, at: datetime | None, config_path: Path | None = None) -> Universe:
    """Rank the symbols of replay files by their 24h turnover at ``at`` (default: the end of the data).

    Every quote currency counts: the files are what the user chose to rank. Mixed quotes rank in USD
    through the spot asset's ``quote_rates``.
    """
    batches = [
        BarBatch(one.symbol, one.timeframe, one.ts, one.open, one.high, one.low, one.close, one.volume)
        for path in data_files(data)[0]
        for one in load_bars(path).series
    ]
    rules = UniverseConfig(quote_currencies=(), quote_rates=_spot_rates(config_path))
    return select_universe(candidates_from_bars(batches, at), rules)


class _BybitSource:
    """Candidates from Bybit's 24h tickers and instruments; daily klines tell the history of the best."""

    def __init__(self, client: AsyncBybitPublicClient, category: str, rules: UniverseConfig) -> None:
        self._client, self._category, self._rules = client, category, rules

    async def snapshot(self) -> MarketSnapshot:
        now = await self._client.server_time()
        pairs = {i.symbol: (i.base, i.quote) for i in await self._client.instruments(self._category)}
        tickers = [t for t in await self._client.tickers(self._category) if t.symbol in pairs]
        tickers.sort(key=lambda t: -t.turnover_24h)
        # One kline request per symbol: only as many as could make the universe, twice over.
        checked = {t.symbol for t in tickers[: 2 * (self._rules.core_size + self._rules.tail_size)]}
        candidates = []
        for ticker in tickers:
            history = await self._history(ticker.symbol, now) if ticker.symbol in checked else None
            base, quote = pairs[ticker.symbol]
            turnover = ticker.turnover_24h
            candidates.append(Candidate(ticker.symbol, base, quote, turnover, history, ticker.last))
        return MarketSnapshot(now, tuple(candidates))

    async def _history(self, symbol: str, now: datetime) -> timedelta | None:
        start = now - self._rules.min_history - timedelta(days=1)
        try:
            days = await self._client.klines(self._category, symbol, "1d", start=start, end=now)
        except DataError as e:  # one symbol's klines refused: its history is unknown, not zero
            log.warning("history of %s unknown: %s", symbol, e)
            return None
        return now - days[0].ts if days else timedelta(0)


def bybit_universe(
    category: str = "spot", endpoint: str | None = None, config_path: Path | None = None
) -> Universe:
    """Rank Bybit's ``category`` symbols by 24h turnover now (quote USDT by default).

    Raises:
        BrokerUnavailable: Bybit cannot be reached; DataError: it refused or answered nonsense.
    """
    config = load_config(config_path)
    rules = UniverseConfig(quote_rates=_spot_rates(config_path))
    source = _BybitSource(_client(endpoint, config.feeds.bybit.testnet), category, rules)

    async def rank() -> Universe:
        return select_universe(await source.snapshot(), rules)

    return trio.run(rank)
