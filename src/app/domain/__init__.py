"""Pure rules and values: no I/O, no clock reads, no unseeded randomness."""

from app.domain.decision import Decision
from app.domain.errors import AppError, InvalidTransition, ValidationFailed
from app.domain.values import (
    AccountSnapshot,
    Asset,
    Balance,
    Candle,
    ClosedTrade,
    Fill,
    Instrument,
    Liquidity,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Side,
    TimeInForce,
)

__all__ = [
    "AccountSnapshot",
    "AppError",
    "Asset",
    "Balance",
    "Candle",
    "ClosedTrade",
    "Decision",
    "Fill",
    "Instrument",
    "InvalidTransition",
    "Liquidity",
    "Order",
    "OrderIntent",
    "OrderStatus",
    "OrderType",
    "Position",
    "Quote",
    "Side",
    "TimeInForce",
    "ValidationFailed",
]
