"""Symbol names: splitting a pair into base and quote, and generic instruments for simulated venues."""

from __future__ import annotations

from decimal import Decimal

from app.domain.values import Asset, Instrument

__all__ = ["generic_instrument", "serves_symbol", "split_symbol"]

# Longest first, so "USDT" wins over "USD" and "BUSD" over "USD".
_QUOTES = (
    "FDUSD",
    "BUSD",
    "USDT",
    "USDC",
    "TUSD",
    "USD",
    "EUR",
    "GBP",
    "JPY",
    "CHF",
    "AUD",
    "CAD",
    "BTC",
    "ETH",
    "BNB",
)


def serves_symbol(name: str, symbol: str) -> bool:
    """Whether data named ``name`` holds ``symbol``'s bars: the symbol itself, or the symbol followed by ``_``
    or ``-`` and a tag (``BTCUSD_coinbase``, ``ETHBTC-5m``); case does not matter."""
    name, wanted = name.upper(), symbol.upper()
    return name == wanted or (name.startswith(wanted) and name[len(wanted) : len(wanted) + 1] in ("_", "-"))


def split_symbol(symbol: str) -> tuple[str, str]:
    """``"ETHBTC"`` -> ``("ETH", "BTC")``; ``"BTC/USDT"`` and ``"BTC-USDT"`` too.

    A symbol with no known quote suffix is its own base, quoted in USD (a stock such as ``GOOGL``).
    """
    cleaned = symbol.upper()
    for sep in ("/", "-", "_", ":"):
        if sep in cleaned:
            base, quote = cleaned.split(sep, 1)
            return base, quote
    for quote in _QUOTES:
        if cleaned.endswith(quote) and len(cleaned) > len(quote):
            return cleaned[: -len(quote)], quote
    return cleaned, "USD"


def generic_instrument(symbol: str, asset: Asset) -> Instrument:
    """An instrument with fine steps (tick 1e-8, lot 1e-6) for symbols a simulated venue has no rules for."""
    base, quote = split_symbol(symbol)
    step = Decimal("0.000001")
    return Instrument(
        symbol=symbol,
        asset=asset,
        base=base,
        quote=quote,
        tick_size=Decimal("0.00000001"),
        lot_step=step,
        min_qty=step,
        min_notional=Decimal(0),
    )
