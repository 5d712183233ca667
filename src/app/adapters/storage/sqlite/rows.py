"""How domain values become rows and back: the SQL statements and the converters SqliteStorage runs.

Decimals are TEXT (``str(d)``: exact, ``Decimal("0.10")`` keeps its two places), datetimes ISO-8601 UTC TEXT
with microseconds (read back timezone-aware), enums their values. Event fields are JSON with Decimal,
datetime, date and enum values as strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
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
    "EVENT_INSERT",
    "EVENT_OF_KIND_SELECT",
    "EVENT_SELECT",
    "FILL_INSERT",
    "FILL_SELECT",
    "INTENT_INSERT",
    "INTENT_SELECT",
    "OPEN_ORDER_SELECT",
    "ORDER_INSERT",
    "ORDER_SELECT",
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
    "order_update",
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


def fields_json(fields: Mapping[str, Any]) -> str:
    return _FIELDS_ENCODER.encode(fields)


fields_from = json.loads

# Spelled out in full: every value is a bound parameter, and a reader sees each statement whole.
# Enum members are StrEnums: they bind as their TEXT value, so the hot path skips `.value` lookups.
ORDER_SELECT = (
    "SELECT client_order_id, strategy_id, asset, symbol, side, qty, order_type, status, created_at, "
    "updated_at, price, broker_order_id, filled_qty, avg_price, fee, reason, reduce_only FROM orders"
)
ORDER_INSERT = (
    "INSERT INTO orders (client_order_id, strategy_id, asset, symbol, side, qty, order_type, status, "
    "created_at, updated_at, price, broker_order_id, filled_qty, avg_price, fee, reason, reduce_only, closed) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# An order's new state, parameters as ORDER_INSERT's (the client order id moves to the end). Three spellings,
# so that `closed` (the open-orders index's key) is written only when it changes: most updates move an order
# between open states and leave the index alone.
_ORDER_SET = (
    "UPDATE orders SET strategy_id = ?, asset = ?, symbol = ?, side = ?, qty = ?, order_type = ?, status = ?, "
    "created_at = ?, updated_at = ?, price = ?, broker_order_id = ?, filled_qty = ?, avg_price = ?, fee = ?, "
    "reason = ?, reduce_only = ?"
)
ORDER_UPDATE_OPEN = _ORDER_SET + " WHERE client_order_id = ? AND closed = 0"
ORDER_UPDATE_REOPENED = _ORDER_SET + ", closed = 0 WHERE client_order_id = ?"
ORDER_UPDATE_CLOSED = _ORDER_SET + ", closed = 1 WHERE client_order_id = ?"
# Spelled exactly as the orders_open partial index, so that SQLite uses it.
OPEN_ORDER_SELECT = ORDER_SELECT + " WHERE closed = 0 ORDER BY seq"
INTENT_SELECT = (
    "SELECT client_order_id, strategy_id, asset, symbol, side, qty, order_type, price, stop_price, "
    "time_in_force, reduce_only, stop_loss, take_profit, created_at, note, reference_price, "
    "stop_loss_relative, take_profit_relative FROM intents "
    "WHERE seq = (SELECT seq FROM orders WHERE client_order_id = ?)"
)
INTENT_INSERT = (
    "INSERT INTO intents (seq, client_order_id, strategy_id, asset, symbol, side, qty, order_type, price, "
    "stop_price, time_in_force, reduce_only, stop_loss, take_profit, created_at, note, reference_price, "
    "stop_loss_relative, take_profit_relative) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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


def order_params(o: Order) -> Params:
    """ORDER_INSERT's parameters but the last (``closed``), which the caller adds: see ``order_update``."""
    return (
        o.client_order_id, o.strategy_id, o.asset, o.symbol, o.side, str(o.qty), o.order_type, o.status,
        ts_text(o.created_at), ts_text(o.updated_at), _text(o.price), o.broker_order_id,
        str(o.filled_qty), _text(o.avg_price), str(o.fee), o.reason, int(o.reduce_only),
    )  # fmt: skip


def order_update(params: Params) -> Params:
    """An ORDER_UPDATE_*'s parameters from ``order_params``: the client order id last."""
    return (*params[1:], params[0])


def new_order_params(i: OrderIntent, created: str) -> Params:
    """The order an intent starts as: status new, nothing filled."""
    return (
        i.client_order_id, i.strategy_id, i.asset, i.symbol, i.side, str(i.qty), i.order_type,
        OrderStatus.NEW, created, created, _text(i.price), "", "0", None, "0", "", int(i.reduce_only), 0,
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
    return (
        seq, i.client_order_id, i.strategy_id, i.asset, i.symbol, i.side, str(i.qty), i.order_type,
        _text(i.price), _text(i.stop_price), i.time_in_force, int(i.reduce_only), _text(i.stop_loss),
        _text(i.take_profit), created, i.note, None if a is None else str(a.reference_price),
        int(a is not None and a.stop_loss_relative), int(a is not None and a.take_profit_relative),
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
