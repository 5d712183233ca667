"""Frozen value objects shared by every layer: assets, instruments, market data, orders, fills, positions.

Money on the order path is ``Decimal``. Market data (candles, quotes) is ``float``: it is an observation,
not an amount of money; the fill model converts a price once, rounded to the instrument's tick.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import final

import attrs

from app.domain.money import quantize_down, quantize_nearest
from app.domain.timeframes import parse_timeframe

__all__ = [
    "AccountSnapshot",
    "Asset",
    "Balance",
    "Candle",
    "ClosedTrade",
    "Fill",
    "FundingPayment",
    "Instrument",
    "Liquidity",
    "Order",
    "OrderIntent",
    "OrderStatus",
    "OrderType",
    "Position",
    "Quote",
    "Side",
    "SlTpAnchor",
    "TimeInForce",
    "same_currency",
]

# One unit of each is valued at one US dollar by the paper venue and by the journal's rebuild.
_USD_LIKE = frozenset({"USD", "USDT", "USDC", "BUSD", "FDUSD", "TUSD"})


def same_currency(a: str, b: str) -> bool:
    """True when an amount of ``a`` counts one for one in ``b``: the same code, or the dollar and its
    stablecoins (a USDT perpetual settles in USDT; a USD bucket values it at par)."""
    return a == b or (a in _USD_LIKE and b in _USD_LIKE)


class Asset(StrEnum):
    """An asset class: each has its own budget bucket, risk band, paper wallet and broker."""

    SPOT = "spot"
    FUTURES = "futures"
    FOREX = "forex"
    OPTIONS = "options"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    POST_ONLY = "post_only"


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


class OrderStatus(StrEnum):
    """Order lifecycle states; the allowed transitions live in ``app.domain.orders``."""

    NEW = "new"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    IN_FLIGHT_UNKNOWN = "in_flight_unknown"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


@final
@attrs.frozen
class Instrument:
    """A tradable symbol with the exchange's rounding rules.

    Args:
        tick_size: smallest price increment.
        lot_step: smallest quantity increment.
        min_qty: smallest order quantity.
        min_notional: smallest order value (qty x price) in the quote currency.
    """

    symbol: str
    asset: Asset
    base: str
    quote: str
    tick_size: Decimal
    lot_step: Decimal
    min_qty: Decimal
    min_notional: Decimal = Decimal(0)

    def round_price(self, price: Decimal) -> Decimal:
        """The nearest valid price (ties away from zero)."""
        return quantize_nearest(price, self.tick_size)

    def round_qty(self, qty: Decimal) -> Decimal:
        """The largest valid quantity not above ``qty`` (sizes never round up)."""
        return quantize_down(qty, self.lot_step)


@final
@attrs.frozen
class Candle:
    """One OHLCV bar. ``ts`` is the bar's open time (UTC); the bar closes at ``ts + interval``."""

    symbol: str
    timeframe: str
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float

    @property
    def interval(self) -> timedelta:
        return parse_timeframe(self.timeframe)

    @property
    def close_time(self) -> datetime:
        return self.ts + self.interval


@final
@attrs.frozen
class Quote:
    symbol: str
    ts: datetime
    bid: float
    ask: float
    last: float


def _positive_price(instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not value > 0:
        msg = f"{attribute.name} must be a positive price, got {value}"
        raise ValueError(msg)


@final
@attrs.frozen
class SlTpAnchor:
    """The price an entry's stop loss and take profit were computed from, so they can follow its fill.

    A strategy decides on a bar's close (``reference_price``) and its levels are measured from there; the
    entry fills later, at the next open. Once it fills the levels move to the entry's average fill price,
    as the backtester places them: a level given as a share of the price (a ``pct`` rule, ``*_relative``)
    keeps that share, any other (an ATR multiple) keeps its distance in price units.
    """

    reference_price: Decimal = attrs.field(validator=_positive_price)
    stop_loss_relative: bool = False
    take_profit_relative: bool = False

    def move(self, level: Decimal, relative: bool, fill_price: Decimal) -> Decimal:
        """``level`` (measured from the reference price) measured from ``fill_price`` instead, unrounded."""
        offset = level - self.reference_price
        if relative:
            # offset / reference is the rule's signed share exactly when the level was reference x (1 +/- pct).
            return fill_price + fill_price * (offset / self.reference_price)
        return fill_price + offset

    def levels(
        self, stop_loss: Decimal | None, take_profit: Decimal | None, fill_price: Decimal
    ) -> tuple[Decimal | None, Decimal | None]:
        """Both levels moved to ``fill_price`` (None stays None)."""
        return (
            None if stop_loss is None else self.move(stop_loss, self.stop_loss_relative, fill_price),
            None if take_profit is None else self.move(take_profit, self.take_profit_relative, fill_price),
        )


@final
@attrs.frozen
class OrderIntent:
    """What order_router decided to send, written to storage before the broker sees it.

    ``client_order_id`` is at most 36 characters of ``[A-Za-z0-9_-]`` (see ``app.domain.ids``).
    ``stop_loss``/``take_profit`` are attached server-side once the entry fills: at these levels, or, with an
    ``anchor``, moved from the price they were computed at to the entry's average fill price.
    """

    client_order_id: str
    strategy_id: str
    asset: Asset
    symbol: str
    side: Side
    qty: Decimal
    order_type: OrderType = OrderType.MARKET
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    created_at: datetime | None = None
    note: str = ""
    anchor: SlTpAnchor | None = None


@final
@attrs.frozen
class Order:
    """The broker's view of an order (the truth once it answers)."""

    client_order_id: str
    strategy_id: str
    asset: Asset
    symbol: str
    side: Side
    qty: Decimal
    order_type: OrderType
    status: OrderStatus
    created_at: datetime
    updated_at: datetime
    price: Decimal | None = None
    broker_order_id: str = ""
    filled_qty: Decimal = Decimal(0)
    avg_price: Decimal | None = None
    fee: Decimal = Decimal(0)
    reason: str = ""
    reduce_only: bool = False

    @property
    def remaining_qty(self) -> Decimal:
        return self.qty - self.filled_qty


@final
@attrs.frozen
class Fill:
    """One execution. ``fill_id`` is unique per broker; recording a fill twice is a no-op."""

    fill_id: str
    client_order_id: str
    asset: Asset
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    ts: datetime
    liquidity: Liquidity = Liquidity.TAKER


@final
@attrs.frozen
class FundingPayment:
    """One perpetual-futures funding settlement on a position: the holder paid ``amount`` of ``currency``
    (the contract's quote) at funding time ``ts``; negative means it received it. ``position_qty`` is the
    signed position held then and ``mark`` the price it was valued at: ``amount = qty x mark x rate``.
    """

    asset: Asset
    symbol: str
    ts: datetime
    rate: Decimal
    mark: Decimal
    position_qty: Decimal
    amount: Decimal
    currency: str

    @property
    def funding_id(self) -> str:
        """``<symbol>@<funding time in UTC>``: a venue settles a symbol once per funding time, so a payment
        reported again (a duplicated event, a venue replaying it after a restart) has the same id."""
        return f"{self.symbol}@{self.ts.astimezone(UTC).isoformat()}"


@final
@attrs.frozen
class Position:
    """An open position. ``qty`` is signed: positive long, negative short.

    ``entry_fees`` and ``funding`` are what the position has cost and earned so far, in the contract's quote
    currency, kept until a fill closes (a share of) it: its ``ClosedTrade`` takes the closed share of both.
    ``funding`` is the perpetual funding settled on it, signed like P&L (received positive, paid negative).
    """

    asset: Asset
    symbol: str
    qty: Decimal
    avg_price: Decimal
    opened_at: datetime
    strategy_id: str = ""
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    entry_fees: Decimal = Decimal(0)
    funding: Decimal = Decimal(0)

    @property
    def side(self) -> Side:
        return Side.BUY if self.qty > 0 else Side.SELL

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        return (mark - self.avg_price) * self.qty


@final
@attrs.frozen
class Balance:
    """Cash in one currency of one asset's wallet."""

    asset: Asset
    currency: str
    total: Decimal
    available: Decimal


@final
@attrs.frozen
class ClosedTrade:
    """A round trip: an entry and the exit that closed it, in the contract's quote currency.

    ``pnl`` is the price P&L net of both sides' ``fees``, plus the perpetual ``funding`` settled while it was
    open (received positive, paid negative), as the backtester counts a trade: what the round trip made.
    """

    strategy_id: str
    asset: Asset
    symbol: str
    side: Side
    qty: Decimal
    entry_time: datetime
    exit_time: datetime
    entry_price: Decimal
    exit_price: Decimal
    fees: Decimal
    pnl: Decimal
    exit_reason: str
    funding: Decimal = Decimal(0)

    @property
    def price_pnl(self) -> Decimal:
        """``pnl`` before fees and funding: what the closing fill moves a margin account's cash by (fees and
        funding moved it when they were paid)."""
        return self.pnl + self.fees - self.funding


@final
@attrs.frozen
class AccountSnapshot:
    """One asset's wallet as last valued: cash and equity (cash + open positions at mark) in ``currency``.

    ``cash`` is the wallet's whole cash, what working orders may have reserved included (order_router takes
    its working entries' cost off it itself: ``services/working_entries.py``)."""

    asset: Asset
    currency: str
    cash: Decimal
    equity: Decimal
    realized_pnl: Decimal
    ts: datetime
