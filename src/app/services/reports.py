"""Read models for the CLI and the TUI: the store's state as plain JSON-ready dictionaries.

``rebuild_report`` replays the journal (fills, funding payments, the paper session's start and top-ups) the
way the paper venue books them and compares the result with the stored state: positions (with the funding
settled on them), closed trades and, where the journal can value it, each asset's cash.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import attrs

from app.domain.positions import apply_fill, book_funding
from app.domain.symbols import split_symbol
from app.domain.values import AccountSnapshot, Asset, ClosedTrade, Fill, Position, same_currency
from app.ports.storage import JournalEvent, Storage

__all__ = ["rebuild_report", "status_report", "trades_report"]

CENT = Decimal("0.01")
# Rebuilt and stored cash agree within this (the venue rounds each booking to 1e-16).
CASH_TOLERANCE = Decimal("0.00000001")


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
    "funding",
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
    "funding",
)


@attrs.define
class _FundingTotal:
    """An asset's funding in its bucket's currency: ``paid`` and ``received`` are both positive."""

    paid: Decimal = Decimal(0)
    received: Decimal = Decimal(0)
    payments: int = 0
    unvalued: int = 0


def _funding_totals(store: Storage, accounts: Iterable[AccountSnapshot]) -> dict[str, _FundingTotal]:
    currency = {a.asset.value: a.currency for a in accounts}
    totals: dict[str, _FundingTotal] = defaultdict(_FundingTotal)
    for _, _, _, fields in store.events(kind="funding"):
        total = totals[fields["asset"]]
        total.payments += 1
        value = fields.get("value")
        if value is None and same_currency(fields["currency"], currency.get(fields["asset"], "")):
            value = fields["amount"]
        if value is None:
            total.unvalued += 1
            continue
        amount = Decimal(value)
        if amount >= 0:
            total.paid += amount
        else:
            total.received -= amount
    return totals


def status_report(store: Storage) -> dict[str, Any]:
    """Per asset: cash, equity (as the broker last valued them), open positions, closed trades, and the
    perpetual funding paid and received (in the bucket's currency; ``funding_unvalued`` counts payments the
    broker had no rate for, when there are any)."""
    positions = store.positions()
    trades = store.trades()
    accounts = sorted(store.accounts(), key=lambda a: list(Asset).index(a.asset))
    open_count = Counter(p.asset for p in positions)
    trade_count = Counter(t.asset for t in trades)
    funding = _funding_totals(store, accounts)
    rows = []
    for account in accounts:
        paid = funding.get(account.asset.value, _FundingTotal())
        row = {
            "asset": account.asset.value,
            "currency": account.currency,
            "cash": _plain(account.cash.quantize(CENT)),
            "equity": _plain(account.equity.quantize(CENT)),
            "realized_pnl": _plain(account.realized_pnl.quantize(CENT)),
            "open_positions": open_count[account.asset],
            "trades": trade_count[account.asset],
            "funding_paid": _plain(paid.paid.quantize(CENT)),
            "funding_received": _plain(paid.received.quantize(CENT)),
            "funding_payments": paid.payments,
            "as_of": _plain(account.ts),
        }
        if paid.unvalued:
            row["funding_unvalued"] = paid.unvalued
        rows.append(row)
    return {
        "assets": rows,
        "positions": [_row(p, POSITION_FIELDS) for p in positions],
        "open_orders": len(store.orders(open_only=True)),
        "trades": len(trades),
    }


def trades_report(store: Storage) -> dict[str, Any]:
    """Every order in creation order and every closed trade (in its contract's quote currency: ``pnl`` is net
    of ``fees`` and includes the perpetual ``funding`` settled while it was open, received positive).

    An order's ``stop_loss``/``take_profit`` are what its intent asked for, measured from ``reference_price``
    (the signal's price); ``attached_stop_loss``/``attached_take_profit`` what sl_tp_manager set once it
    filled (moved to its fill price), or None before that.
    """
    attached = {fields["client_order_id"]: fields for _, _, _, fields in store.events(kind="sl_tp_attached")}
    orders = []
    for order in store.orders():
        row = _row(order, ORDER_FIELDS)
        intent = store.intent(order.client_order_id)
        row["note"] = intent.note if intent is not None else ""
        row["stop_loss"] = _plain(intent.stop_loss) if intent is not None else None
        row["take_profit"] = _plain(intent.take_profit) if intent is not None else None
        anchor = intent.anchor if intent is not None else None
        row["reference_price"] = _plain(anchor.reference_price) if anchor is not None else None
        levels = attached.get(order.client_order_id, {})
        row["attached_stop_loss"] = levels.get("stop_loss")
        row["attached_take_profit"] = levels.get("take_profit")
        orders.append(row)
    return {
        "orders": orders,
        "trades": [_row(t, TRADE_FIELDS) for t in store.trades()],
    }


def rebuild_report(store: Storage) -> dict[str, Any]:
    """Rebuild positions, closed trades and cash from the journal and compare them with the stored state.

    Fills are replayed in journal order through the same position arithmetic the reconciler uses, and booked
    into per-currency wallets as the paper venue books them (spot: the quote pays for the base; other assets
    are margined: cash moves by realised price P&L and fees), with the funding payments, the paper session's
    start and its top-ups. Each funding payment is booked into the position of its symbol held at its time, as
    the reconciler booked it: after the fills at or before that time, before the later ones. An asset's cash
    is compared when the journal can value it (every currency it holds counts one for one in the bucket's) and
    the last run stopped cleanly (a killed run may have journaled past its last stored valuation). Every
    difference is listed; ``consistent`` is True when there is none.
    """
    funding = list(store.events(kind="funding"))
    replay = _Replay(funding)
    for fill in store.fills():
        intent = store.intent(fill.client_order_id)
        order = store.get_order(fill.client_order_id)
        reason = intent.note if intent is not None else (order.reason if order else "") or "signal"
        strategy = intent.strategy_id if intent is not None else (order.strategy_id if order else "")
        replay.fill(fill, strategy, reason)
    replay.settle_funding()
    problems = _position_problems(replay.positions, store.positions())
    stored_trades = list(store.trades())
    if stored_trades != replay.trades:
        problems.append(f"closed trades: rebuilt {len(replay.trades)} vs stored {len(stored_trades)} differ")
    ids = Counter((fields["asset"], fields["id"]) for _, _, _, fields in funding)
    problems += [
        f"funding {fid} ({asset}) journaled {n} times" for (asset, fid), n in sorted(ids.items()) if n > 1
    ]
    clean = _stopped_cleanly(store)
    cash = []
    for account in sorted(store.accounts(), key=lambda a: list(Asset).index(a.asset)):
        check = _cash_check(store, account, replay, clean)
        cash.append(check)
        if check["checked"] and abs(Decimal(check["rebuilt"]) - account.cash) > CASH_TOLERANCE:
            problems.append(
                f"cash {account.asset.value}: rebuilt {check['rebuilt']} vs stored {account.cash} "
                f"{account.currency}"
            )
    return {
        "consistent": not problems,
        "fills": len(store.fills()),
        "funding": len(funding),
        "positions": len(replay.positions),
        "trades": len(replay.trades),
        "cash": cash,
        "problems": problems,
    }


class _Replay:
    """Positions, closed trades and per-asset, per-currency wallet moves rebuilt from journaled fills and
    funding payments."""

    def __init__(self, funding: Iterable[JournalEvent]) -> None:
        self.positions: dict[tuple[Asset, str], Position] = {}
        self.trades: list[ClosedTrade] = []
        self.wallets: dict[Asset, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        # Each symbol's payments in journal order (its funding times in order), not yet booked.
        self.unsettled: dict[tuple[Asset, str], deque[tuple[datetime, Mapping[str, Any]]]] = defaultdict(
            deque
        )
        for _, ts, _, fields in funding:
            self.unsettled[(Asset(fields["asset"]), fields["symbol"])].append((ts, fields))

    def move(self, asset: Asset, currency: str, amount: Decimal) -> None:
        self.wallets[asset][currency] += amount

    def settle_funding(self, key: tuple[Asset, str] | None = None, before: datetime | None = None) -> None:
        """Book the payments of ``key`` (every symbol when None) due before ``before`` (all when None): out
        of the wallet, and into the position held then."""
        for each in [key] if key is not None else list(self.unsettled):
            waiting = self.unsettled.get(each)
            while waiting and (before is None or waiting[0][0] < before):
                _, fields = waiting.popleft()
                amount = Decimal(fields["amount"])
                self.move(each[0], fields["currency"], -amount)
                held = self.positions.get(each)
                if held is not None:
                    self.positions[each] = book_funding(held, amount)

    def fill(self, fill: Fill, strategy: str, reason: str) -> None:
        key = (fill.asset, fill.symbol)
        self.settle_funding(key, before=fill.ts)
        change = apply_fill(self.positions.get(key), fill, strategy_id=strategy, exit_reason=reason)
        if change.position is None:
            self.positions.pop(key, None)
        else:
            self.positions[key] = change.position
        if change.closed is not None:
            self.trades.append(change.closed)
        base, quote = split_symbol(fill.symbol)
        self.move(fill.asset, fill.fee_currency, -fill.fee)
        if fill.asset is Asset.SPOT:  # the paper venue's one cash account; the others are margined
            self.move(fill.asset, quote, -fill.qty * fill.price * fill.side.sign)
            self.move(fill.asset, base, fill.qty * fill.side.sign)
        elif change.closed is not None:
            self.move(fill.asset, quote, change.closed.price_pnl)

    def held_bases(self, asset: Asset) -> set[str]:
        return {split_symbol(symbol)[0] for (a, symbol) in self.positions if a is asset}


def _position_problems(
    rebuilt: Mapping[tuple[Asset, str], Position], stored_positions: Iterable[Position]
) -> list[str]:
    stored = {(p.asset, p.symbol): p for p in stored_positions}
    problems = []
    for key in sorted(stored.keys() | rebuilt.keys(), key=lambda k: (k[0].value, k[1])):
        want, have = rebuilt.get(key), stored.get(key)
        if _state(want) != _state(have):
            problems.append(
                f"position {key[0].value} {key[1]}: rebuilt {_shown(want)} vs stored {_shown(have)}"
            )
    return problems


def _state(position: Position | None) -> tuple[Decimal, Decimal, Decimal] | None:
    return None if position is None else (position.qty, position.avg_price, position.funding)


def _shown(position: Position | None) -> str:
    if position is None:
        return "flat"
    return f"qty {position.qty} at {position.avg_price}, funding {position.funding}"


def _last_seq(events: Iterable[JournalEvent]) -> int:
    return max((seq for seq, _, _, _ in events), default=0)


def _stopped_cleanly(store: Storage) -> bool:
    return _last_seq(store.events(kind="run_stopped")) >= _last_seq(store.events(kind="run_started"))


def _cash_check(store: Storage, account: AccountSnapshot, replay: _Replay, clean: bool) -> dict[str, Any]:
    """The asset's cash rebuilt from the session start, top-ups and ``replay``'s moves, or why not."""
    asset = account.asset
    check: dict[str, Any] = {
        "asset": asset.value,
        "currency": account.currency,
        "stored": _plain(account.cash),
        "rebuilt": None,
        "checked": False,
        "note": "",
    }
    starts = [f for _, _, _, f in store.events(kind="session_started") if f.get("asset") == asset.value]
    if not starts:
        check["note"] = "no paper session start in the journal"
        return check
    wallet = dict(replay.wallets.get(asset, {}))
    wallet[account.currency] = wallet.get(account.currency, Decimal(0)) + Decimal(starts[0]["equity"])
    for _, _, _, f in store.events(kind="epoch_started"):
        if f.get("asset") == asset.value:
            top_up = Decimal(f["equity_after"]) - Decimal(f["equity_before"])
            wallet[account.currency] = wallet[account.currency] + top_up
    excluded = replay.held_bases(asset) if asset is Asset.SPOT else set()
    unvalued = sorted(
        ccy
        for ccy, amount in wallet.items()
        if amount != 0 and ccy not in excluded and not same_currency(ccy, account.currency)
    )
    if unvalued:
        check["note"] = (
            f"holds {', '.join(unvalued)}: valuing it needs market rates the journal does not keep"
        )
        return check
    rebuilt = sum(
        (
            amount
            for ccy, amount in wallet.items()
            if ccy not in excluded and same_currency(ccy, account.currency)
        ),
        Decimal(0),
    )
    check["rebuilt"] = _plain(rebuilt)
    if not clean:
        check["note"] = "the last run did not stop cleanly: its stored valuation may predate the journal"
        return check
    check["checked"] = True
    return check
