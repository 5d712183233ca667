"""Read models for the CLI and the TUI: the store's state as plain JSON-ready dictionaries."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import attrs

from app.domain.positions import apply_fill
from app.domain.values import Asset, ClosedTrade, Position
from app.ports.storage import Storage

__all__ = ["rebuild_report", "status_report", "trades_report"]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _row(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    data = attrs.asdict(obj, recurse=False)
    return {name: _plain(data[name]) for name in fields}


ORDER_FIELDS = (
    "client_order_id",
    "strategy_id",
    "asset",
    "symbol",
    "side",
    "order_type",
    "qty",
    "status",
    "filled_qty",
    "avg_price",
    "fee",
    "reason",
    "created_at",
    "updated_at",
)
TRADE_FIELDS = (
    "strategy_id",
    "asset",
    "symbol",
    "side",
    "qty",
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "fees",
    "pnl",
    "exit_reason",
)
POSITION_FIELDS = (
    "asset",
    "symbol",
    "qty",
    "avg_price",
    "stop_loss",
    "take_profit",
    "strategy_id",
    "opened_at",
)


def status_report(store: Storage) -> dict[str, Any]:
    """Per asset: cash, equity (as the broker last valued them), open positions, closed trades."""
    positions = store.positions()
    trades = store.trades()
    open_count = Counter(p.asset for p in positions)
    trade_count = Counter(t.asset for t in trades)
    rows = []
    for account in sorted(store.accounts(), key=lambda a: list(Asset).index(a.asset)):
        rows.append(
            {
                "asset": account.asset.value,
                "currency": account.currency,
                "cash": _plain(account.cash.quantize(Decimal("0.01"))),
                "equity": _plain(account.equity.quantize(Decimal("0.01"))),
                "realized_pnl": _plain(account.realized_pnl.quantize(Decimal("0.01"))),
                "open_positions": open_count[account.asset],
                "trades": trade_count[account.asset],
                "as_of": _plain(account.ts),
            }
        )
    return {
        "assets": rows,
        "positions": [_row(p, POSITION_FIELDS) for p in positions],
        "open_orders": len(store.orders(open_only=True)),
        "trades": len(trades),
    }


def trades_report(store: Storage) -> dict[str, Any]:
    """Every order in creation order and every closed trade."""
    orders = []
    for order in store.orders():
        row = _row(order, ORDER_FIELDS)
        intent = store.intent(order.client_order_id)
        row["note"] = intent.note if intent is not None else ""
        row["stop_loss"] = _plain(intent.stop_loss) if intent is not None else None
        row["take_profit"] = _plain(intent.take_profit) if intent is not None else None
        orders.append(row)
    return {
        "orders": orders,
        "trades": [_row(t, TRADE_FIELDS) for t in store.trades()],
    }


def rebuild_report(store: Storage) -> dict[str, Any]:
    """Rebuild positions and closed trades from the journal's fills and compare them with the stored state.

    Fills are replayed in journal order through the same position arithmetic the reconciler uses; every
    difference is listed. ``consistent`` is True when the rebuilt state equals the stored one.
    """
    positions: dict[tuple[Asset, str], Position] = {}
    trades: list[ClosedTrade] = []
    for fill in store.fills():
        intent = store.intent(fill.client_order_id)
        order = store.get_order(fill.client_order_id)
        reason = intent.note if intent is not None else (order.reason if order else "") or "signal"
        strategy = intent.strategy_id if intent is not None else (order.strategy_id if order else "")
        key = (fill.asset, fill.symbol)
        change = apply_fill(positions.get(key), fill, strategy_id=strategy, exit_reason=reason)
        if change.position is None:
            positions.pop(key, None)
        else:
            positions[key] = change.position
        if change.closed is not None:
            trades.append(change.closed)
    stored = {(p.asset, p.symbol): p for p in store.positions()}
    problems = []
    for key in sorted(stored.keys() | positions.keys(), key=lambda k: (k[0].value, k[1])):
        want, have = positions.get(key), stored.get(key)
        if (want is None) != (have is None) or (
            want is not None and have is not None and (want.qty, want.avg_price) != (have.qty, have.avg_price)
        ):
            problems.append(
                f"position {key[0].value} {key[1]}: rebuilt "
                f"{(want.qty, want.avg_price) if want else 'flat'} vs stored "
                f"{(have.qty, have.avg_price) if have else 'flat'}"
            )
    stored_trades = list(store.trades())
    if stored_trades != trades:
        problems.append(f"closed trades: rebuilt {len(trades)} vs stored {len(stored_trades)} differ")
    return {
        "consistent": not problems,
        "fills": len(store.fills()),
        "positions": len(positions),
        "trades": len(trades),
        "problems": problems,
    }
