"""How domain values become rows and back: the SQL statements and the converters SqliteStorage runs.

Decimals are TEXT (``str(d)``: exact, ``Decimal("0.10")`` keeps its two places), datetimes ISO-8601 UTC TEXT
with microseconds (read back timezone-aware), enums their values. Event fields are JSON with Decimal,
datetime, date and enum values as strings.
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from app.domain.values import (
    AccountSnapshot,
    Asset,
    ClosedTrade,
    Fill,
    Liquidity,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Position,
    Side,
    SlTpAnchor,
    TimeInForce,
)

__all__ = [
    "ACCOUNT_SELECT",
    "ACCOUNT_UPSERT",
    "BY_CLIENT_ID",
    "EVENT_INSERT",
    "EVENT_OF_KIND_SELECT",
    "EVENT_SELECT",
    "FILL_INSERT",
    "FILL_SELECT",
    "INTENT_INSERT",
    "INTENT_SELECT",
    "NEW_ORDER_INSERT",
    "OPEN_ORDER_SELECT",
    "ORDER_INSERT",
    "ORDER_OF_CLIENT_ID_SELECT",
    "ORDER_SELECT",
    "ORDER_SEQ_TOP",
    "ORDER_UPDATE_CLOSED",
    "ORDER_UPDATE_OPEN",
    "ORDER_UPDATE_REOPENED",
    "POSITION_SELECT",
    "POSITION_UPSERT",
    "TRADE_INSERT",
    "TRADE_SELECT",
    "Refused",
    "account_from",
    "account_params",
    "fields_from",
    "fields_json",
    "fill_from",
    "fill_params",
    "intent_from",
    "intent_params",
    "new_order_params",
    "order_from",
    "order_params",
    "position_from",
    "position_params",
    "trade_from",
    "trade_params",
    "ts_from",
    "ts_text",
]


class Refused(ValueError):
    """A write the store refuses: a duplicate client id, a naive datetime, a value JSON cannot hold."""


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


# Recent UTC times -> their text. An order's writes share a few instants (the clock's now, the bar's time),
# and isoformat is one of the dearer calls on the hot path. Only datetimes in UTC itself are kept: for them
# equality is equality of instants, which is not so within one zone with a repeated (fold) hour.
_TS_TEXTS: dict[datetime, str] = {}
_TS_TEXTS_MAX = 64


def ts_text(value: datetime) -> str:
    """ISO-8601 in UTC with microseconds; a naive datetime is Refused (its zone would be a guess)."""
    if value.tzinfo is UTC:
        text = _TS_TEXTS.get(value)
        if text is None:
            if len(_TS_TEXTS) >= _TS_TEXTS_MAX:
                _TS_TEXTS.clear()
            text = _TS_TEXTS[value] = value.isoformat(timespec="microseconds")
        return text
    offset = value.utcoffset()
    if offset is None:
        msg = f"timestamps must be timezone-aware, got {value!r}"
        raise Refused(msg)
    if offset:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


ts_from = datetime.fromisoformat


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return ts_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    msg = f"event field of type {type(value).__name__} cannot be stored as JSON"
    raise Refused(msg)


# What json.dumps(fields, default=_json_default, separators=(",", ":")) builds on every call, built once.
_FIELDS_ENCODER = json.JSONEncoder(default=_json_default, separators=(",", ":"))
# JSONEncoder.encode builds its C encoder anew on every call (~4 us of a journal entry's ~8): the same C
# encoder with the same settings, built once. Without the circular-reference markers: fields are plain
# values the services build, never a structure that contains itself.
_C_MAKE_ENCODER: Callable[..., Callable[[object, int], Iterable[str]]] | None = getattr(
    json.encoder, "c_make_encoder", None
)
_FIELDS_CHUNKS = (
    _C_MAKE_ENCODER(
        None, _json_default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True
    )
    if _C_MAKE_ENCODER is not None
    else None
)


def fields_json(fields: Mapping[str, Any]) -> str:
    if _FIELDS_CHUNKS is None:  # an interpreter without json's C accelerator
        return _FIELDS_ENCODER.encode(fields)
    return "".join(_FIELDS_CHUNKS(fields, 0))


fields_from = json.loads

# Spelled out in full: every value is a bound parameter, and a reader sees each statement whole.
#
# The order path's statements (orders, intents) are spelled for cheap binding, measured with Python 3.11's
# sqlite3 (docs/decisions/0002): only an exact str, int or float binds directly; anything else (None, a
# StrEnum member) first goes through sqlite3's adapter lookup, ~3x the cost of a str. So enum members are
# passed as `str(member)` (a StrEnum's str is its value), an optional Decimal as its text or '' (no Decimal's
# text is empty) and turned back into NULL by `NULLIF(?, '')` in the statement, and the constant columns of a
# new order are literals.
#
# An order is found by its client id through `orders_by_client_id`, keyed on the id's last 8 characters
# first (BY_CLIENT_ID, spelled as the index so that SQLite uses it; schema.py, migration 6).
ORDER_SELECT = (
    "SELECT client_order_id, strategy_id, asset, symbol, side, qty, order_type, status, created_at, "
    "updated_at, price, broker_order_id, filled_qty, avg_price, fee, reason, reduce_only FROM orders"
)
# The client id is parameter ?1. The CAST (a no-op on the TEXT id) keeps SQLite's constant propagation in a
# SELECT from rewriting `substr(client_order_id, -8)` into `substr(?1, -8)`, which no longer matches the index
# (the UPDATEs are not rewritten); tests/adapters/storage/test_sqlite_client_id_index.py checks the plans.
BY_CLIENT_ID = "substr(client_order_id, -8) = substr(?1, -8) AND client_order_id = CAST(?1 AS TEXT)"
ORDER_INSERT = (
    "INSERT INTO orders (client_order_id, strategy_id, asset, symbol, side, qty, order_type, status, "
    "created_at, updated_at, price, broker_order_id, filled_qty, avg_price, fee, reason, reduce_only, closed) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULLIF(?, ''), ?, ?, NULLIF(?, ''), ?, ?, ?, ?)"
)
# The order an intent starts as: status new, nothing filled (parameters: new_order_params), at a given seq
# (?11). A batch of intents takes the seqs SQLite would have given one by one (the next above the largest),
# so one executemany writes the batch's order rows and the intents are keyed by them without a lastrowid each.
NEW_ORDER_INSERT = (
    "INSERT INTO orders (seq, client_order_id, strategy_id, asset, symbol, side, qty, order_type, status, "
    "created_at, updated_at, price, broker_order_id, filled_qty, avg_price, fee, reason, reduce_only, closed) "
    "VALUES (?11, ?1, ?2, ?3, ?4, ?5, ?6, ?7, 'new', ?8, ?8, NULLIF(?9, ''), '', '0', NULL, '0', '', ?10, 0)"
)
ORDER_SEQ_TOP = "SELECT max(seq) FROM orders"
# An order's new state, parameters as ORDER_INSERT's but `closed` (the client order id stays first, ?1).
# Three spellings, so that `closed` (the open-orders index's key) is written only when it changes: most
# updates move an order between open states and leave the index alone.
_ORDER_SET = (
    "UPDATE orders SET strategy_id = ?2, asset = ?3, symbol = ?4, side = ?5, qty = ?6, order_type = ?7, "
    "status = ?8, created_at = ?9, updated_at = ?10, price = NULLIF(?11, ''), broker_order_id = ?12, "
    "filled_qty = ?13, avg_price = NULLIF(?14, ''), fee = ?15, reason = ?16, reduce_only = ?17"
)
ORDER_UPDATE_OPEN = _ORDER_SET + f" WHERE {BY_CLIENT_ID} AND closed = 0"
ORDER_UPDATE_REOPENED = _ORDER_SET + f", closed = 0 WHERE {BY_CLIENT_ID}"
ORDER_UPDATE_CLOSED = _ORDER_SET + f", closed = 1 WHERE {BY_CLIENT_ID}"
ORDER_OF_CLIENT_ID_SELECT = ORDER_SELECT + " WHERE " + BY_CLIENT_ID
# Spelled exactly as the orders_open partial index, so that SQLite uses it.
OPEN_ORDER_SELECT = ORDER_SELECT + " WHERE closed = 0 ORDER BY seq"
_INTENT_COLUMNS = (
    "SELECT client_order_id, strategy_id, asset, symbol, side, qty, order_type, price, stop_price, "
    "time_in_force, reduce_only, stop_loss, take_profit, created_at, note, reference_price, "
    "stop_loss_relative, take_profit_relative FROM intents"
)
# Constant pieces only (no value is formatted in: the client id is the bound ?1), so S608 does not apply.
INTENT_SELECT = _INTENT_COLUMNS + " WHERE seq = (SELECT seq FROM orders WHERE " + BY_CLIENT_ID + ")"  # noqa: S608
INTENT_INSERT = (
    "INSERT INTO intents (seq, client_order_id, strategy_id, asset, symbol, side, qty, order_type, price, "
    "stop_price, time_in_force, reduce_only, stop_loss, take_profit, created_at, note, reference_price, "
    "stop_loss_relative, take_profit_relative) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULLIF(?, ''), NULLIF(?, ''), ?, ?, NULLIF(?, ''), NULLIF(?, ''), ?, ?, "
    "NULLIF(?, ''), ?, ?)"
)
FILL_SELECT = (
    "SELECT fill_id, client_order_id, asset, symbol, side, qty, price, fee, fee_currency, ts, liquidity "
    "FROM fills"
)
FILL_INSERT = (
    "INSERT INTO fills (fill_id, client_order_id, asset, symbol, side, qty, price, fee, fee_currency, "
    "ts, liquidity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fill_id) DO NOTHING"
)
POSITION_SELECT = (
    "SELECT asset, symbol, qty, avg_price, opened_at, strategy_id, stop_loss, take_profit, entry_fees, "
    "funding FROM positions ORDER BY asset, symbol"
)
POSITION_UPSERT = (
    "INSERT OR REPLACE INTO positions (asset, symbol, qty, avg_price, opened_at, strategy_id, "
    "stop_loss, take_profit, entry_fees, funding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
TRADE_SELECT = (
    "SELECT strategy_id, asset, symbol, side, qty, entry_time, exit_time, entry_price, exit_price, "
    "fees, pnl, exit_reason, funding FROM trades ORDER BY id"
)
TRADE_INSERT = (
    "INSERT INTO trades (strategy_id, asset, symbol, side, qty, entry_time, exit_time, entry_price, "
    "exit_price, fees, pnl, exit_reason, funding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
ACCOUNT_SELECT = "SELECT asset, currency, cash, equity, realized_pnl, ts FROM accounts ORDER BY asset"
ACCOUNT_UPSERT = (
    "INSERT OR REPLACE INTO accounts (asset, currency, cash, equity, realized_pnl, ts) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
EVENT_INSERT = "INSERT INTO events (ts, kind, fields) VALUES (?, ?, ?)"
EVENT_SELECT = "SELECT seq, ts, kind, fields FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
EVENT_OF_KIND_SELECT = (
    "SELECT seq, ts, kind, fields FROM events WHERE kind = ? AND seq > ? ORDER BY seq LIMIT ?"
)

Params = tuple[object, ...]


def _bound(value: Decimal | None) -> str:
    """An optional Decimal for a `NULLIF(?, '')` parameter: its text, or '' for None (see above)."""
    return "" if value is None else str(value)


def order_params(o: Order) -> Params:
    """An ORDER_UPDATE_*'s parameters, and ORDER_INSERT's but the last (``closed``), which the caller adds."""
    return (
        o.client_order_id, o.strategy_id, str(o.asset), o.symbol, str(o.side), str(o.qty), str(o.order_type),
        str(o.status), ts_text(o.created_at), ts_text(o.updated_at), _bound(o.price), o.broker_order_id,
        str(o.filled_qty), _bound(o.avg_price), str(o.fee), o.reason, int(o.reduce_only),
    )  # fmt: skip


def new_order_params(seq: int, i: OrderIntent, created: str) -> Params:
    """NEW_ORDER_INSERT's parameters: the order an intent starts as, at ``seq``."""
    return (
        i.client_order_id, i.strategy_id, str(i.asset), i.symbol, str(i.side), str(i.qty), str(i.order_type),
        created, _bound(i.price), int(i.reduce_only), seq,
    )  # fmt: skip


def order_from(r: Sequence[Any]) -> Order:
    return Order(
        client_order_id=r[0], strategy_id=r[1], asset=Asset(r[2]), symbol=r[3], side=Side(r[4]),
        qty=Decimal(r[5]), order_type=OrderType(r[6]), status=OrderStatus(r[7]),
        created_at=ts_from(r[8]), updated_at=ts_from(r[9]), price=_dec(r[10]), broker_order_id=r[11],
        filled_qty=Decimal(r[12]), avg_price=_dec(r[13]), fee=Decimal(r[14]), reason=r[15],
        reduce_only=bool(r[16]),
    )  # fmt: skip


def intent_params(seq: int, i: OrderIntent, created: str) -> Params:
    """INTENT_INSERT's parameters: ``seq`` is the intent's order row's."""
    a = i.anchor
    if a is None:
        anchor: Params = ("", 0, 0)
    else:
        anchor = (str(a.reference_price), int(a.stop_loss_relative), int(a.take_profit_relative))
    return (
        seq, i.client_order_id, i.strategy_id, str(i.asset), i.symbol, str(i.side), str(i.qty),
        str(i.order_type), _bound(i.price), _bound(i.stop_price), str(i.time_in_force), int(i.reduce_only),
        _bound(i.stop_loss), _bound(i.take_profit), created, i.note, *anchor,
    )  # fmt: skip


def intent_from(r: Sequence[Any]) -> OrderIntent:
    anchor = None if r[15] is None else SlTpAnchor(Decimal(r[15]), bool(r[16]), bool(r[17]))
    return OrderIntent(
        client_order_id=r[0], strategy_id=r[1], asset=Asset(r[2]), symbol=r[3], side=Side(r[4]),
        qty=Decimal(r[5]), order_type=OrderType(r[6]), price=_dec(r[7]), stop_price=_dec(r[8]),
        time_in_force=TimeInForce(r[9]), reduce_only=bool(r[10]), stop_loss=_dec(r[11]),
        take_profit=_dec(r[12]), created_at=ts_from(r[13]), note=r[14], anchor=anchor,
    )  # fmt: skip


def fill_params(f: Fill) -> Params:
    return (
        f.fill_id, f.client_order_id, f.asset, f.symbol, f.side, str(f.qty), str(f.price), str(f.fee),
        f.fee_currency, ts_text(f.ts), f.liquidity,
    )  # fmt: skip


def fill_from(r: Sequence[Any]) -> Fill:
    return Fill(
        fill_id=r[0], client_order_id=r[1], asset=Asset(r[2]), symbol=r[3], side=Side(r[4]),
        qty=Decimal(r[5]), price=Decimal(r[6]), fee=Decimal(r[7]), fee_currency=r[8],
        ts=ts_from(r[9]), liquidity=Liquidity(r[10]),
    )  # fmt: skip


def position_params(p: Position) -> Params:
    return (
        p.asset, p.symbol, str(p.qty), str(p.avg_price), ts_text(p.opened_at), p.strategy_id,
        _text(p.stop_loss), _text(p.take_profit), str(p.entry_fees), str(p.funding),
    )  # fmt: skip


def position_from(r: Sequence[Any]) -> Position:
    return Position(
        asset=Asset(r[0]), symbol=r[1], qty=Decimal(r[2]), avg_price=Decimal(r[3]),
        opened_at=ts_from(r[4]), strategy_id=r[5], stop_loss=_dec(r[6]), take_profit=_dec(r[7]),
        entry_fees=Decimal(r[8]), funding=Decimal(r[9]),
    )  # fmt: skip


def trade_params(t: ClosedTrade) -> Params:
    return (
        t.strategy_id, t.asset, t.symbol, t.side, str(t.qty), ts_text(t.entry_time),
        ts_text(t.exit_time), str(t.entry_price), str(t.exit_price), str(t.fees), str(t.pnl),
        t.exit_reason, str(t.funding),
    )  # fmt: skip


def trade_from(r: Sequence[Any]) -> ClosedTrade:
    return ClosedTrade(
        strategy_id=r[0], asset=Asset(r[1]), symbol=r[2], side=Side(r[3]), qty=Decimal(r[4]),
        entry_time=ts_from(r[5]), exit_time=ts_from(r[6]), entry_price=Decimal(r[7]),
        exit_price=Decimal(r[8]), fees=Decimal(r[9]), pnl=Decimal(r[10]), exit_reason=r[11],
        funding=Decimal(r[12]),
    )  # fmt: skip


def account_params(a: AccountSnapshot) -> Params:
    return (a.asset, a.currency, str(a.cash), str(a.equity), str(a.realized_pnl), ts_text(a.ts))


def account_from(r: Sequence[Any]) -> AccountSnapshot:
    return AccountSnapshot(
        asset=Asset(r[0]), currency=r[1], cash=Decimal(r[2]), equity=Decimal(r[3]),
        realized_pnl=Decimal(r[4]), ts=ts_from(r[5]),
    )  # fmt: skip
