"""One bar through the venue, in a fixed order that makes fills, funding and restarts agree:

1. cancels, then amendments, whose latency has passed take effect (an amended price sends the order to the
   back of the queue, see ``OrderBook``); funding times before the bar are charged;
2. the open: market orders, and limits and stops the open is already through (fills stamped at the open);
3. funding times inside the bar are charged (on the position after the open's fills);
4. inside the bar: limits touched, stops crossed (fills stamped at the bar's close), then the server-side stop
   loss / take profit of each position (stop loss first), then liquidation;
5. orders that were live on this bar have arrived; the close becomes the last price.

Orders of one symbol share the bar's volume allowance in time priority. The pure rules are in
``app.domain.fills``; this module applies them to the venue's book and account.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from app.adapters.brokers.sim.book import Working
from app.adapters.brokers.sim.venue import REDUCE_ONLY_GROWS, Venue
from app.domain.fills import BarMatch, FillCosts, WorkingOrder, match_at_open, match_in_bar, volume_allowance
from app.domain.money import ZERO
from app.domain.values import Candle, Instrument, Order, OrderStatus, OrderType, Side

__all__ = ["match_bar", "observe_bar"]

Matcher = Callable[[WorkingOrder, Candle, Instrument, FillCosts, Decimal | None], BarMatch]


class _Pool:
    """What is left of the bar's volume allowance (None: unlimited)."""

    def __init__(self, left: Decimal | None) -> None:
        self.left = left

    def take(self, qty: Decimal) -> None:
        if self.left is not None:
            self.left -= qty


def match_bar(venue: Venue, candle: Candle) -> None:
    """Match everything that works on ``candle``'s symbol against it (see the module docstring)."""
    symbol = candle.symbol
    instrument = venue.account.instrument(symbol)
    venue.now = venue.bar_ts = candle.ts
    venue.apply_due_cancels(candle.ts)
    venue.apply_due_amendments(candle.ts)
    venue.charge_due_funding(symbol, candle.ts, candle)
    pool = _Pool(volume_allowance(candle, venue.config.max_volume_share, instrument))
    touched: set[str] = set()
    for working in venue.book.of_symbol(symbol):
        if working.cid in venue.book:
            _match(venue, working, candle, instrument, pool, match_at_open, candle.ts, touched)
    venue.charge_due_funding(symbol, candle.close_time, candle)
    venue.now = candle.close_time
    for working in venue.book.of_symbol(symbol):
        if working.cid in venue.book and working.cid not in touched:
            _match(venue, working, candle, instrument, pool, match_in_bar, candle.close_time, touched)
    venue.check_protection(candle)
    venue.check_liquidation(candle)
    _arrive(venue, candle)
    venue.account.observe(candle)


def observe_bar(venue: Venue, candle: Candle) -> None:
    """A bar already processed before a restart: learn its prices, charge its funding from the fill
    history, mark orders live on it as arrived; match nothing."""
    venue.charge_due_funding(candle.symbol, candle.close_time, candle)
    _arrive(venue, candle)
    venue.account.observe(candle)
    venue.now = candle.close_time


def _arrive(venue: Venue, candle: Candle) -> None:
    for working in venue.book.of_symbol(candle.symbol):
        if candle.ts >= working.live_at:
            working.arrived = True


def _match(
    venue: Venue,
    working: Working,
    candle: Candle,
    instrument: Instrument,
    pool: _Pool,
    matcher: Matcher,
    ts: datetime,
    touched: set[str],
) -> None:
    if candle.ts < working.live_at:
        return
    exit_room = venue.exit_capacity(working.cid, candle.ts)
    if exit_room is not None and exit_room <= ZERO:
        return  # a bracket exit waits for its entry to fill
    order = venue.ledger.orders[working.cid]
    cap = _capacity(venue, order, exit_room)
    qty = order.remaining_qty if cap is None or cap <= ZERO else min(order.remaining_qty, cap)
    terms = WorkingOrder(
        side=order.side,
        order_type=order.order_type,
        qty=qty,
        limit=order.price if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None,
        stop=working.stop,
        time_in_force=working.tif,
        arriving=not working.arrived,
    )
    result = matcher(terms, candle, instrument, venue.config.costs, pool.left)
    if result.qty == ZERO and not result.triggered and result.end is None:
        return
    touched.add(working.cid)
    if result.triggered:
        venue.trigger(working.cid)
    if result.qty > ZERO and not _execute(venue, order, cap, result, pool, ts):
        return
    if result.end is not None and venue.ledger.is_working(working.cid):
        venue.end(working.cid, result.end, result.reason)


def _capacity(venue: Venue, order: Order, exit_room: Decimal | None) -> Decimal | None:
    """How much a reduce-only order or bracket exit may still fill (None: no such limit)."""
    if not order.reduce_only:
        return exit_room
    held = venue.account.held(order.symbol)
    reducible = abs(held) if held != ZERO and (held > 0) == (order.side is Side.SELL) else ZERO
    return reducible if exit_room is None else min(reducible, exit_room)


def _execute(
    venue: Venue, order: Order, cap: Decimal | None, result: BarMatch, pool: _Pool, ts: datetime
) -> bool:
    """Book the match, unless the account cannot take it (then the order ends). False if it ended."""
    cid = order.client_order_id
    if cap is not None and cap <= ZERO:
        venue.end(cid, OrderStatus.REJECTED, REDUCE_ONLY_GROWS)
        return False
    problem = venue.account.funding_problem(order.symbol, order.side, result.qty, result.price, result.fee)
    if problem:
        venue.end(cid, OrderStatus.REJECTED, problem)
        return False
    pool.take(result.qty)
    venue.execute(cid, result.qty, result.price, result.fee, result.liquidity, ts)
    if order.reduce_only and venue.ledger.is_working(cid) and venue.account.held(order.symbol) == ZERO:
        venue.end(cid, OrderStatus.CANCELLED, "reduce-only: clipped to the position")
        return False
    return True
