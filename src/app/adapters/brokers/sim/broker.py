"""The paper broker: a simulated venue behind the Broker port, matching on each bar of the feed.

Market, limit, stop and stop-limit orders with GTC/IOC/FOK/post-only and reduce-only; partial fills limited
by a share of the bar's volume; maker/taker fees, slippage and latency (``SimConfig``); server-side stop
loss / take profit set with ``set_trading_stop`` (whole position, by last or mark price; stop loss first
when one bar touches both) and IBKR-style brackets (``place_bracket``); futures leverage, initial margin,
liquidation and funding. The bar-by-bar order of events is in ``matching``. Everything is deterministic:
ids come from counters, times from the bars, faults from a seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import attrs

from app.adapters.brokers.sim.config import SimConfig
from app.adapters.brokers.sim.faults import FaultInjector
from app.adapters.brokers.sim.futures import FundingPayment
from app.adapters.brokers.sim.matching import match_bar, observe_bar
from app.adapters.brokers.sim.orders import Amendment, bracket_exits, validate_intent
from app.adapters.brokers.sim.restore import IntentLookup, restore_venue
from app.adapters.brokers.sim.venue import Venue
from app.domain.values import (
    AccountSnapshot,
    Balance,
    Candle,
    Fill,
    Instrument,
    Order,
    OrderIntent,
    Position,
)
from app.ports.broker import BrokerEvent
from app.ports.errors import BrokerRejected, OrderOutcomeUnknown

__all__ = ["SimBroker"]


class SimBroker:
    """One asset's paper account on the simulated exchange."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.asset = config.asset
        self._venue = Venue(config)
        # The last account snapshot, with the account revision and venue time it was taken at.
        self._snapshot: tuple[int, datetime | None, AccountSnapshot] | None = None

    @property
    def faults(self) -> FaultInjector:
        """Arm one-shot faults here (tests): ``broker.faults.timeout_next()``."""
        return self._venue.faults

    # -- Broker port -------------------------------------------------------------------------------------

    async def instrument(self, symbol: str) -> Instrument:
        return self._venue.account.instrument(symbol)

    async def place_order(self, intent: OrderIntent) -> Order:
        return self._venue.place(intent)

    async def cancel_order(self, symbol: str, client_order_id: str) -> Order:
        """Cancel a working order. With latency the answer still shows it working (its reason says when the
        cancel takes effect); the cancelled state follows as an event."""
        return self._venue.cancel(symbol, client_order_id)

    async def amend_order(
        self,
        symbol: str,
        client_order_id: str,
        *,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> Order:
        """Amend a working order (resting or still on its way to the book). With latency the answer still
        shows the old terms (its reason says when the amendment takes effect and what it sets); the amended
        order, or the amendment's rejection if the order filled or triggered meanwhile, follows as an event."""
        return self._venue.amend(symbol, client_order_id, Amendment(qty, price, stop_price))

    async def get_order(self, client_order_id: str) -> Order | None:
        return self._venue.ledger.orders.get(client_order_id)

    async def open_orders(self) -> Sequence[Order]:
        return self._venue.ledger.open_orders()

    async def positions(self) -> Sequence[Position]:
        return list(self._venue.account.positions.values())

    async def balances(self) -> Sequence[Balance]:
        return self._venue.account.balances(self.asset)

    async def account(self) -> AccountSnapshot:
        account, now = self._venue.account, self._venue.now
        revision = account.revision
        taken = self._snapshot
        # Order_router asks before every order: the same (immutable) snapshot serves until the account changes
        # (see Account.revision) or the venue's clock moves, instead of valuing the wallet again.
        if taken is not None and taken[0] == revision and taken[1] == now:
            return taken[2]
        cash, equity = account.cash_and_equity()
        snapshot = AccountSnapshot(
            asset=self.asset,
            currency=self.config.currency,
            cash=cash,
            equity=equity,
            realized_pnl=account.realized,
            ts=now or datetime.min.replace(tzinfo=UTC),
        )
        self._snapshot = (revision, now, snapshot)
        return snapshot

    async def rate(self, currency: str) -> Decimal | None:
        return self._venue.account.rates.rate(currency)

    async def fills(self, since: datetime | None = None) -> Sequence[Fill]:
        return [f for f in self._venue.ledger.fills if since is None or f.ts >= since]

    async def set_trading_stop(
        self, symbol: str, stop_loss: Decimal | None, take_profit: Decimal | None
    ) -> None:
        positions = self._venue.account.positions
        position = positions.get(symbol)
        if position is None:
            msg = f"no open position on {symbol} to protect"
            raise BrokerRejected(msg, code="no_position")
        positions[symbol] = attrs.evolve(position, stop_loss=stop_loss, take_profit=take_profit)

    async def drain_events(self) -> Sequence[BrokerEvent]:
        """Order updates, fills and funding payments in the order they happened. ``observe`` after a
        ``restore`` reports again the funding times it re-charges (same ``funding_id``)."""
        return self._venue.ledger.drain()

    # -- beyond the port: brackets ----------------------------------------------------------------------

    async def place_bracket(
        self,
        entry: OrderIntent,
        *,
        stop_loss: Decimal | None,
        take_profit: Decimal | None,
        stop_loss_id: str | None = None,
        take_profit_id: str | None = None,
    ) -> tuple[Order, ...]:
        """An IBKR-style bracket: ``entry`` plus one-cancels-other exits (a stop at ``stop_loss``, a limit at
        ``take_profit``) that work once the entry fills, for what it filled. Returns the entry then the exits.

        Exit ids default to ``sim-bsl-<n>`` / ``sim-btp-<n>``. Raises like ``place_order`` (a timeout comes
        after the whole bracket is on the book).
        """
        if stop_loss is None and take_profit is None:
            msg = "a bracket needs a stop loss, a take profit or both"
            raise BrokerRejected(msg, code="invalid_order")
        venue = self._venue
        first = venue.seq
        exits = bracket_exits(entry, stop_loss, take_profit, stop_loss_id, take_profit_id, first)
        instrument = venue.account.instrument(entry.symbol)
        for _, intent in exits:
            problem = validate_intent(intent, instrument, venue.account.last.get(entry.symbol))
            if (
                intent.client_order_id in venue.ledger.orders
                or intent.client_order_id == entry.client_order_id
            ):
                problem = f"client order id {intent.client_order_id} already exists"
            if problem:
                raise BrokerRejected(f"bracket exit: {problem}", code="invalid_order")
        timed_out: OrderOutcomeUnknown | None = None
        try:
            placed = [venue.place(entry)]
        except OrderOutcomeUnknown as e:
            placed, timed_out = [venue.ledger.orders[entry.client_order_id]], e
        generated = ((stop_loss, stop_loss_id), (take_profit, take_profit_id))
        venue.seq = first + sum(1 for level, given in generated if level is not None and given is None)
        for kind, intent in exits:
            placed.append(venue.accept(intent, placed[0].created_at, exit_of=(entry.client_order_id, kind)))
        if timed_out is not None:
            raise timed_out
        return tuple(placed)

    # -- market ------------------------------------------------------------------------------------------

    async def on_candle(self, candle: Candle) -> None:
        """Match what works on this symbol against the bar (see ``matching``)."""
        match_bar(self._venue, candle)

    def observe(self, candle: Candle) -> None:
        """A bar processed before a restart: learn prices and funding, match nothing."""
        observe_bar(self._venue, candle)

    def on_mark_candle(self, candle: Candle) -> None:
        """A mark-price bar. Give it before the traded bar of the same time: with ``trigger_by="mark"``
        stop loss / take profit trigger on it; funding values positions at the mark."""
        self._venue.marks[candle.symbol] = candle

    def on_funding(self, symbol: str, ts: datetime, rate: Decimal) -> FundingPayment | None:
        """Charge a funding time given live (a time already charged, e.g. from the config series, is not
        charged again). Returns the payment, also reported by ``drain_events``, or None when nothing was due."""
        return self._venue.charge_funding(symbol, ts, rate)

    def restore(
        self,
        orders: Sequence[Order],
        fills: Sequence[Fill],
        positions: Sequence[Position],
        *,
        intents: IntentLookup | None = None,
    ) -> None:
        """Rebuild the paper account from the journal after a restart (see ``restore``); then feed every bar
        already processed through ``observe``. ``intents`` (``Storage.intent``) recovers the trigger of
        stop-limit orders and the time in force of working orders."""
        restore_venue(self._venue, orders, fills, positions, intents)

    # -- queries -----------------------------------------------------------------------------------------

    def deposit(self, currency: str, amount: Decimal) -> None:
        """Credit a paper top-up (the PaperAccount port): it is cash like any other."""
        if amount <= 0:
            msg = f"a deposit must be positive, got {amount}"
            raise ValueError(msg)
        self._venue.account.wallet.add(currency, amount)

    def equity(self) -> Decimal:
        """Wallet value in the bucket currency, base-coin holdings and open positions at the last price."""
        return self._venue.account.equity()

    def rate_sources(self) -> dict[str, str]:
        """Each held currency -> where its valuation rate comes from (``market`` or ``reference``)."""
        account = self._venue.account
        return {ccy: account.rates.source(ccy) for ccy in account.wallet.balances}

    def last_price(self, symbol: str) -> Decimal | None:
        return self._venue.account.last.get(symbol)

    def liquidation_price(self, symbol: str) -> Decimal | None:
        """Where the open position in ``symbol`` would be liquidated (None without leverage or position)."""
        return self._venue.account.liquidation_price(symbol)

    def funding_payments(self) -> list[FundingPayment]:
        """Every funding settlement so far, oldest first."""
        return list(self._venue.account.funding)
