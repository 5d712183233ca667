"""A loopback fake of Bybit V5: REST and WebSocket servers in threads on 127.0.0.1, free ports.

It answers with the documented payloads in ``shared/reference/bybit_v5`` (override the folder with
``BYBIT_V5_REFERENCE``), serves generated kline series that REST and the stream agree on, and injects
faults: 10006 with the documented rate-limit headers, HTTP 5xx, a delay past the client's timeout,
a dropped connection, a silent stretch of the kline stream. Time is the fake's own (``now``), moved
only by ``advance``. Point real pybit at it::

    with FakeBybit() as fake:
        session = pybit.unified_trading.HTTP()
        session.endpoint = fake.rest_url
        monkeypatch.setattr(pybit.unified_trading, "PUBLIC_WSS", fake.public_wss)

More endpoints: ``fake.route("POST", "/v5/order/create")(handler)`` or ``documented_route(...)``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import socket
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

__all__ = [
    "ApiError",
    "Delay",
    "DropConnection",
    "FakeBybit",
    "FakeRequest",
    "HttpStatus",
    "KlineSeries",
    "RateLimit",
    "Reply",
    "documented",
    "documented_instruments",
    "reference_dir",
]

_MINUTES = (1, 3, 5, 15, 30, 60, 120, 240, 360, 720)
INTERVAL_MS = {**{str(m): m * 60_000 for m in _MINUTES}, "D": 86_400_000, "W": 604_800_000}
RATE_LIMIT_MSG = "Too many visits. Exceeded the API Rate Limit."  # error_codes.tsv, code 10006


def reference_dir() -> Path:
    """The documented payloads: ``$BYBIT_V5_REFERENCE`` or ``<workspace>/shared/reference/bybit_v5``."""
    default = Path(__file__).resolve().parents[3] / "shared/reference/bybit_v5"
    return Path(os.environ.get("BYBIT_V5_REFERENCE") or default)


def documented(name: str, section: str = "response_examples") -> list[dict[str, Any]]:
    """The examples of one reference file (``"market__kline"``), "text" examples parsed too.

    ``section`` picks ``response_examples`` (REST answers) or ``stream_examples`` (pushes).
    """
    path = reference_dir() / f"{name}.json"
    if not path.is_file():
        msg = f"documented Bybit payload {path} is missing (set BYBIT_V5_REFERENCE)"
        raise FileNotFoundError(msg)
    examples = []
    for example in json.loads(path.read_text())[section]:
        if "text" not in example:
            examples.append(example)
            continue
        text, decoder, index = example["text"], json.JSONDecoder(), 0
        while (index := text.find("{", index)) >= 0:  # labelled or commented JSON objects
            body, index = decoder.raw_decode(text, index)
            examples.append(body)
    return examples


@dataclass(frozen=True)
class RateLimit:
    """Answer retCode 10006 with the limit headers; the limit resets ``reset_in_ms`` after ``now``."""

    reset_in_ms: int = 2000
    limit: int = 600


@dataclass(frozen=True)
class HttpStatus:
    status: int = 503


@dataclass(frozen=True)
class Delay:
    """Hold the answer ``seconds`` (wall time; cut short when the fake stops), then answer normally."""

    seconds: float


@dataclass(frozen=True)
class DropConnection:
    """Close the connection without answering."""


Fault = RateLimit | HttpStatus | Delay | DropConnection


@dataclass(frozen=True)
class FakeRequest:
    method: str
    path: str
    params: dict[str, str]
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass(frozen=True)
class Reply:
    """A route's full answer when ``result`` alone is not enough."""

    result: dict[str, Any]
    ret_code: int = 0
    ret_msg: str = "OK"
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """Raised by a route: answered as ``retCode``/``retMsg`` with HTTP 200, as Bybit does."""

    def __init__(self, code: int, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


Route = Callable[[FakeRequest], "dict[str, Any] | Reply"]


@dataclass(frozen=True)
class KlineSeries:
    """Deterministic bars from ``start_ms`` on: bar ``i`` depends only on the series and ``i``."""

    category: str
    symbol: str
    interval: str
    start_ms: int
    seed: int = 0
    base_price: float = 100.0

    @property
    def interval_ms(self) -> int:
        return INTERVAL_MS[self.interval]

    @property
    def topic(self) -> str:
        return f"kline.{self.interval}.{self.symbol}"

    def _close(self, index: int) -> float:
        if index < 0:
            return self.base_price
        noise = random.Random(f"{self.seed}:{self.symbol}:{self.interval}:{index}").uniform(-1, 1)
        return round(self.base_price * (1 + 0.02 * math.sin(index / 9) + 0.01 * noise), 2)

    def bar(self, index: int) -> list[str]:
        """The closed bar as /v5/market/kline lists it: start, open, high, low, close, volume, turnover."""
        rng = random.Random(f"{self.seed}:{self.symbol}:{self.interval}:{index}:shape")
        open_, close = self._close(index - 1), self._close(index)
        high, low = max(open_, close) + rng.uniform(0.01, 0.5), min(open_, close) - rng.uniform(0.01, 0.5)
        volume = rng.uniform(10, 100)
        start = self.start_ms + index * self.interval_ms
        return [
            str(start),
            f"{open_:.2f}",
            f"{high:.2f}",
            f"{low:.2f}",
            f"{close:.2f}",
            f"{volume:.4f}",
            f"{volume * close:.4f}",
        ]

    def partial(self, index: int) -> list[str]:
        """The bar while still open: halfway to its close, half its volume."""
        start, open_, _, _, close, volume, _ = self.bar(index)
        mid = (float(open_) + float(close)) / 2
        half = float(volume) / 2
        return [
            start,
            open_,
            f"{max(float(open_), mid):.2f}",
            f"{min(float(open_), mid):.2f}",
            f"{mid:.2f}",
            f"{half:.4f}",
            f"{half * mid:.4f}",
        ]

    def current(self, now_ms: int) -> int:
        """Index of the bar open at ``now_ms`` (-1 before the series starts)."""
        return (now_ms - self.start_ms) // self.interval_ms if now_ms >= self.start_ms else -1

    def stream_message(self, index: int, *, confirm: bool, now_ms: int) -> dict[str, Any]:
        row = self.bar(index) if confirm else self.partial(index)
        start = int(row[0])
        data = dict(zip(("open", "high", "low", "close", "volume", "turnover"), row[1:], strict=True))
        data |= {"start": start, "end": start + self.interval_ms - 1, "interval": self.interval}
        data |= {"confirm": confirm, "timestamp": now_ms}
        return {"topic": self.topic, "data": [data], "ts": now_ms, "type": "snapshot"}


class FakeBybit:
    """The fake exchange. Use as a context manager; every method is thread-safe.

    ``requests`` records every REST call, ``connections`` counts stream connections per channel;
    ``ack_delay`` (seconds, default 0.02) holds back subscription acks the way a network round trip would.
    """

    def __init__(self, *, now: datetime | None = None) -> None:
        market_time = documented("market__time")[0]["time"]
        self.now_ms = _ms(now) if now else int(market_time)
        self.requests: list[FakeRequest] = []
        self.instruments_by_category = _by_category(documented("market__instrument"))
        self.tickers_by_category = _by_category(documented("market__tickers"))
        # REST documents no linear ticker; the stream's linear snapshot has the same fields.
        self.tickers_by_category["linear"] = [documented("websocket_public__ticker")[0]["data"]]
        self._doc_klines = documented("market__kline")[0]
        self._series: dict[tuple[str, str, str], KlineSeries] = {}
        self._routes: dict[tuple[str, str], Route] = {}
        self._faults: dict[str, list[Fault]] = defaultdict(list)
        self._lock = threading.RLock()
        self._subscribed = threading.Condition(self._lock)
        self._subscriptions: Counter[str] = Counter()
        self._clients: dict[ServerConnection, tuple[str, set[str]]] = {}
        self.connections: Counter[str] = Counter()  # stream connections accepted, per channel
        self._stopping = threading.Event()
        self.ack_delay = 0.02
        self._threads: list[threading.Thread] = []
        self._http: ThreadingHTTPServer | None = None
        self._ws: Server | None = None
        self.route("GET", "/v5/market/time")(self._time)
        self.route("GET", "/v5/market/instruments-info")(self._instruments)
        self.route("GET", "/v5/market/tickers")(self._tickers)
        self.route("GET", "/v5/market/kline")(self._klines)

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> FakeBybit:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._ws = serve(self._serve_ws, "127.0.0.1", 0)
        for target in (lambda: self._http.serve_forever(poll_interval=0.05), self._ws.serve_forever):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._ws is not None:
            self._ws.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)

    @property
    def rest_url(self) -> str:
        assert self._http is not None, "start the fake first (with FakeBybit() as fake)"
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def ws_url(self) -> str:
        assert self._ws is not None, "start the fake first (with FakeBybit() as fake)"
        return f"ws://127.0.0.1:{self._ws.socket.getsockname()[1]}"

    @property
    def public_wss(self) -> str:
        """A value for ``pybit.unified_trading.PUBLIC_WSS`` (pybit fills in the channel type)."""
        return self.ws_url + "/v5/public/{CHANNEL_TYPE}"

    @property
    def private_wss(self) -> str:
        """A value for ``pybit.unified_trading.PRIVATE_WSS``."""
        return self.ws_url + "/v5/private"

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.now_ms / 1000, tz=UTC)

    # -- configuration -----------------------------------------------------------------------------
    def route(self, method: str, path: str) -> Callable[[Route], Route]:
        """Register (or replace) the handler of ``method path``; it returns ``result`` or a Reply."""

        def register(handler: Route) -> Route:
            self._routes[method.upper(), path] = handler
            return handler

        return register

    def documented_route(self, method: str, path: str, name: str, example: int = 0) -> None:
        """Answer ``method path`` with the ``result`` of a documented response example."""
        result = documented(name)[example]["result"]
        self.route(method, path)(lambda _request: result)

    def inject(self, path: str, fault: Fault, times: int = 1) -> None:
        """The next ``times`` requests to ``path`` meet ``fault`` instead of their answer."""
        with self._lock:
            self._faults[path].extend([fault] * times)

    def add_instrument(self, category: str, symbol: str, **fields: Any) -> dict[str, Any]:
        """Serve ``symbol`` in ``category``'s instruments-info: the category's first documented instrument with
        ``symbol``, its base coin (``symbol`` less the quote coin) and ``fields`` replaced. Returns the entry."""
        with self._lock:
            listed = self.instruments_by_category.setdefault(category, [])
            template = next(iter(documented_instruments(category)))
            quote = str(template["quoteCoin"])
            base = symbol.removesuffix(quote) if symbol.endswith(quote) and symbol != quote else symbol
            entry = {**json.loads(json.dumps(template)), "symbol": symbol, "baseCoin": base, **fields}
            listed[:] = [item for item in listed if item["symbol"] != symbol] + [entry]
        return entry

    def add_klines(
        self,
        category: str,
        symbol: str,
        interval: str,
        *,
        start: datetime,
        seed: int = 0,
        base_price: float = 100.0,
    ) -> KlineSeries:
        """Serve bars of ``symbol`` from ``start`` (floored to a bar boundary, as Bybit aligns them) up
        to ``now``, the last one still open."""
        step = INTERVAL_MS[interval]
        offset = 4 * INTERVAL_MS["D"] if interval == "W" else 0  # weekly bars open on Mondays
        start_ms = _ms(start) - (_ms(start) - offset) % step
        series = KlineSeries(category, symbol, interval, start_ms, seed, base_price)
        with self._lock:
            self._series[category, symbol, interval] = series
        return series

    def advance(self, delta: timedelta, *, push: bool = True) -> None:
        """Move time on. With ``push``, subscribers get each bar that closed (confirmed), then the open bar;
        without, the stream stays silent (a gap the client must fill through REST)."""
        with self._lock:
            before, self.now_ms = self.now_ms, self.now_ms + _ms_delta(delta)
            series = list(self._series.values())
        if not push:
            return
        for one in series:
            for index in range(max(one.current(before), 0), one.current(self.now_ms)):
                self.push(one.category, one.stream_message(index, confirm=True, now_ms=self.now_ms))
            if one.current(self.now_ms) >= 0:
                self._push_open_bar(one)

    def push(self, channel: str, message: dict[str, Any]) -> int:
        """Send ``message`` to every ``channel`` connection subscribed to its topic; returns how many."""
        with self._lock:
            targets = [
                c
                for c, (chan, topics) in self._clients.items()
                if chan == channel and message.get("topic") in topics
            ]
        sent = 0
        for connection in targets:
            with contextlib.suppress(ConnectionClosed):
                connection.send(json.dumps(message))
                sent += 1
        return sent

    def push_ticker(self, channel: str, symbol: str, **fields: str) -> int:
        """Push a ``tickers.{symbol}`` snapshot stamped with the fake's now: the documented spot ticker
        (``lastPrice``, no book) with ``fields`` replaced or added (``bid1Price="..."``)."""
        spot = next(
            e
            for e in documented("websocket_public__ticker")
            if not {"bid1Price", "bidPrice"} & set(e["data"])
        )
        data = {**spot["data"], "symbol": symbol, **fields}
        message = {**spot, "topic": f"tickers.{symbol}", "ts": self.now_ms, "data": data}
        return self.push(channel, message)

    def drop_websockets(self) -> int:
        """Cut every stream connection at the TCP level, with no close frame; returns how many."""
        with self._lock:
            connections = list(self._clients)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.socket.shutdown(socket.SHUT_RDWR)
        return len(connections)

    def wait_for_subscription(self, topic: str, count: int = 1, timeout: float = 10.0) -> None:
        """Block until ``topic`` was subscribed ``count`` times in all (reconnects subscribe again)."""
        with self._subscribed:
            if not self._subscribed.wait_for(lambda: self._subscriptions[topic] >= count, timeout):
                msg = f"{topic} subscribed {self._subscriptions[topic]} times, expected {count}"
                raise TimeoutError(msg)

    def requests_to(self, path: str) -> list[FakeRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # -- REST ----------------------------------------------------------------------------------------
    def handle_http(self, handler: _Handler, method: str) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        request = FakeRequest(
            method,
            url.path,
            {k: v[-1] for k, v in parse_qs(url.query).items()},
            json.loads(raw) if raw else {},
            dict(handler.headers),
        )
        with self._lock:
            self.requests.append(request)
            queue = self._faults.get(url.path)
            fault = queue.pop(0) if queue else None
        if isinstance(fault, DropConnection):
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        if isinstance(fault, Delay):
            self._stopping.wait(fault.seconds)
        if isinstance(fault, HttpStatus):
            handler.reply(fault.status, b"<html><body>upstream unavailable</body></html>", {}, "text/html")
            return
        if isinstance(fault, RateLimit):
            headers = _limit_headers(0, fault.limit, self.now_ms + fault.reset_in_ms)
            handler.reply(200, self._body({}, 10006, RATE_LIMIT_MSG), headers)
            return
        route = self._routes.get((method, url.path))
        if route is None:
            handler.reply(404, b"not found", {}, "text/plain")
            return
        try:
            answer = route(request)
        except ApiError as e:
            answer = Reply({}, e.code, e.message)
        reply = answer if isinstance(answer, Reply) else Reply(answer)
        headers = {**_limit_headers(599, 600, self.now_ms), **reply.headers}
        handler.reply(200, self._body(reply.result, reply.ret_code, reply.ret_msg), headers)

    def _body(self, result: dict[str, Any], code: int, message: str) -> bytes:
        body = {"retCode": code, "retMsg": message, "result": result, "retExtInfo": {}, "time": self.now_ms}
        return json.dumps(body).encode()

    def _time(self, _request: FakeRequest) -> dict[str, Any]:
        return {"timeSecond": str(self.now_ms // 1000), "timeNano": str(self.now_ms * 1_000_000)}

    def _instruments(self, request: FakeRequest) -> dict[str, Any]:
        category = request.params.get("category", "")
        items = _matching(self.instruments_by_category.get(category, []), request)
        if category == "spot":  # documented: spot does not paginate
            return {"category": category, "list": items, "nextPageCursor": ""}
        limit = int(request.params.get("limit", 500))
        offset = int(request.params.get("cursor", "page=0").removeprefix("page="))
        more = offset + limit < len(items)
        return {
            "category": category,
            "list": items[offset : offset + limit],
            "nextPageCursor": f"page={offset + limit}" if more else "",
        }

    def _tickers(self, request: FakeRequest) -> dict[str, Any]:
        category = request.params.get("category", "")
        items = _matching(self.tickers_by_category.get(category, []), request)
        return {"category": category, "list": items}

    def _klines(self, request: FakeRequest) -> dict[str, Any]:
        p = request.params
        category, symbol, interval = p.get("category", ""), p.get("symbol", ""), p.get("interval", "")
        limit = min(int(p.get("limit", 200)), 1000)
        start, end = int(p.get("start", 0)), int(p.get("end", self.now_ms))
        series = self._series.get((category, symbol, interval))
        doc = self._doc_klines["result"]
        if series is not None:
            current = series.current(self.now_ms)
            first = max(0, -(-(start - series.start_ms) // series.interval_ms))
            last = min(current, (end - series.start_ms) // series.interval_ms)
            rows = [series.bar(i) if i < current else series.partial(i) for i in range(last, first - 1, -1)]
        elif (category, symbol, interval) == (doc["category"], doc["symbol"], "60"):
            rows = [row for row in doc["list"] if start <= int(row[0]) <= end]
        else:
            raise ApiError(10001, f"Not supported symbols: {symbol}")
        return {"category": category, "symbol": symbol, "list": rows[:limit]}

    # -- WebSocket -----------------------------------------------------------------------------------
    def _serve_ws(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        channel = connection.request.path.rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            self._clients[connection] = (channel, set())
            self.connections[channel] += 1
        try:
            for raw in connection:
                self._on_ws_message(connection, channel, json.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._clients.pop(connection, None)

    def _on_ws_message(self, connection: ServerConnection, channel: str, message: dict[str, Any]) -> None:
        op, req_id = message.get("op"), message.get("req_id", "")
        ack = {"success": True, "ret_msg": "", "conn_id": str(uuid.uuid4()), "req_id": req_id, "op": op}
        if op == "ping":
            connection.send(json.dumps({**ack, "ret_msg": "pong", "op": "pong"}))
            return
        topics = list(message.get("args") or [])
        with self._lock:
            subscribed = self._clients[connection][1]
            if op == "subscribe":
                subscribed.update(topics)
            elif op == "unsubscribe":
                subscribed.difference_update(topics)
        # pybit records a subscription only after sending it; an instant ack finds no record, and
        # pybit then closes the socket. Real acks take a network round trip.
        self._stopping.wait(self.ack_delay)
        connection.send(json.dumps({**ack, "ret_msg": op if op != "auth" else ""}))
        if op != "subscribe":
            return
        for series in list(self._series.values()):
            if series.category == channel and series.topic in topics and series.current(self.now_ms) >= 0:
                self._push_open_bar(series, connection)
        with self._subscribed:
            self._subscriptions.update(topics)
            self._subscribed.notify_all()

    def _push_open_bar(self, series: KlineSeries, connection: ServerConnection | None = None) -> None:
        message = series.stream_message(series.current(self.now_ms), confirm=False, now_ms=self.now_ms)
        if connection is None:
            self.push(series.category, message)
        else:
            with contextlib.suppress(ConnectionClosed):
                connection.send(json.dumps(message))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FakeBybit

    def do_GET(self) -> None:
        self.owner.handle_http(self, "GET")

    def do_POST(self) -> None:
        self.owner.handle_http(self, "POST")

    def reply(
        self, status: int, body: bytes, headers: dict[str, str], kind: str = "application/json"
    ) -> None:
        try:
            self.send_response(status)
            for name, value in {"Content-Type": kind, "Content-Length": str(len(body)), **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (its timeout) before the answer
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


def documented_instruments(category: str) -> list[dict[str, Any]]:
    """The documented instruments-info entries of ``category`` (spot, linear, option)."""
    found = _by_category(documented("market__instrument")).get(category)
    if not found:
        msg = f"the reference documents no {category} instrument"
        raise KeyError(msg)
    return found


def _matching(items: list[dict[str, Any]], request: FakeRequest) -> list[dict[str, Any]]:
    wanted = request.params.get("symbol")
    return [item for item in items if wanted in (None, item["symbol"])]


def _by_category(examples: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for example in examples:
        found[example["result"]["category"]].extend(example["result"]["list"])
    return dict(found)


def _limit_headers(remaining: int, limit: int, reset_ms: int) -> dict[str, str]:
    """The documented rate-limit headers; the reset is "now" unless the limit was exceeded."""
    return {
        "X-Bapi-Limit-Status": str(remaining),
        "X-Bapi-Limit": str(limit),
        "X-Bapi-Limit-Reset-Timestamp": str(reset_ms),
    }


def _ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _ms_delta(delta: timedelta) -> int:
    return delta // timedelta(milliseconds=1)
