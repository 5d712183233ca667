"""order_router: the only component that places or cancels orders.

Pipeline for each request: risk_manager.pretrade_check -> budget_manager.can_afford -> exposure_manager.can_open
-> write-ahead intent in storage -> broker. A denial is recorded as a rejected intent with its reason. An
ambiguous broker outcome leaves the order ``in_flight_unknown`` until ``resolve_in_flight`` asks the broker.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal

import attrs

from app.domain.decision import Decision
from app.domain.ids import make_client_order_id
from app.domain.values import Asset, Order, OrderIntent, OrderStatus, OrderType
from app.ports.broker import Broker
from app.ports.clock import Clock
from app.ports.errors import BrokerRejected, DuplicateClientOrderId, OrderOutcomeUnknown
from app.ports.storage import Storage
from app.services.budget_manager import BudgetManager
from app.services.exposure_manager import ExposureManager
from app.services.order_requests import OrderRequest, PretradeContext, RouteResult
from app.services.risk_manager import RiskManager

__all__ = ["OrderRouter"]

log = logging.getLogger("app.order_router")


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
    ) -> None:
        self._brokers = dict(brokers)
        self._storage = storage
        self._clock = clock
        self._risk = risk
        self._budget = budget
        self._exposure = exposure

    def broker(self, asset: Asset) -> Broker:
        try:
            return self._brokers[asset]
        except KeyError:
            msg = f"no broker is configured for asset {asset.value}"
            raise LookupError(msg) from None

    async def context(self, asset: Asset, symbol: str) -> PretradeContext:
        """The account as the broker sees it now, for sizing and the checks."""
        broker = self.broker(asset)
        instrument = await broker.instrument(symbol)
        account = await broker.account()
        rate = await broker.rate(instrument.quote)
        return PretradeContext(
            instrument=instrument,
            cash=account.cash,
            equity=account.equity,
            quote_rate=rate if rate is not None else Decimal(0),
            positions=tuple(await broker.positions()),
        )

    async def place_order(self, request: OrderRequest) -> RouteResult:
        """Check, record, send. Returns the order as stored and the decision of the pipeline."""
        context = await self.context(request.asset, request.symbol)
        decision = self._check(request, context)
        intent = self._intent(request, context)
        self._storage.record_intent(intent)
        if not decision.allowed:
            order = self._stored_order(intent, OrderStatus.REJECTED, f"denied: {decision.reason}")
            self._storage.save_order(order)
            self._journal("order_denied", intent, code=decision.code, reason=decision.reason)
            return RouteResult(order, decision)
        order = await self._send(intent)
        self._storage.save_order(order)
        self._journal("order_sent", intent, status=order.status.value, reason=order.reason)
        return RouteResult(order, decision)

    async def cancel_order(self, asset: Asset, symbol: str, client_order_id: str) -> Order:
        order = await self.broker(asset).cancel_order(symbol, client_order_id)
        self._storage.save_order(order)
        return order

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

    def _check(self, request: OrderRequest, context: PretradeContext) -> Decision:
        if context.quote_rate <= 0 and not request.reduce_only:
            quote = context.instrument.quote
            return Decision.deny("no_rate", f"no rate to value {quote} in the {request.asset.value} bucket")
        for check in (self._risk.pretrade_check, self._budget.can_afford, self._exposure.can_open):
            decision = check(request, context)
            if not decision.allowed:
                return decision
        return Decision.allow()

    def _intent(self, request: OrderRequest, context: PretradeContext) -> OrderIntent:
        cid = make_client_order_id(request.strategy_id, self._storage.next_order_seq())
        return OrderIntent(
            client_order_id=cid,
            strategy_id=request.strategy_id,
            asset=request.asset,
            symbol=request.symbol,
            side=request.side,
            qty=context.instrument.round_qty(request.qty),
            order_type=OrderType.MARKET,
            reduce_only=request.reduce_only,
            stop_loss=request.stop_loss,
            take_profit=request.take_profit,
            created_at=self._clock.now(),
            note=request.reason,
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

    def _journal(self, kind: str, intent: OrderIntent, **fields: object) -> None:
        self._storage.append_event(
            self._clock.now(),
            kind,
            {"client_order_id": intent.client_order_id, "strategy_id": intent.strategy_id,
             "symbol": intent.symbol, "side": intent.side.value, "qty": str(intent.qty), **fields},
        )


def _evolve_status(order: Order, status: OrderStatus, reason: str) -> Order:
    return attrs.evolve(order, status=status, reason=reason)
