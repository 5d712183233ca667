"""The live Bybit feed in a paper run (``app run --paper --feed bybit``, ``app tui`` on the same options).

Bybit is reached while the run is being built, before the home folder is touched: a run that cannot work
(no network, an unknown symbol) is refused with a message naming the endpoint and leaves nothing behind. The
paper venues trade on Bybit's instrument rules (tick size, lot step, minimum qty and notional), the runtime
warms the strategies up on REST history and resumes a stopped run where it stopped, and the ticker stream
feeds the data tap's last quotes.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from datetime import datetime
from typing import final

import attrs

from app.adapters.feeds.bybit import (
    BybitEndpoints,
    BybitFeed,
    LivePaperFeed,
    PaperFeedSettings,
    open_paper_feed,
)
from app.adapters.feeds.bybit.constants import CATEGORY_ASSETS
from app.domain.errors import ValidationFailed
from app.domain.symbols import generic_instrument
from app.domain.values import Asset, Instrument, Quote
from app.learning.strategies.signals import warmup_bars
from app.learning.strategies.spec import StrategySpec
from app.ports.errors import BrokerUnavailable, DataError
from app.ports.market_data import MarketData
from app.ports.storage import Storage
from app.services.app_runtime.progress import LAST_BAR_KEY
from app.services.config_schema import AppConfig

__all__ = ["LiveStart", "bybit_category", "bybit_paper_feed", "instrument_rules", "live_start"]


def bybit_paper_feed(
    config: AppConfig, specs: Sequence[StrategySpec], *, data_given: bool, speed_given: bool
) -> tuple[LivePaperFeed, Asset]:
    """The feed for the specs' symbols at their timeframe (none: ``feeds.bybit.symbols``/``timeframe``), and
    the asset class its category trades in.

    Raises:
        ValidationFailed: options or specs the live feed cannot serve (--data, --speed, mixed timeframes, a
            spec of another asset class than the category's).
        DataError: Bybit cannot be reached (the message names the endpoint and the error), refused, or lacks a
            symbol or the timeframe.
    """
    settings = config.feeds.bybit
    asset = CATEGORY_ASSETS[settings.category]
    timeframes = sorted({spec.timeframe for spec in specs})
    problems = []
    if data_given:
        problems.append(("--data", "is for the replay feed: the bybit feed streams live bars"))
    if speed_given:
        problems.append(("--speed", "does not apply: a live feed runs in real time"))
    if len(timeframes) > 1:
        problems.append(
            ("--spec", f"the bybit feed streams one timeframe; the specs want {', '.join(timeframes)}")
        )
    problems.extend(
        (spec.id, f"trades {spec.asset.value}, but feeds.bybit.category {settings.category} is {asset.value}")
        for spec in specs
        if spec.asset is not asset
    )
    if problems:
        raise ValidationFailed("--feed bybit", problems)
    symbols = list(dict.fromkeys(spec.symbol for spec in specs)) or list(settings.symbols)
    endpoints = BybitEndpoints(settings.rest_url, settings.ws_url, settings.testnet)
    wanted = PaperFeedSettings(
        category=settings.category,
        warm_up_bars=max([settings.warm_up_bars, *(warmup_bars(spec) for spec in specs)]),
        max_catch_up_bars=settings.max_catch_up_bars,
        endpoints=endpoints,
    )
    try:
        feed = open_paper_feed(symbols, timeframes[0] if timeframes else settings.timeframe, wanted)
    except BrokerUnavailable as e:
        msg = (
            f"{e}\n`app run --paper --feed bybit` needs network access to Bybit's public market data "
            f"({endpoints.rest}, {endpoints.stream(settings.category)}): check the connection, or "
            "feeds.bybit.rest_url and ws_url in the config"
        )
        raise DataError(msg) from e
    return feed, asset


def bybit_category(feed: MarketData) -> str | None:
    """The Bybit product category whose bars ``feed`` delivers (spot, linear, ...); None for any other feed.

    The bar cache keys the bars by it: spot and perpetual ``BTCUSDT`` are different markets.
    """
    if isinstance(feed, LivePaperFeed):
        return feed.feed.category
    if isinstance(feed, BybitFeed):
        return feed.category
    return None


@final
@attrs.frozen
class LiveStart:
    """What a live feed adds to the wiring (all None for a replay or synthetic feed)."""

    instruments: Mapping[str, Instrument] | None = None
    quotes: Callable[[], AsyncGenerator[Quote, None]] | None = None
    warm_up_through: datetime | None = None


def live_start(feed: MarketData, storage: Storage) -> LiveStart:
    """Point a live feed's history at the run's starting point: the last bar ``storage`` processed, if any.

    Raises:
        DataError: the stored run cannot be resumed on this feed (see ``LivePaperFeed.resume``).
    """
    if not isinstance(feed, LivePaperFeed):
        return LiveStart()
    last = storage.get_meta(LAST_BAR_KEY)
    feed.resume(datetime.fromisoformat(last) if last else None)
    return LiveStart(feed.instruments, feed.quotes, feed.warm_up_through)


def instrument_rules(
    asset: Asset, instruments: Mapping[str, Instrument] | None
) -> Callable[[str], Instrument]:
    """A paper venue's instrument lookup: the feed's (the exchange's rules), or fine generic steps."""
    if instruments is None:
        return lambda symbol: generic_instrument(symbol, asset)
    known = dict(instruments)

    def rules(symbol: str) -> Instrument:
        try:
            return known[symbol]
        except KeyError:
            msg = f"the feed has no {asset.value} instrument rules for {symbol} (it has {', '.join(known)})"
            raise DataError(msg) from None

    return rules
