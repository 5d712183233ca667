"""The paper broker: a simulated venue behind the Broker port, matching on each bar of the feed.

Market orders wait for the next bar of their symbol and fill at its open (``app.domain.fills``). Server-side
stop loss / take profit (set with ``set_trading_stop``) trigger within a bar; when one bar touches
both, the stop loss fills first (pessimistic). Everything is deterministic: ids come from counters, times from the bars.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import attrs

from app.adapters.brokers.sim.config import SimConfig
from app.adapters.brokers.sim.wallet import RateBook, Wallet
from app.domain.fills import fill_market_at_open, protection_trigger
from app.domain.ids import is_valid_client_order_id
from app.domain.money import ZERO, to_decimal
from app.domain.positions import apply_fill
from app.domain.values import (
    AccountSnapshot,
    Balance,
    Candle,
    Fill,
    Instrument,
    Liquidity,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Position,
    Side,
)
from app.ports.broker import BrokerEvent
from app.ports.errors import BrokerRejected, DuplicateClientOrderId

__all__ = ["SimBroker"]


class SimBroker:
    """One asset's paper account on the simulated exchange."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.asset = config.asset
        self._wallet = Wallet(config.currency, config.starting_cash)
        self._rates = RateBook(config.currency, config.reference_rates)
        self._orders: dict[str, Order] = {}
        self._pending: list[str] = []
        self._positions: dict[str, Position] = {}
        self._fills: list[Fill] = []
        self._events: list[BrokerEvent] = []
        self._instruments: dict[str, Instrument] = {}
        self._last: dict[str, Decimal] = {}
        self._now: datetime | None = None
        self._seq = 0
        self._realized = ZERO

    # -- Broker port -------------------------------------------------------------------------------------

    async def instrument(self, symbol: str) -> Instrument:
        return self._instrument(symbol)

    async def place_order(self, intent: OrderIntent) -> Order:
        if intent.client_order_id in self._orders:
            msg = f"client order id {intent.client_order_id} already exists"
            raise DuplicateClientOrderId(msg)
        now = self._now or intent.created_at
        if now is None:
            msg = "the simulated venue has seen no market data yet and the intent has no time"
            raise BrokerRejected(msg, code="no_market_data")
        order = Order(
            client_order_id=intent.client_order_id,
            strategy_id=intent.strategy_id,
            asset=intent.asset,
            symbol=intent.symbol,
            side=intent.side,
            qty=intent.qty,
            order_type=intent.order_type,
            status=OrderStatus.ACCEPTED,
            created_at=now,
            updated_at=now,
            price=intent.price,
            broker_order_id=f"sim-{len(self._orders) + 1:08d}",
            reduce_only=intent.reduce_only,
        )
        problem = self._validate(intent)
        if problem:
            self._orders[order.client_order_id] = attrs.evolve(
                order, status=OrderStatus.REJECTED, reason=problem
            )
            raise BrokerRejected(problem, code="invalid_order")
        self._orders[order.client_order_id] = order
        self._pending.append(order.client_order_id)
        return order

    async def cancel_order(self, symbol: str, client_order_id: str) -> Order:
        order = self._orders.get(client_order_id)
        if order is None or order.symbol != symbol:
            msg = f"no order {client_order_id} on {symbol}"
            raise BrokerRejected(msg, code="unknown_order")
        if order.status.is_terminal:
            return order
        if client_order_id in self._pending:
            self._pending.remove(client_order_id)
        return self._update(order, status=OrderStatus.CANCELLED, reason="cancelled by request")

    async def get_order(self, client_order_id: str) -> Order | None:
        return self._orders.get(client_order_id)

    async def open_orders(self) -> Sequence[Order]:
        return [o for o in self._orders.values() if not o.status.is_terminal]

    async def positions(self) -> Sequence[Position]:
        return list(self._positions.values())

    async def balances(self) -> Sequence[Balance]:
        return [
            Balance(self.asset, ccy, amount, amount) for ccy, amount in sorted(self._wallet.balances.items())
        ]

    async def account(self) -> AccountSnapshot:
        ts = self._now or datetime.min.replace(tzinfo=UTC)
        cash = self._wallet.value(
            self._rates, exclude=frozenset() if self.config.margin else self._held_bases()
        )
        return AccountSnapshot(
            asset=self.asset,
            currency=self.config.currency,
            cash=cash,
            equity=self.equity(),
            realized_pnl=self._realized,
            ts=ts,
        )

    async def rate(self, currency: str) -> Decimal | None:
        return self._rates.rate(currency)

    async def fills(self, since: datetime | None = None) -> Sequence[Fill]:
        return [f for f in self._fills if since is None or f.ts >= since]

    async def set_trading_stop(
        self, symbol: str, stop_loss: Decimal | None, take_profit: Decimal | None
    ) -> None:
        position = self._positions.get(symbol)
        if position is None:
            msg = f"no open position on {symbol} to protect"
            raise BrokerRejected(msg, code="no_position")
        self._positions[symbol] = attrs.evolve(position, stop_loss=stop_loss, take_profit=take_profit)

    async def drain_events(self) -> Sequence[BrokerEvent]:
        events, self._events = self._events, []
        return events

    # -- market ------------------------------------------------------------------------------------------

    async def on_candle(self, candle: Candle) -> None:
        """Match what waits for this symbol at the bar's open, then check stops and targets in the bar."""
        self._now = candle.ts
        instrument = self._instrument(candle.symbol)
        for cid in [c for c in self._pending if self._orders[c].symbol == candle.symbol]:
            self._pending.remove(cid)
            self._fill_market(self._orders[cid], candle, instrument)
        self._now = candle.close_time
        self._check_protection(candle)
        close = to_decimal(candle.close)
        self._last[candle.symbol] = close
        self._rates.observe(instrument.base, instrument.quote, close)

    def observe(self, candle: Candle) -> None:
        """Learn the bar's close (last price, valuation rates) without matching anything."""
        instrument = self._instrument(candle.symbol)
        close = to_decimal(candle.close)
        self._last[candle.symbol] = close
        self._rates.observe(instrument.base, instrument.quote, close)
        self._now = candle.close_time

    def restore(self, orders: Sequence[Order], fills: Sequence[Fill], positions: Sequence[Position]) -> None:
        """Rebuild the paper account from the journal after a restart.

        The paper venue lives in this process, so the journal is its durable record: every journaled fill is
        re-applied in order, every journaled order that is not final (including a write-ahead intent the crash
        cut off before the venue answered) is back on the book, and positions get the protection the journal
        holds for them.
        """
        if self._orders or self._fills:
            msg = "restore() needs a fresh simulated account"
            raise RuntimeError(msg)
        mine = [o for o in orders if o.asset == self.asset]
        self._orders = {o.client_order_id: o for o in mine}
        by_order = {o.client_order_id: o for o in mine}
        for fill in fills:
            if fill.asset != self.asset:
                continue
            order = by_order.get(fill.client_order_id)
            self._apply(fill, order.strategy_id if order else "", order.reason if order else "")
            self._fills.append(fill)
        for order in mine:
            if not order.status.is_terminal and order.status is not OrderStatus.REJECTED:
                if order.filled_qty == 0:
                    self._orders[order.client_order_id] = attrs.evolve(order, status=OrderStatus.ACCEPTED)
                    self._pending.append(order.client_order_id)
        protected = {p.symbol: p for p in positions if p.asset == self.asset}
        for symbol, position in list(self._positions.items()):
            want = protected.get(symbol)
            if want is not None:
                self._positions[symbol] = attrs.evolve(
                    position, stop_loss=want.stop_loss, take_profit=want.take_profit
                )
        self._seq = sum(1 for cid in self._orders if cid.startswith("sim-"))

    def equity(self) -> Decimal:
        """Wallet value in the bucket currency, base-coin holdings and open positions at the last price."""
        if self.config.margin:
            unrealized = sum(
                (
                    p.unrealized_pnl(self._last.get(s, p.avg_price)) * self._quote_rate(s)
                    for s, p in self._positions.items()
                ),
                ZERO,
            )
            return self._wallet.value(self._rates) + unrealized
        return self._wallet.value(self._rates)

    def rate_sources(self) -> dict[str, str]:
        """Each held currency -> where its valuation rate comes from (``market`` or ``reference``)."""
        return {ccy: self._rates.source(ccy) for ccy in self._wallet.balances}

    def last_price(self, symbol: str) -> Decimal | None:
        return self._last.get(symbol)

    # -- internals ---------------------------------------------------------------------------------------

    def _instrument(self, symbol: str) -> Instrument:
        if symbol not in self._instruments:
            self._instruments[symbol] = self.config.instruments(symbol)
        return self._instruments[symbol]

    def _quote_rate(self, symbol: str) -> Decimal:
        return self._rates.rate(self._instrument(symbol).quote) or ZERO

    def _validate(self, intent: OrderIntent) -> str:
        if not is_valid_client_order_id(intent.client_order_id):
            return f"client order id {intent.client_order_id!r} is not 1-36 characters of [A-Za-z0-9_-]"
        if intent.order_type is not OrderType.MARKET:
            return f"order type {intent.order_type.value} is not supported by the paper venue yet"
        instrument = self._instrument(intent.symbol)
        if intent.qty <= 0:
            return f"quantity must be positive, got {intent.qty}"
        if instrument.round_qty(intent.qty) != intent.qty:
            return f"quantity {intent.qty} is not a multiple of the lot step {instrument.lot_step}"
        if intent.qty < instrument.min_qty:
            return f"quantity {intent.qty} is below the minimum {instrument.min_qty}"
        return ""

    def _fill_market(self, order: Order, candle: Candle, instrument: Instrument) -> None:
        fill = fill_market_at_open(order.side, order.qty, candle, instrument, self.config.costs)
        problem = self._funding_problem(order, instrument, fill.qty * fill.price + fill.fee)
        if problem:
            self._update(order, status=OrderStatus.REJECTED, reason=problem)
            return
        self._execute(order, instrument, fill.qty, fill.price, fill.fee, candle.ts, "signal")

    def _funding_problem(self, order: Order, instrument: Instrument, cost: Decimal) -> str:
        position = self._positions.get(order.symbol)
        held = position.qty if position else ZERO
        if order.reduce_only and (held == ZERO or (held > 0) == (order.side is Side.BUY)):
            return "reduce-only order would open or grow a position"
        if self.config.margin:
            return ""
        if order.side is Side.SELL:
            if held < order.qty:
                return f"cannot sell {order.qty} {instrument.base}: only {held} held (spot has no shorting)"
            return ""
        rate = self._rates.rate(instrument.quote)
        if rate is None:
            return f"no rate to value {instrument.quote} in {self.config.currency}"
        cash = self._wallet.value(self._rates, exclude=self._held_bases())
        if cost * rate > cash:
            return f"insufficient funds: cost {cost * rate:.2f} {self.config.currency} > cash {cash:.2f}"
        return ""

    def _held_bases(self) -> frozenset[str]:
        return frozenset(self._instrument(s).base for s in self._positions)

    def _execute(
        self,
        order: Order,
        instrument: Instrument,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
        ts: datetime,
        reason: str,
    ) -> None:
        fill = Fill(
            fill_id=f"{order.client_order_id}-1",
            client_order_id=order.client_order_id,
            asset=order.asset,
            symbol=order.symbol,
            side=order.side,
            qty=qty,
            price=price,
            fee=fee,
            fee_currency=instrument.quote,
            ts=ts,
            liquidity=Liquidity.TAKER,
        )
        change = apply_fill(
            self._positions.get(order.symbol),
            fill,
            strategy_id=order.strategy_id,
            exit_reason=reason,
        )
        previous = self._positions.get(order.symbol)
        if change.position is None:
            self._positions.pop(order.symbol, None)
        else:
            kept = change.position
            if previous is not None and change.closed is not None and (previous.qty > 0) == (kept.qty > 0):
                kept = attrs.evolve(kept, stop_loss=previous.stop_loss, take_profit=previous.take_profit)
            self._positions[order.symbol] = kept
        if change.closed is not None:
            self._realized += change.closed.pnl * (self._rates.rate(instrument.quote) or ZERO)
        self._settle(instrument, fill, change.closed.pnl + change.closed.fees if change.closed else None)
        self._fills.append(fill)
        self._update(order, status=OrderStatus.FILLED, filled_qty=qty, avg_price=price, fee=fee)
        self._events.append(fill)

    def _apply(self, fill: Fill, strategy_id: str, reason: str) -> None:
        """Book a fill into positions and the wallet."""
        instrument = self._instrument(fill.symbol)
        previous = self._positions.get(fill.symbol)
        change = apply_fill(previous, fill, strategy_id=strategy_id, exit_reason=reason)
        if change.position is None:
            self._positions.pop(fill.symbol, None)
        else:
            kept = change.position
            if previous is not None and change.closed is not None and (previous.qty > 0) == (kept.qty > 0):
                kept = attrs.evolve(kept, stop_loss=previous.stop_loss, take_profit=previous.take_profit)
            self._positions[fill.symbol] = kept
        if change.closed is not None:
            self._realized += change.closed.pnl * (self._rates.rate(instrument.quote) or ZERO)
        self._settle(instrument, fill, change.closed.pnl + change.closed.fees if change.closed else None)

    def _settle(self, instrument: Instrument, fill: Fill, closed_gross: Decimal | None) -> None:
        notional = fill.qty * fill.price
        if self.config.margin:
            self._wallet.add(instrument.quote, -fill.fee + (closed_gross or ZERO))
            return
        self._wallet.add(instrument.quote, -notional * fill.side.sign - fill.fee)
        self._wallet.add(instrument.base, fill.qty * fill.side.sign)

    def _check_protection(self, candle: Candle) -> None:
        position = self._positions.get(candle.symbol)
        if position is None or (position.stop_loss is None and position.take_profit is None):
            return
        trigger = protection_trigger(position.qty > 0, position.stop_loss, position.take_profit, candle)
        if trigger is None:
            return
        kind, price = trigger
        self._seq += 1
        instrument = self._instrument(candle.symbol)
        cid = f"sim-{kind}-{self._seq:08d}"
        order = Order(
            client_order_id=cid,
            strategy_id=position.strategy_id,
            asset=position.asset,
            symbol=position.symbol,
            side=position.side.opposite,
            qty=abs(position.qty),
            order_type=OrderType.MARKET,
            status=OrderStatus.ACCEPTED,
            created_at=candle.ts,
            updated_at=candle.ts,
            broker_order_id=f"sim-{kind}-{self._seq}",
            reduce_only=True,
            reason="stop_loss" if kind == "sl" else "take_profit",
        )
        self._orders[cid] = order
        self._events.append(order)
        fill_price = instrument.round_price(price)
        fee = abs(position.qty) * fill_price * self.config.costs.taker_fee
        self._execute(order, instrument, abs(position.qty), fill_price, fee, candle.close_time, order.reason)

    def _update(self, order: Order, **changes: object) -> Order:
        updated = attrs.evolve(order, updated_at=self._now or order.updated_at, **changes)  # type: ignore[arg-type]
        self._orders[order.client_order_id] = updated
        self._events.append(updated)
        return updated
