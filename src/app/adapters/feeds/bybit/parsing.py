"""Bybit V5 payloads -> domain values. Pure; a malformed payload raises DataError naming the place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, final

import attrs

from app.adapters.feeds.bybit.constants import CATEGORY_ASSETS, INTERVAL_CODES
from app.domain.timeframes import format_timeframe, parse_timeframe
from app.domain.values import Candle, Instrument
from app.ports.errors import DataError

__all__ = [
    "KlinePager",
    "KlineUpdate",
    "Ticker24h",
    "bybit_interval",
    "canonical_timeframe",
    "datetime_to_ms",
    "ms_to_datetime",
    "parse_instrument",
    "parse_kline_message",
    "parse_kline_rows",
    "parse_server_time",
    "parse_ticker",
]

_ZERO = Decimal(0)


@final
@attrs.frozen
class Ticker24h:
    """A symbol's last price and rolling 24-hour activity. ``turnover_24h`` is in the quote currency."""

    symbol: str
    last: float
    turnover_24h: float
    volume_24h: float
    ts: datetime
    bid: float | None = None
    ask: float | None = None


@final
@attrs.frozen
class KlineUpdate:
    """One kline push: the bar as it stands, and whether Bybit has closed (confirmed) it."""

    candle: Candle
    confirmed: bool


def ms_to_datetime(ms: int | str) -> datetime:
    """Epoch milliseconds (as Bybit sends them, often a string) -> aware UTC datetime."""
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC)


def datetime_to_ms(moment: datetime) -> int:
    """Aware datetime -> epoch milliseconds. A naive datetime is refused (it has no time zone)."""
    if moment.tzinfo is None:
        msg = f"naive datetime {moment.isoformat()} has no time zone; use UTC"
        raise ValueError(msg)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def canonical_timeframe(timeframe: str) -> str:
    """``"60m"`` -> ``"1h"``: the spelling our candles carry."""
    return format_timeframe(parse_timeframe(timeframe))


def bybit_interval(timeframe: str) -> str:
    """``"1m"`` -> ``"1"``, ``"1h"`` -> ``"60"``, ``"1d"`` -> ``"D"``.

    Raises DataError for a bar length Bybit does not offer.
    """
    seconds = int(parse_timeframe(timeframe).total_seconds())
    try:
        return INTERVAL_CODES[seconds]
    except KeyError:
        known = ", ".join(format_timeframe(timedelta(seconds=s)) for s in INTERVAL_CODES)
        msg = f"bybit has no {timeframe} klines; choose one of {known}"
        raise DataError(msg) from None


def _timeframe_of_code(code: str) -> str:
    for seconds, known in INTERVAL_CODES.items():
        if known == code:
            return format_timeframe(timedelta(seconds=seconds))
    msg = f"unknown bybit kline interval {code!r}"
    raise DataError(msg)


def _field(item: Mapping[str, Any], key: str, where: str) -> Any:
    try:
        return item[key]
    except (KeyError, TypeError):
        msg = f"bybit {where}: missing field {key!r}"
        raise DataError(msg) from None


def _decimal(item: Mapping[str, Any], key: str, where: str, *, default: Decimal | None = None) -> Decimal:
    raw = item.get(key) if isinstance(item, Mapping) else None
    if raw in (None, "") and default is not None:
        return default
    try:
        return Decimal(str(_field(item, key, where)))
    except InvalidOperation:
        msg = f"bybit {where}: field {key!r} is not a number: {raw!r}"
        raise DataError(msg) from None


def _float(item: Mapping[str, Any], key: str, where: str) -> float:
    raw = _field(item, key, where)
    try:
        return float(raw)
    except (TypeError, ValueError):
        msg = f"bybit {where}: field {key!r} is not a number: {raw!r}"
        raise DataError(msg) from None


def parse_instrument(category: str, item: Mapping[str, Any]) -> Instrument:
    """One entry of /v5/market/instruments-info ``result.list``.

    Spot quotes its lot step as ``basePrecision`` and its minimum order value as ``minOrderAmt``;
    derivatives use ``qtyStep`` and ``minNotionalValue`` (options have no minimum value).
    """
    symbol = str(_field(item, "symbol", f"{category} instrument"))
    where = f"{category} instrument {symbol}"
    lots = _field(item, "lotSizeFilter", where)
    prices = _field(item, "priceFilter", where)
    if category == "spot":
        lot_step = _decimal(lots, "basePrecision", where)
        min_notional = _decimal(lots, "minOrderAmt", where, default=_ZERO)
    else:
        lot_step = _decimal(lots, "qtyStep", where)
        min_notional = _decimal(lots, "minNotionalValue", where, default=_ZERO)
    return Instrument(
        symbol=symbol,
        asset=CATEGORY_ASSETS[category],
        base=str(_field(item, "baseCoin", where)),
        quote=str(_field(item, "quoteCoin", where)),
        tick_size=_decimal(prices, "tickSize", where),
        lot_step=lot_step,
        min_qty=_decimal(lots, "minOrderQty", where),
        min_notional=min_notional,
    )


def _optional_float(item: Mapping[str, Any], key: str) -> float | None:
    raw = item.get(key)
    try:
        return float(raw) if raw not in (None, "") else None
    except (TypeError, ValueError):
        return None


def parse_ticker(item: Mapping[str, Any], ts: datetime) -> Ticker24h:
    """One entry of /v5/market/tickers ``result.list`` (or a ticker stream snapshot)."""
    symbol = str(_field(item, "symbol", "ticker"))
    where = f"ticker {symbol}"
    return Ticker24h(
        symbol=symbol,
        last=_float(item, "lastPrice", where),
        turnover_24h=_float(item, "turnover24h", where),
        volume_24h=_float(item, "volume24h", where),
        ts=ts,
        bid=_optional_float(item, "bid1Price"),
        ask=_optional_float(item, "ask1Price"),
    )


def _candle(symbol: str, timeframe: str, start: Any, values: Sequence[Any], where: str) -> Candle:
    try:
        ts = ms_to_datetime(start)
        open_, high, low, close, volume = (float(v) for v in values)
    except (TypeError, ValueError, OverflowError):
        msg = f"bybit {where}: bar {start!r} of {symbol} has a value that is not a number: {list(values)}"
        raise DataError(msg) from None
    return Candle(symbol, timeframe, ts, open_, high, low, close, volume)


def parse_kline_rows(symbol: str, timeframe: str, rows: Sequence[Sequence[Any]]) -> list[Candle]:
    """/v5/market/kline ``result.list`` (newest first: start, open, high, low, close, volume, turnover)
    -> candles oldest first."""
    timeframe = canonical_timeframe(timeframe)
    candles = []
    for row in rows:
        if len(row) < 6:
            msg = f"bybit kline {symbol}: a row has {len(row)} fields, expected 7: {list(row)}"
            raise DataError(msg)
        candles.append(_candle(symbol, timeframe, row[0], row[1:6], "kline"))
    candles.sort(key=lambda c: c.ts)
    return candles


class KlinePager:
    """Walks /v5/market/kline backwards (it answers with the newest bars of a range) page by page.

    With ``start``, pages go back until they reach it; with ``limit``, until that many bars are in
    hand (only the newest ``limit`` are kept); with neither, one page is all.
    """

    def __init__(
        self, start: datetime | None, end: datetime | None, limit: int | None, page_size: int
    ) -> None:
        if limit is not None and limit < 1:
            msg = f"limit must be at least 1, got {limit}"
            raise ValueError(msg)
        self._start_ms = datetime_to_ms(start) if start else None
        self._window: tuple[int | None, int | None] | None = (
            self._start_ms,
            datetime_to_ms(end) if end else None,
        )
        self._limit = limit
        self._page_size = page_size
        self._by_ts: dict[datetime, Candle] = {}

    def window(self) -> tuple[int | None, int | None] | None:
        """(start_ms, end_ms) of the next request, or None when done."""
        return self._window

    def add(self, page: Sequence[Candle]) -> None:
        """Take one answer (oldest first) and work out the next window."""
        self._by_ts.update((candle.ts, candle) for candle in page)
        wants_more = self._start_ms is not None or self._limit is not None
        if not wants_more or len(page) < self._page_size or self._enough():
            self._window = None
            return
        oldest = datetime_to_ms(page[0].ts)
        reached_start = self._start_ms is not None and oldest <= self._start_ms
        self._window = None if reached_start else (self._start_ms, oldest - 1)

    def _enough(self) -> bool:
        return self._limit is not None and len(self._by_ts) >= self._limit

    def candles(self) -> list[Candle]:
        """Every bar collected, oldest first, each time once."""
        ordered = [self._by_ts[ts] for ts in sorted(self._by_ts)]
        return ordered[-self._limit :] if self._limit is not None else ordered


def parse_kline_message(message: Mapping[str, Any]) -> list[KlineUpdate]:
    """A ``kline.{interval}.{symbol}`` stream message -> its bars, in the order sent."""
    topic = str(_field(message, "topic", "kline message"))
    parts = topic.split(".", 2)
    if len(parts) != 3 or parts[0] != "kline":
        msg = f"bybit stream: {topic!r} is not a kline topic"
        raise DataError(msg)
    _, code, symbol = parts
    timeframe = _timeframe_of_code(code)
    where = f"stream {topic}"
    data = _field(message, "data", where)
    if not isinstance(data, list):
        msg = f"bybit {where}: 'data' is not a list"
        raise DataError(msg)
    updates = []
    for bar in data:
        values = [_field(bar, key, where) for key in ("open", "high", "low", "close", "volume")]
        candle = _candle(symbol, timeframe, _field(bar, "start", where), values, where)
        updates.append(KlineUpdate(candle, bool(_field(bar, "confirm", where))))
    return updates


def parse_server_time(result: Mapping[str, Any]) -> datetime:
    """/v5/market/time ``result`` -> the exchange's clock (microsecond precision)."""
    nanos = int(_field(result, "timeNano", "server time"))
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=nanos // 1000)
