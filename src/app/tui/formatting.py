"""How numbers and times look on screen. Money is shown as the services report it, to the cent (the same
rounding as ``app status``), prices and quantities as the broker rounded them."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

__all__ = ["age", "money", "price", "quote", "signed", "when"]

_CENT = Decimal("0.01")


def money(value: Decimal | None) -> str:
    return "-" if value is None else str(value.quantize(_CENT))


def signed(value: Decimal | None) -> str:
    if value is None:
        return "-"
    text = str(value.quantize(_CENT))
    return text if text.startswith("-") else f"+{text}"


def price(value: Decimal | None) -> str:
    if value is None:
        return "-"
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def quote(value: Decimal | None) -> str:
    """To 8 significant digits, never in exponent form (bar closes arrive as binary floats)."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    text = f"{value.quantize(Decimal(1).scaleb(value.adjusted() - 7)):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def age(since: datetime, now: datetime | None) -> str:
    """``3d4h``, ``2h05m``, ``15m`` (market time under a replay)."""
    if now is None or now < since:
        return "-"
    span = now - since
    if span >= timedelta(days=1):
        return f"{span.days}d{span.seconds // 3600}h"
    hours, minutes = span.seconds // 3600, span.seconds % 3600 // 60
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"
