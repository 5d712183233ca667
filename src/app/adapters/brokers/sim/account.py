"""The paper account behind the venue: per-currency wallet, net positions, realised P&L and margin.

Spot buys the base coin with the quote currency (no shorting). A margin account keeps signed positions;
its cash moves by realised P&L, fees and funding. With a leverage configured, entries need initial margin
(``notional / leverage``) out of free equity, and each position has an isolated-style liquidation price.

Every amount booked into the wallet or realised P&L is rounded to ``MONEY_STEP`` first: the sums are then
exact, so they do not depend on the order amounts arrive in (a restored account re-charges funding after
re-applying the fills that the original interleaved with it).
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal

import attrs

from app.adapters.brokers.sim.config import SimConfig
from app.adapters.brokers.sim.wallet import RateBook, Wallet
from app.domain.fills import funding_payment, liquidation_price
from app.domain.money import ZERO, to_decimal
from app.domain.positions import PositionChange, apply_fill
from app.domain.values import Asset, Balance, Candle, Fill, FundingPayment, Instrument, Position, Side

__all__ = ["MONEY_STEP", "Account"]

MONEY_STEP = Decimal("1e-16")
_WIDE = Context(prec=60)
_NO_CURRENCIES: frozenset[str] = frozenset()


def _money(amount: Decimal) -> Decimal:
    return amount.quantize(MONEY_STEP, rounding=ROUND_HALF_EVEN, context=_WIDE)


class Account:
    """One asset's wallet and positions on the simulated venue.

    ``revision`` changes whenever cash, equity or realised P&L may have changed: a price observed, a fill booked,
    funding paid (``_changes``) or any change of the wallet (deposits and injected desyncs change it directly).
    Anything else that moves them must count in ``_changes`` too.
    """

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.wallet = Wallet(config.currency, config.starting_cash)
        self.rates = RateBook(config.currency, config.reference_rates)
        self.positions: dict[str, Position] = {}
        self.realized = ZERO
        self.last: dict[str, Decimal] = {}
        self.funding: list[FundingPayment] = []
        self._last_fill_ts: dict[str, datetime] = {}
        self._instruments: dict[str, Instrument] = {}
        self._changes = 0

    @property
    def revision(self) -> int:
        """A number that changes whenever cash, equity or realised P&L may have (see the class docstring)."""
        return self._changes + self.wallet.revision

    def instrument(self, symbol: str) -> Instrument:
        found = self._instruments.get(symbol)
        if found is None:
            found = self._instruments[symbol] = self.config.instruments(symbol)
        return found

    def held(self, symbol: str) -> Decimal:
        """The signed position in ``symbol`` (0 when flat)."""
        position = self.positions.get(symbol)
        return position.qty if position else ZERO

    def last_fill_ts(self, symbol: str) -> datetime | None:
        return self._last_fill_ts.get(symbol)

    def quote_rate(self, symbol: str) -> Decimal:
        return self.rates.rate(self.instrument(symbol).quote) or ZERO

    def observe(self, candle: Candle) -> None:
        """Learn the bar's close: last price and valuation rates."""
        self._changes += 1
        instrument = self.instrument(candle.symbol)
        close = to_decimal(candle.close)
        self.last[candle.symbol] = close
        self.rates.observe(instrument.base, instrument.quote, close)

    # -- booking ----------------------------------------------------------------------------------------

    def book(self, fill: Fill, strategy_id: str, reason: str) -> PositionChange:
        """Net ``fill`` into its position and settle it in the wallet."""
        self._changes += 1
        instrument = self.instrument(fill.symbol)
        previous = self.positions.get(fill.symbol)
        change = apply_fill(previous, fill, strategy_id=strategy_id, exit_reason=reason)
        if change.position is None:
            self.positions.pop(fill.symbol, None)
        else:
            kept = change.position
            if previous is not None and change.closed is not None and (previous.qty > 0) == (kept.qty > 0):
                kept = attrs.evolve(kept, stop_loss=previous.stop_loss, take_profit=previous.take_profit)
            self.positions[fill.symbol] = kept
        # A trade's pnl counts the funding its position was settled; pay_funding booked that when it was paid.
        if change.closed is not None:
            realized = change.closed.pnl - change.closed.funding
            self.realized += _money(realized * (self.rates.rate(instrument.quote) or ZERO))
        closed_gross = change.closed.price_pnl if change.closed else ZERO
        if self.config.margin:
            self.wallet.add(instrument.quote, _money(-fill.fee + closed_gross))
        else:
            self.wallet.add(instrument.quote, _money(-fill.qty * fill.price * fill.side.sign - fill.fee))
            self.wallet.add(instrument.base, fill.qty * fill.side.sign)
        self._last_fill_ts[fill.symbol] = fill.ts
        return change

    def pay_funding(
        self, symbol: str, ts: datetime, rate: Decimal, mark: Decimal, qty: Decimal
    ) -> FundingPayment:
        """Settle one funding time for a position of signed ``qty`` at ``mark``."""
        self._changes += 1
        quote = self.instrument(symbol).quote
        amount = _money(funding_payment(qty, mark, rate))
        self.wallet.add(quote, -amount)
        self.realized -= _money(amount * (self.rates.rate(quote) or ZERO))
        payment = FundingPayment(self.config.asset, symbol, ts, rate, mark, qty, amount, quote)
        self.funding.append(payment)
        return payment

    # -- checks -----------------------------------------------------------------------------------------

    def funding_problem(self, symbol: str, side: Side, qty: Decimal, price: Decimal, fee: Decimal) -> str:
        """Why a fill of ``qty`` at ``price`` cannot be paid for ("" when it can)."""
        if self.config.margin:
            return self._margin_problem(symbol, side, qty, price, fee)
        instrument = self.instrument(symbol)
        if side is Side.SELL:
            held = self.held(symbol)
            if held < qty:
                return f"cannot sell {qty} {instrument.base}: only {held} held (spot has no shorting)"
            return ""
        rate = self.rates.rate(instrument.quote)
        if rate is None:
            return f"no rate to value {instrument.quote} in {self.config.currency}"
        cash = self.cash()
        cost = (qty * price + fee) * rate
        if cost > cash:
            return f"insufficient funds: cost {cost:.2f} {self.config.currency} > cash {cash:.2f}"
        return ""

    def _margin_problem(self, symbol: str, side: Side, qty: Decimal, price: Decimal, fee: Decimal) -> str:
        leverage = self.config.leverage_for(symbol)
        if leverage is None:
            return ""
        held = self.held(symbol)
        increase = abs(held + side.sign * qty) - abs(held)
        if increase <= ZERO:
            return ""
        rate = self.quote_rate(symbol)
        need = (increase * price / leverage + fee) * rate
        free = self.equity() - self.used_margin()
        if need > free:
            ccy = self.config.currency
            return f"insufficient margin: needs {need:.2f} {ccy}, {free:.2f} {ccy} free at {leverage}x"
        return ""

    def used_margin(self, currency: str | None = None) -> Decimal:
        """Initial margin held by open positions, in the bucket currency (or in ``currency`` itself)."""
        total = ZERO
        for symbol, position in self.positions.items():
            leverage = self.config.leverage_for(symbol)
            quote = self.instrument(symbol).quote
            if leverage is None or (currency is not None and quote != currency):
                continue
            margin = abs(position.qty) * position.avg_price / leverage
            total += margin if currency is not None else margin * self.quote_rate(symbol)
        return total

    def liquidation_price(self, symbol: str) -> Decimal | None:
        """Where the open position in ``symbol`` is liquidated (None: flat or no margin model)."""
        position = self.positions.get(symbol)
        leverage = self.config.leverage_for(symbol)
        if position is None or leverage is None:
            return None
        price = liquidation_price(
            position.qty > 0, position.avg_price, leverage, self.config.maintenance_margin_rate
        )
        return self.instrument(symbol).round_price(price)

    # -- valuation --------------------------------------------------------------------------------------

    def cash(self) -> Decimal:
        """Wallet value in the bucket currency, without spot holdings of base coins."""
        return self.wallet.value(
            self.rates, exclude=frozenset() if self.config.margin else self._held_bases()
        )

    def equity(self) -> Decimal:
        """Wallet value in the bucket currency, base-coin holdings and open positions at the last price."""
        if self.config.margin:
            unrealized = self._unrealized()
            return self.wallet.value(self.rates) + unrealized
        return self.wallet.value(self.rates)

    def cash_and_equity(self) -> tuple[Decimal, Decimal]:
        """``(cash(), equity())`` with one pass over the wallet (the account snapshot of every order wants both)."""
        if self.config.margin:
            unrealized = self._unrealized()
            value = self.wallet.value(self.rates)
            return value, value + unrealized
        return self.wallet.split_value(self.rates, self._held_bases())

    def _unrealized(self) -> Decimal:
        """Open P&L of the margin positions at the last price, in the bucket currency."""
        return sum(
            (
                p.unrealized_pnl(self.last.get(s, p.avg_price)) * self.quote_rate(s)
                for s, p in self.positions.items()
            ),
            ZERO,
        )

    def balances(self, asset: Asset) -> list[Balance]:
        """Per-currency balances; on margin accounts ``available`` excludes the margin positions hold."""
        result = []
        for ccy, amount in sorted(self.wallet.balances.items()):
            held = self.used_margin(ccy) if self.config.margin else ZERO
            result.append(Balance(asset, ccy, amount, amount - held))
        return result

    def _held_bases(self) -> frozenset[str]:
        if not self.positions:
            return _NO_CURRENCIES
        return frozenset(self.instrument(s).base for s in self.positions)
