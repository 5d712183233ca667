"""order_router: the only component that places, amends or cancels orders.

Pipeline for each entry: strategy_registry (blocking flags, state) -> risk_manager (size, stop, caps; a size
above what the rules allow is reduced and the reduction journaled) -> budget_manager.can_afford ->
exposure_manager.can_open -> write-ahead intent in storage -> broker, each check against the account as the
broker reports it, with the entries still working there counted as the positions they will be (working_entries).
Exits (reduce-only) skip the entry checks: closing never adds risk. A denial is recorded as a rejected intent
with its reason. An ambiguous broker outcome leaves the order ``in_flight_unknown`` until ``resolve_in_flight``
asks the broker. Amendments are written ahead too (``amend_order``, in order_amendments).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import final

import attrs

from app.domain.decision import Decision
from app.domain.ids import make_client_order_id
from app.domain.values import Asset, Order, OrderIntent, OrderStatus, OrderType
from app.ports.broker import Broker
from app.ports.clock import Clock
from app.ports.errors import (
    BrokerRejected,
    DuplicateClientOrderId,
    OrderOutcomeUnknown,
)
from app.ports.storage import Storage
from app.services.budget_manager import BudgetManager
from app.services.exposure_manager import ExposureManager
from app.services.order_amendments import OrderAmendments
from app.services.order_requests import BatchMates, OrderRequest, PretradeContext, RouteResult, fit_to_check
from app.services.risk_manager import RiskManager
from app.services.strategy_registry import StrategyRegistry
from app.services.working_entries import WorkingEntries

__all__ = ["OrderRouter"]

log = logging.getLogger("app.order_router")

_ZERO = Decimal(0)


class OrderRouter:
    def __init__(
        self,
        *,
        brokers: Mapping[Asset, Broker],
        storage: Storage,
        clock: Clock,
        risk: RiskManager,
        budget: BudgetManager,
        exposure: ExposureManager,
        registry: StrategyRegistry | None = None,
    ) -> None:
        self._brokers = dict(brokers)
        self._storage = storage
        self._clock = clock
        self._risk = risk
        self._budget = budget
        self._exposure = exposure
        self._registry = registry
        self._meta_cache: dict[str, Decimal | None] = {}
        self._pending_meta: dict[str, str] = {}
        self._pending_events: list[_PendingEvent] = []
        self._working = WorkingEntries(storage)
        self._amendments = OrderAmendments(
            storage=storage,
            clock=clock,
            broker=self.broker,
            repriced_entry_refusal=self._repriced_entry_refusal,
        )

    def broker(self, asset: Asset) -> Broker:
        try:
            return self._brokers[asset]
        except KeyError:
            msg = f"no broker is configured for asset {asset.value}"
            raise LookupError(msg) from None

    async def context(self, asset: Asset, symbol: str, *, ignoring: str = "") -> PretradeContext:
        """The account as the broker sees it now, for sizing and the checks.

        Entries still working at the broker count as the positions they would be once filled (a spot entry
        with the cash it would spend taken off): they have committed budget, exposure and risk already
        (``WorkingEntries``). ``ignoring`` leaves one working order out: an amendment re-checks it.
        """
        broker = self.broker(asset)
        instrument = await broker.instrument(symbol)
        account = await broker.account()
        rate = await broker.rate(instrument.quote)
        positions = tuple(p for p in await broker.positions() if p.asset == asset)
        working = self._working.positions(asset, await broker.open_orders(), ignoring=ignoring)
        if working:
            positions += working
        rates = {}
        if positions:
            # One lookup per symbol and per quote currency, however many positions share them.
            quotes: dict[str, str] = {symbol: instrument.quote}
            quote_rates: dict[str, Decimal | None] = {instrument.quote: rate}
            for p in positions:
                quote = quotes.get(p.symbol)
                if quote is None:
                    quote = quotes[p.symbol] = (await broker.instrument(p.symbol)).quote
                if quote not in quote_rates:
                    quote_rates[quote] = await broker.rate(quote)
                rates[p.symbol] = quote_rates[quote] or Decimal(0)
        margin = asset is not Asset.SPOT
        cash = account.cash
        if working and not margin:
            for p in working:
                cash -= abs(p.qty) * p.avg_price * rates[p.symbol]
        return PretradeContext(
            instrument=instrument,
            cash=cash,
            equity=account.equity,
            quote_rate=rate if rate is not None else Decimal(0),
            positions=positions,
            position_rates=rates,
            realized_today=self._realized_today(asset, account.realized_pnl),
            high_water_mark=self._high_water_mark(asset, account.equity),
            margin=margin,
        )

    def _meta(self, key: str) -> Decimal | None:
        if key not in self._meta_cache:
            stored = self._storage.get_meta(key)
            self._meta_cache[key] = Decimal(stored) if stored is not None else None
        return self._meta_cache[key]

    def _set_meta(self, key: str, value: Decimal) -> None:
        """Remembered now, written with the next intent (in its transaction)."""
        self._meta_cache[key] = value
        self._pending_meta[key] = str(value)

    def _realized_today(self, asset: Asset, realized_total: Decimal) -> Decimal:
        """Realised P&L since the UTC day start: the total minus the total first seen that day."""
        key = f"day_realized:{asset.value}:{self._clock.now().date().isoformat()}"
        mark = self._meta(key)
        if mark is None:
            self._set_meta(key, realized_total)
            return Decimal(0)
        return realized_total - mark

    def _high_water_mark(self, asset: Asset, equity: Decimal) -> Decimal:
        key = f"high_water_mark:{asset.value}"
        stored = self._meta(key)
        mark = max(stored, equity) if stored is not None else equity
        if stored is None or mark != stored:
            self._set_meta(key, mark)
        return mark

    async def place_order(self, request: OrderRequest) -> RouteResult:
        """Check, record, send. Returns the order as stored and the decision of the pipeline.

        One commit per order: the write-ahead intent (with the pipeline's journal entries) commits before the
        broker is called; the broker's answer is written in a deferred transaction that commits with the
        next write. A crash in between loses only the answer, which ``resolve_in_flight`` asks the broker for
        again on restart (the intent is durable, the order still ``new``).
        """
        (result,) = await self.place_orders((request,))
        return result

    async def place_orders(self, requests: Sequence[OrderRequest]) -> list[RouteResult]:
        """Several orders decided together (strategies acting on the same bar) with one commit for all.

        Each request goes through the pipeline in turn, as ``place_order`` checks one, against the account
        as the broker reports it plus the entries approved before it in the batch, counted as if they had
        filled (they use budget and exposure, and count in their strategy's open positions and risk): the
        batch can never approve more than the same orders placed one after the other once each had filled.
        Every intent commits in one transaction before the first broker call; the orders are then sent in
        the batch's order and their answers written in one deferred transaction (see ``place_order``).
        Returns one result per request, in order.
        """
        checked: list[_Checked] = []
        mates = BatchMates()
        # Nothing is sent before every request is checked: the broker's view is read once per symbol.
        contexts: dict[tuple[Asset, str], PretradeContext] = {}
        for request in requests:
            key = (request.asset, request.symbol)
            account = contexts.get(key)
            if account is None:
                account = contexts[key] = await self.context(request.asset, request.symbol)
            context = mates.added_to(request.asset, account)
            approved, decision, note = self._check(request, context)
            events, self._pending_events = self._pending_events, []
            checked.append(_Checked(approved, decision, note, context, events))
            if decision.allowed:
                mates.add(approved, context, self._clock.now())
        results: list[RouteResult | None] = []
        to_send: list[tuple[int, OrderIntent]] = []
        with self._storage.transaction():
            seqs = self._storage.next_order_seqs(len(checked))
            intents = [
                self._intent(item.request, item.context, item.note, seq)
                for seq, item in zip(seqs, checked, strict=True)
            ]
            # The intents, then what the checks journaled and the denials, in the batch's order.
            self._storage.record_intents(intents)
            denied: list[Order] = []
            entries: list[_JournalEntry] = []
            for intent, item in zip(intents, checked, strict=True):
                at = intent.created_at or self._clock.now()
                entries.extend((at, kind, fields) for kind, fields in item.events)
                if item.decision.allowed:
                    to_send.append((len(results), intent))
                    results.append(None)  # the broker's answer, below
                    continue
                reason = item.decision.reason
                order = self._stored_order(intent, OrderStatus.REJECTED, f"denied: {reason}")
                denied.append(order)
                entries.append(self._entry("order_denied", intent, code=item.decision.code, reason=reason))
                results.append(RouteResult(order, item.decision))
            self._storage.save_orders(denied)
            self._storage.append_events(entries)
            self._flush_meta()
        answered: list[tuple[int, OrderIntent, Order]] = []
        try:
            for index, intent in to_send:
                answered.append((index, intent, await self._send(intent)))
        finally:
            # Whatever happens to the rest (a cancelled run), the answers received are kept.
            if answered:
                with self._storage.transaction(defer_commit=True):
                    self._storage.save_orders([order for _, _, order in answered])
                    self._storage.append_events(
                        [
                            self._entry("order_sent", intent, status=order.status.value, reason=order.reason)
                            for _, intent, order in answered
                        ]
                    )
                for index, _, order in answered:
                    self._working.sent(checked[index].request, order)
                    results[index] = RouteResult(order, checked[index].decision)
        return [result for result in results if result is not None]  # all are: each sent one was answered

    def _flush_meta(self) -> None:
        for key, value in self._pending_meta.items():
            self._storage.set_meta(key, value)
        self._pending_meta.clear()

    async def cancel_order(self, asset: Asset, symbol: str, client_order_id: str) -> Order:
        order = await self.broker(asset).cancel_order(symbol, client_order_id)
        self._storage.save_order(order)
        return order

    async def amend_order(
        self,
        asset: Asset,
        symbol: str,
        client_order_id: str,
        *,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
        reason: str = "",
    ) -> Order:
        """Change a working order's quantity (the new total, above what has filled), limit price or stop
        price, keeping its client id. Returns the order as the broker answered it, now stored.

        Written ahead like a placement: ``amend_requested`` (with the new terms) commits before the broker is
        called, then ``order_amended`` with the answer. Refused with BrokerRejected, journaled as
        ``amend_rejected`` and leaving the stored order as it was: by the broker, or here without asking it
        when the order is not in the journal, not on ``asset``/``symbol``, final, not yet confirmed by the
        broker, an entry raised above the quantity the pipeline approved (a larger entry is a new order), or an
        entry moved to a price (limit, else stop) at which the pipeline would not pass what is left of it whole
        (risk, budget, exposure and the registry's gate, checked again as for a new entry at that price).
        An ambiguous answer is settled by fetching the order by client id, never by amending again:
        ``order_amended`` if it shows the new terms, else ``amend_unknown`` (with a delay the broker may
        still apply it; its update arrives as an event).
        """
        return await self._amendments.amend(
            asset, symbol, client_order_id, qty=qty, price=price, stop_price=stop_price, reason=reason
        )

    async def _repriced_entry_refusal(
        self, stored: Order, qty: Decimal | None, price: Decimal
    ) -> tuple[str, str] | None:
        """(code, reason) when an entry moved to ``price`` would not pass the order pipeline whole.

        A new price changes the entry's notional and its risk: what is left to fill goes through the checks
        again as a new entry at that price would (its stop loss and take profit moved there when they follow
        the fill), against the account as it is now. A denial, or a size the checks would cut, refuses the
        amendment: the order stays as it was, and a smaller entry is the caller's to ask for.
        """
        intent = self._storage.intent(stored.client_order_id)
        stop, target = (intent.stop_loss, intent.take_profit) if intent is not None else (None, None)
        if intent is not None and intent.anchor is not None:
            stop, target = intent.anchor.levels(stop, target, price)
        remaining = (qty if qty is not None else stored.qty) - stored.filled_qty
        request = OrderRequest(
            stored.strategy_id, stored.asset, stored.symbol, stored.side, remaining, price, stop, target
        )
        context = await self.context(stored.asset, stored.symbol, ignoring=stored.client_order_id)
        kept, self._pending_events = self._pending_events, []  # a check, not an order: nothing to journal
        try:
            approved, decision, _ = self._check(request, context)
        finally:
            self._pending_events = kept
        if not decision.allowed:
            return decision.code, f"at {price} the order pipeline denies it: {decision.reason}"
        if approved.qty is not None and approved.qty < remaining:
            why = f"at {price} the order pipeline allows {approved.qty} of the {remaining} left to fill"
            return "above_allowed", why
        return None

    async def resolve_in_flight(self) -> list[Order]:
        """Ask the broker about every order whose outcome is unknown; never resubmit blindly."""
        resolved = []
        for stored in self._storage.orders(open_only=True):
            if stored.status not in (OrderStatus.IN_FLIGHT_UNKNOWN, OrderStatus.NEW):
                continue
            truth = await self.broker(stored.asset).get_order(stored.client_order_id)
            if truth is None:
                truth = _evolve_status(stored, OrderStatus.REJECTED, "the broker never received it")
            self._storage.save_order(truth)
            resolved.append(truth)
        return resolved

    def _check(self, request: OrderRequest, context: PretradeContext) -> tuple[OrderRequest, Decision, str]:
        """The request as approved (size and stop set), the pipeline's decision, and a note for the intent."""
        if request.reduce_only:
            return request, Decision.allow("reduce-only"), request.reason
        if context.quote_rate <= 0:
            quote = context.instrument.quote
            reason = f"no rate to value {quote} in the {request.asset.value} bucket"
            return request, Decision.deny("no_rate", reason), request.reason
        if self._registry is not None:
            gate = self._registry.can_enter(request.strategy_id)
            if not gate.allowed:
                return request, gate, request.reason
        risk = self._risk.assess(
            request, context, budget_available=self._budget.available(request.asset, context)
        )
        if not risk.allowed:
            return request, risk.decision, request.reason
        approved = request.sized(risk.qty, risk.stop_price)
        note = request.reason
        if risk.stop_is_default:
            note += f"; default stop {risk.stop_price}"
        if risk.reductions:
            note += "; reduced: " + ", ".join(f"{r.code} ({r.reason})" for r in risk.reductions)
            self._pending_events.append(
                (
                    "order_reduced",
                    {
                        "strategy_id": request.strategy_id,
                        "symbol": request.symbol,
                        "requested": str(request.qty),
                        "approved": str(risk.qty),
                        "reductions": [[r.code, str(r.limit), r.reason] for r in risk.reductions],
                    },
                )
            )
        allocation = self._budget.get_alloc(request.asset)
        checks: tuple[tuple[str, Callable[[OrderRequest], Decision]], ...] = (
            ("budget", lambda r: self._budget.can_afford(r, context)),
            ("exposure", lambda r: self._exposure.can_open(r, context, allocation=allocation)),
        )
        for name, check in checks:
            fitted, decision = fit_to_check(approved, check, context)
            if not decision.allowed:
                return approved, decision, note
            if fitted.qty != approved.qty:
                note += f"; reduced by {name} to {fitted.qty} ({decision.reason})"
                self._pending_events.append(
                    (
                        "order_reduced",
                        {
                            "strategy_id": request.strategy_id,
                            "symbol": request.symbol,
                            "requested": str(approved.qty),
                            "approved": str(fitted.qty),
                            "reductions": [[decision.code, str(fitted.qty), decision.reason]],
                        },
                    )
                )
                approved = fitted
        return approved, Decision.allow(risk.reason), note

    def _intent(self, request: OrderRequest, context: PretradeContext, note: str, seq: int) -> OrderIntent:
        cid = make_client_order_id(request.strategy_id, seq)
        qty = context.instrument.round_qty(request.qty) if request.qty is not None else Decimal(0)
        return OrderIntent(
            client_order_id=cid,
            strategy_id=request.strategy_id,
            asset=request.asset,
            symbol=request.symbol,
            side=request.side,
            qty=qty,
            order_type=OrderType.MARKET,
            reduce_only=request.reduce_only,
            stop_loss=request.stop_loss,
            take_profit=request.take_profit,
            created_at=self._clock.now(),
            note=note,
            anchor=request.anchor,
        )

    async def _send(self, intent: OrderIntent) -> Order:
        broker = self.broker(intent.asset)
        try:
            return await broker.place_order(intent)
        except DuplicateClientOrderId:
            existing = await broker.get_order(intent.client_order_id)
            if existing is not None:
                return existing
            return self._stored_order(intent, OrderStatus.IN_FLIGHT_UNKNOWN, "duplicate id but not found")
        except BrokerRejected as e:
            return self._stored_order(intent, OrderStatus.REJECTED, f"rejected by broker: {e}")
        except OrderOutcomeUnknown as e:
            log.warning("order outcome unknown", extra={"client_order_id": intent.client_order_id})
            return self._stored_order(intent, OrderStatus.IN_FLIGHT_UNKNOWN, str(e))

    def _stored_order(self, intent: OrderIntent, status: OrderStatus, reason: str) -> Order:
        now = self._clock.now()
        return Order(
            client_order_id=intent.client_order_id,
            strategy_id=intent.strategy_id,
            asset=intent.asset,
            symbol=intent.symbol,
            side=intent.side,
            qty=intent.qty,
            order_type=intent.order_type,
            status=status,
            created_at=intent.created_at or now,
            updated_at=now,
            reason=reason,
            reduce_only=intent.reduce_only,
        )

    def _entry(self, kind: str, intent: OrderIntent, **fields: object) -> _JournalEntry:
        """A journal entry about ``intent``: (now, kind, its identity and terms with ``fields``)."""
        return (
            self._clock.now(),
            kind,
            {
                "client_order_id": intent.client_order_id,
                "strategy_id": intent.strategy_id,
                "symbol": intent.symbol,
                "side": intent.side.value,
                "qty": str(intent.qty),
                **fields,
            },
        )


_PendingEvent = tuple[str, dict[str, object]]
_JournalEntry = tuple[datetime, str, dict[str, object]]


@final
@attrs.frozen
class _Checked:
    """One request of a batch after the pipeline: as approved, the decision, the intent's note, the context
    it was checked against and the journal entries its checks made."""

    request: OrderRequest
    decision: Decision
    note: str
    context: PretradeContext
    events: list[_PendingEvent]


def _evolve_status(order: Order, status: OrderStatus, reason: str) -> Order:
    return attrs.evolve(order, status=status, reason=reason)
