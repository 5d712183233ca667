"""Per-currency balances of a paper account and their valuation in the bucket's currency."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from app.domain.money import ZERO
from app.domain.values import same_currency

__all__ = ["RateBook", "Wallet"]

_ONE = Decimal(1)


class RateBook:
    """Value of one unit of a currency in the bucket's currency: from the feed when it has a pair, else a
    configured reference rate (reported as such)."""

    def __init__(self, currency: str, reference: Mapping[str, Decimal]) -> None:
        self.currency = currency
        self._reference = dict(reference)
        self._market: dict[str, Decimal] = {}
        self._cross: dict[str, tuple[str, Decimal]] = {}

    def observe(self, base: str, quote: str, price: Decimal) -> None:
        """Learn a rate from a traded pair: direct when it is quoted in the bucket currency (or a stablecoin
        of it), else as a cross through its quote currency (ETHBTC x BTC's rate)."""
        if same_currency(quote, self.currency):
            self._market[base] = price
        else:
            self._cross[base] = (quote, price)

    def rate(self, ccy: str) -> Decimal | None:
        if same_currency(ccy, self.currency):
            return _ONE
        if ccy in self._market:
            return self._market[ccy]
        if ccy in self._cross:
            quote, price = self._cross[ccy]
            quote_rate = self._market.get(quote, self._reference.get(quote))
            if quote_rate is not None:
                return price * quote_rate
        return self._reference.get(ccy)

    def source(self, ccy: str) -> str:
        """``"market"``, ``"cross-reference"`` (a market cross through a reference rate), ``"reference"`` or
        ``"none"``: where ``rate(ccy)`` comes from."""
        if same_currency(ccy, self.currency) or ccy in self._market:
            return "market"
        if ccy in self._cross:
            quote = self._cross[ccy][0]
            if quote in self._market:
                return "market"
            if quote in self._reference:
                return "cross-reference"
        return "reference" if ccy in self._reference else "none"


class Wallet:
    """Balances per currency. A quote currency the wallet does not hold may go negative: the account
    settles in it and the shortfall is valued against the bucket (cross-collateral, like Bybit's UTA)."""

    def __init__(self, currency: str, starting_cash: Decimal) -> None:
        self.currency = currency
        self.balances: dict[str, Decimal] = {currency: starting_cash}
        self.revision = 0  # counts the changes (see Account.revision)

    def add(self, ccy: str, amount: Decimal) -> None:
        self.balances[ccy] = self.balances.get(ccy, ZERO) + amount
        self.revision += 1

    def get(self, ccy: str) -> Decimal:
        return self.balances.get(ccy, ZERO)

    def value(self, rates: RateBook, *, exclude: frozenset[str] = frozenset()) -> Decimal:
        """Sum of balances valued in the bucket currency (currencies without a rate count as 0)."""
        total = ZERO
        for ccy, amount in self.balances.items():
            if ccy in exclude or amount == ZERO:
                continue
            rate = rates.rate(ccy)
            if rate is not None:
                total += amount * rate
        return total

    def split_value(self, rates: RateBook, exclude: frozenset[str]) -> tuple[Decimal, Decimal]:
        """``(value(rates, exclude=exclude), value(rates))`` in one pass over the balances, each total added up
        in the same order as ``value`` adds it (the account snapshot wants both for every order)."""
        kept = total = ZERO
        for ccy, amount in self.balances.items():
            if amount == ZERO:
                continue
            rate = rates.rate(ccy)
            if rate is not None:
                worth = amount * rate
                total += worth
                if ccy not in exclude:
                    kept += worth
        return kept, total
