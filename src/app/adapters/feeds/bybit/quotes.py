"""Bybit's public ticker stream (``tickers.{symbol}``) as Quote values.

pybit merges the stream's delta messages into the last snapshot before it calls back, so every message
carries a whole ticker. Derivative tickers quote the book as ``bid1Price``/``ask1Price``, option tickers as
``bidPrice``/``askPrice``; spot tickers carry ``lastPrice`` and no book. A side that is absent, empty or not
above zero (an option with nobody bidding) is quoted at the last price, as data_manager does for a quote
taken from a bar: the spread is then unknown, never invented. Messages cross from pybit's thread into trio
through a bounded channel; when it is full, messages are dropped and counted (the next ticker supersedes).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any, Protocol

import attrs
import trio

from app.adapters.feeds.bybit.parsing import ms_to_datetime
from app.domain.values import Quote
from app.ports.errors import DataError

__all__ = ["QuoteStats", "TickerSocket", "parse_ticker_message", "stream_quotes"]

logger = logging.getLogger(__name__)

Message = Mapping[str, Any]
_BIDS = ("bid1Price", "bidPrice")
_ASKS = ("ask1Price", "askPrice")


class TickerSocket(Protocol):
    """A connected public stream (blocking calls: run them in a worker thread)."""

    def subscribe_tickers(self, symbols: Sequence[str], callback: Callable[[Message], None]) -> None:
        """Subscribe to ``tickers.{symbol}``; ``callback`` runs in the socket's thread."""
        ...

    def close(self) -> None: ...


@attrs.define
class QuoteStats:
    """What the ticker stream lost: messages dropped on a full buffer, or unreadable."""

    dropped_messages: int = 0
    malformed_messages: int = 0


def parse_ticker_message(message: Message) -> Quote:
    """One ticker push -> Quote (sides missing from the book are quoted at the last price).

    Raises DataError when the message has no symbol, timestamp or last price.
    """
    data = message.get("data")
    if not isinstance(data, Mapping) or not data.get("symbol") or message.get("ts") is None:
        msg = f"bybit ticker: no data, symbol or ts in {message.get('topic')!r}"
        raise DataError(msg)
    last = _price(data, ("lastPrice",))
    if last is None:
        msg = f"bybit ticker {data['symbol']}: no usable lastPrice ({data.get('lastPrice')!r})"
        raise DataError(msg)
    bid, ask = _price(data, _BIDS), _price(data, _ASKS)
    try:
        ts = ms_to_datetime(message["ts"])
    except (TypeError, ValueError):
        msg = f"bybit ticker {data['symbol']}: ts is not epoch milliseconds: {message['ts']!r}"
        raise DataError(msg) from None
    return Quote(
        str(data["symbol"]), ts, bid if bid is not None else last, ask if ask is not None else last, last
    )


def _price(data: Mapping[str, Any], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        try:
            value = float(data.get(key) or "nan")
        except (TypeError, ValueError):
            continue
        if value > 0:  # also false for NaN
            return value
    return None


async def stream_quotes(
    connect: Callable[[str], TickerSocket],
    category: str,
    symbols: Sequence[str],
    *,
    buffer: int,
    stats: QuoteStats,
) -> AsyncGenerator[Quote, None]:
    """Quotes of ``symbols`` as the ticker stream pushes them; the socket closes when iteration stops.

    Raises BrokerUnavailable (from ``connect``) when the stream cannot be opened; after that, pybit's own
    reconnection keeps it going.
    """
    send, receive = trio.open_memory_channel[Message](buffer)
    token = trio.lowlevel.current_trio_token()

    def deliver(message: Message) -> None:
        try:
            send.send_nowait(message)
        except trio.WouldBlock:
            stats.dropped_messages += 1
        except trio.ClosedResourceError:
            pass

    def on_message(message: Message) -> None:
        # Runs in pybit's thread; it must never raise there (pybit would close the socket).
        with contextlib.suppress(trio.RunFinishedError):
            trio.from_thread.run_sync(deliver, message, trio_token=token)

    wanted = frozenset(symbols)
    socket = await trio.to_thread.run_sync(connect, category)
    try:
        await trio.to_thread.run_sync(socket.subscribe_tickers, list(symbols), on_message)
        while True:
            message = await receive.receive()
            try:
                quote = parse_ticker_message(message)
            except DataError as e:
                stats.malformed_messages += 1
                logger.warning("skipping an unreadable bybit ticker message: %s", e)
                continue
            if quote.symbol in wanted:
                yield quote
    finally:
        send.close()
        receive.close()
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(socket.close)
