"""The simulated venue's core (synchronous): accepting, amending and cancelling orders, executing fills,
bracket exits, server-side stop loss / take profit, liquidation and funding. ``matching`` walks each bar
through it; ``SimBroker`` puts the Broker port in front of it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from app.adapters.brokers.sim.account import Account
from app.adapters.brokers.sim.book import Ledger, OrderBook, Working
from app.adapters.brokers.sim.config import SimConfig
from app.adapters.brokers.sim.faults import FaultInjector
from app.adapters.brokers.sim.futures import FundingPayment, FundingSchedule
from app.adapters.brokers.sim.orders import (
    TRIGGERED_BY_STOP,
    Amendment,
    Brackets,
    amended_reason,
    amended_terms,
    amendment_problem,
    amendment_rejected_reason,
    pending_amend_reason,
    pending_cancel_reason,
    validate_intent,
    without_pending_cancel,
)
from app.domain.fills import liquidation_triggered, protection_fill
from app.domain.money import ZERO, to_decimal
from app.domain.values import (
    Candle,
    Fill,
    Liquidity,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
)
from app.ports.errors import BrokerRejected, DuplicateClientOrderId, OrderOutcomeUnknown

__all__ = ["REDUCE_ONLY_GROWS", "Venue"]

REDUCE_ONLY_GROWS = "reduce-only order would open or grow a position"

# Members the placement path needs, read once: reading a member through the Enum metaclass (it defines
# __getattr__) costs several times a global lookup, and every placement would read a few.
_ACCEPTED = OrderStatus.ACCEPTED
_STOP = OrderType.STOP


class Venue:
    """State and operations of one simulated account (one asset)."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.account = Account(config)
        self.faults = FaultInjector(config.faults, self.account.wallet.add)
        self.ledger = Ledger(self.faults)
        self.book = OrderBook()
        self.brackets = Brackets()
        self.schedule = FundingSchedule(config.funding_rates)
        self.marks: dict[str, Candle] = {}
        self.now: datetime | None = None
        self.bar_ts: datetime | None = None
        self.seq = 0  # sim-generated orders: sim-<kind>-<seq>
        self.accepted = 0  # broker order ids: sim-<accepted>
        self.placed = 0  # orders put on the book so far (time priority between orders arriving together)

    # -- orders -----------------------------------------------------------------------------------------

    def place(self, intent: OrderIntent) -> Order:
        """Accept ``intent`` onto the book, or raise the port error a venue would answer with."""
        if intent.client_order_id in self.ledger.orders:
            msg = f"client order id {intent.client_order_id} already exists"
            raise DuplicateClientOrderId(msg)
        now = self.now or intent.created_at
        if now is None:
            msg = "the simulated venue has seen no market data yet and the intent has no time"
            raise BrokerRejected(msg, code="no_market_data")
        injected = self.faults.take_rejection()
        if injected is not None:
            raise BrokerRejected(injected, code="injected")
        account = self.account
        problem = validate_intent(intent, account.instrument(intent.symbol), account.last.get(intent.symbol))
        if problem:
            self.ledger.put(self._order(intent, now, OrderStatus.REJECTED, reason=problem))
            raise BrokerRejected(problem, code="invalid_order")
        order = self.accept(intent, now)
        if self.faults.take_timeout():
            msg = f"no answer from the venue for {intent.client_order_id} (injected timeout)"
            raise OrderOutcomeUnknown(msg)
        return order

    def accept(self, intent: OrderIntent, now: datetime, *, exit_of: tuple[str, str] | None = None) -> Order:
        """Put a valid order on the book at ``now``; ``exit_of`` is (entry id, "sl" or "tp") for an exit."""
        reason = ""
        if exit_of is None:
            self.accepted += 1
            broker_id = "sim-%08d" % self.accepted  # noqa: UP031 (the %-form formats an int faster)
        else:
            broker_id = self.brackets.broker_id(*exit_of)
            reason = "stop_loss" if exit_of[1] == "sl" else "take_profit"
        order = self._order(intent, now, _ACCEPTED, broker_id, reason)
        self.placed += 1
        cid = intent.client_order_id
        stop = intent.stop_price if intent.order_type in TRIGGERED_BY_STOP else None
        # Working(cid, symbol, tif, live_at, stop, seq) by position: matching keywords costs more than
        # building it (every placement makes one).
        self.book.add(
            Working(cid, intent.symbol, intent.time_in_force, now + self.config.latency, stop, self.placed)
        )
        if exit_of is not None:
            self.brackets.link(exit_of[0], cid, exit_of[1])
        return self.ledger.put(order)

    def _order(
        self,
        intent: OrderIntent,
        now: datetime,
        status: OrderStatus,
        broker_id: str = "",
        reason: str = "",
    ) -> Order:
        # A stop order shows its trigger as its price (it has no limit).
        kind = intent.order_type
        price = intent.stop_price if kind is _STOP else intent.price
        # Every field by position, in Order's field order (client_order_id, strategy_id, asset, symbol, side,
        # qty, order_type, status, created_at, updated_at, price, broker_order_id, filled_qty, avg_price, fee,
        # reason, reduce_only): keyword matching costs about a quarter of building the frozen Order, once per
        # placement. test_sim_placement checks the result against the keyword form.
        return Order(
            intent.client_order_id,
            intent.strategy_id,
            intent.asset,
            intent.symbol,
            intent.side,
            intent.qty,
            kind,
            status,
            now,
            now,
            price,
            broker_id,
            ZERO,
            None,
            ZERO,
            reason,
            intent.reduce_only,
        )

    def cancel(self, symbol: str, cid: str) -> Order:
        """Cancel now (no latency) or once the latency has passed; the order may fill meanwhile."""
        order = self.ledger.orders.get(cid)
        if order is None or order.symbol != symbol:
            msg = f"no order {cid} on {symbol}"
            raise BrokerRejected(msg, code="unknown_order")
        working = self.book.get(cid)
        if order.status.is_terminal or working is None:
            return order
        if not self.config.latency:
            return self.end(cid, OrderStatus.CANCELLED, "cancelled by request")
        if working.cancel_at is not None:
            return order
        now = self.now or order.updated_at
        working.cancel_at = now + self.config.latency
        return self.ledger.update(cid, now, reason=pending_cancel_reason(order.reason, working.cancel_at))

    def apply_due_cancels(self, ts: datetime) -> None:
        for working in self.book:
            if working.cancel_at is not None and working.cancel_at <= ts:
                self.end(working.cid, OrderStatus.CANCELLED, "cancelled by request")

    def amend(self, symbol: str, cid: str, amendment: Amendment) -> Order:
        """Amend a working order now (no latency) or once the latency has passed; until then the old terms
        work, and the order may fill meanwhile (the amendment is then rejected with an event)."""
        order = self.ledger.orders.get(cid)
        if order is None or order.symbol != symbol:
            raise BrokerRejected(f"no order {cid} on {symbol}", code="unknown_order")
        working = self.book.get(cid)
        if order.status.is_terminal or working is None:
            msg = f"order {cid} is {order.status.value}: nothing is left to amend"
            raise BrokerRejected(msg, code="order_final")
        if working.cancel_at is not None or working.amend_at is not None:
            busy = "being cancelled" if working.cancel_at else "already being amended"
            raise BrokerRejected(f"order {cid} is {busy}: try again once that took effect", code="order_busy")
        problem = self._amend_problem(order, working, amendment)
        if problem:
            raise BrokerRejected(f"cannot amend {cid}: {problem}", code="invalid_amendment")
        now = self.now or order.updated_at
        if not self.config.latency:
            return self._apply_amendment(working, amendment, now)
        working.amend, working.amend_at = amendment, now + self.config.latency
        reason = pending_amend_reason(order.reason, working.amend_at, amendment)
        return self.ledger.update(cid, now, reason=reason)

    def apply_due_amendments(self, ts: datetime) -> None:
        for working in self.book:
            if working.amend is not None and working.amend_at is not None and working.amend_at <= ts:
                self._apply_amendment(working, working.amend, working.amend_at)

    def _amend_problem(self, order: Order, working: Working, amendment: Amendment) -> str:
        instrument, last = self.account.instrument(order.symbol), self.account.last.get(order.symbol)
        exit_ = order.client_order_id in self.brackets.parent
        return amendment_problem(order, working.stop, working.tif, amendment, instrument, last, is_exit=exit_)

    def _apply_amendment(self, working: Working, amendment: Amendment, at: datetime) -> Order:
        """The amendment reaches the book at ``at``: checked again, then applied. A price or stop change, or a
        larger quantity, sends the order to the back of the queue; a smaller quantity keeps its place."""
        working.amend = working.amend_at = None
        cid, now = working.cid, self.now or at
        order = self.ledger.orders[cid]
        problem = self._amend_problem(order, working, amendment)
        if problem:
            return self.ledger.update(cid, now, reason=amendment_rejected_reason(order.reason, problem))
        kind = order.order_type
        limit = order.price if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
        qty, price, stop = amended_terms((order.qty, limit, working.stop), amendment)
        if (price, stop) != (limit, working.stop) or qty > order.qty:
            self.book.requeue(working, at)
        working.stop = stop
        queued = working.live_at if working.requeued else None
        reason = amended_reason(order.reason, at, stop if kind is OrderType.STOP_LIMIT else None, queued)
        shown = stop if kind is OrderType.STOP else price  # a stop order shows its trigger
        return self.ledger.update(cid, now, qty=qty, price=shown, reason=reason)

    def end(self, cid: str, status: OrderStatus, reason: str) -> Order:
        """The rest of an order stops working (cancelled, expired or, before any fill, rejected)."""
        self.book.remove(cid)
        order = self.ledger.orders[cid]
        if status is OrderStatus.REJECTED and order.filled_qty > ZERO:
            status = OrderStatus.CANCELLED
        ended = self.ledger.update(cid, self.now or order.updated_at, status=status, reason=reason)
        self._settle_exits(cid)
        return ended

    def trigger(self, cid: str) -> None:
        """A stop fired: the order now works as the market (stop) or limit (stop-limit) order it carries."""
        order = self.ledger.orders[cid]
        working = self.book.get(cid)
        if working is not None:
            working.stop = None
            working.arrived = True
        if order.order_type is OrderType.STOP:
            self.ledger.update(cid, self.now or order.updated_at, order_type=OrderType.MARKET, price=None)
        else:
            self.ledger.update(cid, self.now or order.updated_at, order_type=OrderType.LIMIT)

    def execute(
        self, cid: str, qty: Decimal, price: Decimal, fee: Decimal, liquidity: Liquidity, ts: datetime
    ) -> Fill:
        """Book one execution of ``cid``: fill event first, then the order's new state."""
        order = self.ledger.orders[cid]
        fill = Fill(
            fill_id=self.ledger.next_fill_id(cid),
            client_order_id=cid,
            asset=order.asset,
            symbol=order.symbol,
            side=order.side,
            qty=qty,
            price=price,
            fee=fee,
            fee_currency=self.account.instrument(order.symbol).quote,
            ts=ts,
            liquidity=liquidity,
        )
        self.account.book(fill, order.strategy_id, order.reason or "signal")
        self.ledger.record_fill(fill)
        filled = order.filled_qty + qty
        avg = (
            price if order.avg_price is None else (order.avg_price * order.filled_qty + price * qty) / filled
        )
        done = filled >= order.qty
        reason = without_pending_cancel(order.reason) if done else order.reason
        working = self.book.get(cid)
        if done and working is not None and working.amend is not None:
            reason = amendment_rejected_reason(reason, "the order filled before the amendment took effect")
        self.ledger.update(
            cid,
            ts,
            status=OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED,
            filled_qty=filled,
            avg_price=avg,
            fee=order.fee + fee,
            reason=reason,
        )
        if done:
            self.book.remove(cid)
        self._after_fill(cid)
        return fill

    # -- bracket exits ----------------------------------------------------------------------------------

    def exit_capacity(self, cid: str, bar_ts: datetime) -> Decimal | None:
        """For a bracket exit: how much it may fill on this bar (0 before the entry fills; the stop loss
        works from the entry's fill bar, the take profit from the next). None for other orders."""
        link = self.brackets.parent.get(cid)
        if link is None:
            return None
        entry_cid, kind = link
        start = self.brackets.entry_bar.get(entry_cid)
        if start is None or (bar_ts <= start if kind == "tp" else bar_ts < start):
            return ZERO
        return self.ledger.orders[entry_cid].filled_qty - self.ledger.orders[cid].filled_qty

    def _after_fill(self, cid: str) -> None:
        if cid in self.brackets.children and cid not in self.brackets.entry_bar:
            self.brackets.entry_bar[cid] = self.bar_ts or self.ledger.orders[cid].updated_at
        link = self.brackets.parent.get(cid)
        if link is not None:
            for sibling in self.brackets.children.get(link[0], ()):
                if sibling != cid and self.ledger.is_working(sibling):
                    self.end(sibling, OrderStatus.CANCELLED, "oco: the other exit filled")

    def _settle_exits(self, cid: str) -> None:
        """An entry stopped working: unfilled, its exits go; part-filled, they shrink to what it filled."""
        entry = self.ledger.orders[cid]
        for child in self.brackets.children.get(cid, ()):
            if not self.ledger.is_working(child):
                continue
            if entry.filled_qty == ZERO:
                self.end(child, OrderStatus.CANCELLED, "bracket entry ended unfilled")
                continue
            order = self.ledger.orders[child]
            now = self.now or order.updated_at
            if order.filled_qty >= entry.filled_qty:
                self.book.remove(child)
                self.ledger.update(child, now, qty=order.filled_qty, status=OrderStatus.FILLED)
            else:
                self.ledger.update(child, now, qty=entry.filled_qty)

    # -- server-side protection, liquidation, funding ---------------------------------------------------

    def check_protection(self, candle: Candle) -> None:
        """Bybit-style trading stop (Full mode): the whole position closes at market when triggered."""
        position = self.account.positions.get(candle.symbol)
        if position is None or (position.stop_loss is None and position.take_profit is None):
            return
        trigger_bar = None
        if self.config.trigger_by == "mark":
            mark = self.marks.get(candle.symbol)
            trigger_bar = mark if mark is not None and mark.ts == candle.ts else None
        instrument = self.account.instrument(candle.symbol)
        hit = protection_fill(
            position.qty,
            position.stop_loss,
            position.take_profit,
            candle,
            instrument,
            self.config.costs,
            trigger_bar=trigger_bar,
        )
        if hit is not None:
            reason = "stop_loss" if hit.kind == "sl" else "take_profit"
            self._close(candle, hit.kind, hit.side, hit.qty, hit.price, hit.fee, reason)

    def check_liquidation(self, candle: Candle) -> None:
        """A bar through the liquidation price closes the whole position at that price."""
        price = self.account.liquidation_price(candle.symbol)
        position = self.account.positions.get(candle.symbol)
        if price is None or position is None or not liquidation_triggered(position.qty > 0, price, candle):
            return
        qty = abs(position.qty)
        fee = self.config.costs.fee(qty, price, Liquidity.TAKER)
        self._close(candle, "liq", position.side.opposite, qty, price, fee, "liquidation")

    def _close(
        self, candle: Candle, kind: str, side: Side, qty: Decimal, price: Decimal, fee: Decimal, reason: str
    ) -> None:
        position = self.account.positions[candle.symbol]
        self.seq += 1
        cid = f"sim-{kind}-{self.seq:08d}"
        order = Order(
            client_order_id=cid,
            strategy_id=position.strategy_id,
            asset=position.asset,
            symbol=position.symbol,
            side=side,
            qty=qty,
            order_type=OrderType.MARKET,
            status=OrderStatus.ACCEPTED,
            created_at=candle.ts,
            updated_at=candle.ts,
            broker_order_id=cid,
            reduce_only=True,
            reason=reason,
        )
        self.ledger.announce(order)
        self.execute(cid, qty, price, fee, Liquidity.TAKER, candle.close_time)

    def charge_due_funding(self, symbol: str, before: datetime, bar: Candle | None) -> None:
        for ts, rate in self.schedule.due(symbol, before):
            self.charge_funding(symbol, ts, rate, bar)

    def charge_funding(
        self, symbol: str, ts: datetime, rate: Decimal, bar: Candle | None = None
    ) -> FundingPayment | None:
        """Charge funding time ``ts`` once, on the position held then, valued at the mark then."""
        if not self.config.margin or not self.schedule.claim(symbol, ts):
            return None
        qty = self.position_at(symbol, ts)
        mark = self.mark_at(symbol, ts, bar)
        if qty == ZERO or mark is None:
            return None
        payment = self.account.pay_funding(symbol, ts, rate, mark, qty)
        self.ledger.report(payment)
        return payment

    def position_at(self, symbol: str, ts: datetime) -> Decimal:
        """The signed position after every fill at or before ``ts`` (from the fill history when later fills
        exist: a restored account replays funding times it already holds fills beyond)."""
        last = self.account.last_fill_ts(symbol)
        if last is None or last <= ts:
            return self.account.held(symbol)
        return sum(
            (f.qty * f.side.sign for f in self.ledger.fills if f.symbol == symbol and f.ts <= ts), ZERO
        )

    def mark_at(self, symbol: str, ts: datetime, bar: Candle | None) -> Decimal | None:
        """The mark price at ``ts``: a mark bar opening then (or closed by then), else the traded bar opening
        then, else the last traded price."""
        mark = self.marks.get(symbol)
        if mark is not None and mark.ts == ts:
            return to_decimal(mark.open)
        if mark is not None and mark.close_time <= ts:
            return to_decimal(mark.close)
        if bar is not None and bar.ts == ts:
            return to_decimal(bar.open)
        return self.account.last.get(symbol)
