"""trade_executor: turns one strategy spec's signals into order requests for order_router.

A signal computed on a bar's close becomes a market order that fills at the next bar's open. The executor
never places orders itself and never sizes beyond what risk_manager computes. An entry's stop loss and take
profit are computed from the signal bar's close (the ATR of that bar, or a share of the price) and sent with
that close as their anchor: sl_tp_manager moves them to the entry's fill price, as the backtester places them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from decimal import Decimal

import attrs

from app.domain.decision import Decision
from app.domain.money import to_decimal
from app.domain.values import Asset, Candle, OrderStatus, Position, Side, SlTpAnchor
from app.learning.features.indicators import atr
from app.learning.strategies.signals import BarSignal, SignalEngine
from app.learning.strategies.spec import StopRule, StrategySpec
from app.ports.storage import Storage
from app.services.order_requests import OrderRequest, RouteResult
from app.services.order_router import OrderRouter
from app.services.pnl_reconciler import PnlReconciler

__all__ = ["TradeExecutor"]

log = logging.getLogger("app.trade_executor")

EntryGuard = Callable[[str, Asset], Decision]
"""Asked before every new entry with (strategy id, asset): the runtime's kill and pause switches."""


def _no_guard(strategy_id: str, asset: Asset) -> Decision:
    return Decision.allow()


class TradeExecutor:
    def __init__(
        self,
        spec: StrategySpec,
        *,
        router: OrderRouter,
        reconciler: PnlReconciler,
        storage: Storage,
    ) -> None:
        self.spec = spec
        self._engine = SignalEngine(spec)
        self._router = router
        self._reconciler = reconciler
        self._storage = storage
        self._working: str | None = None
        self._entry_guard: EntryGuard = _no_guard

    @property
    def asset(self) -> Asset:
        return self.spec.asset

    def set_entry_guard(self, guard: EntryGuard) -> None:
        """Install the check consulted before every new entry (exits never ask it)."""
        self._entry_guard = guard

    def warm_up(self, candle: Candle) -> None:
        """Feed a bar processed before a restart into the signals without acting on it."""
        if candle.symbol == self.spec.symbol and candle.timeframe == self.spec.timeframe:
            self._engine.update(candle)

    def recover_working_order(self) -> None:
        """After a restart, pick up this strategy's order that is still working, if any."""
        for order in self._storage.orders(open_only=True):
            if order.strategy_id == self.spec.id:
                self._working = order.client_order_id

    @property
    def router(self) -> OrderRouter:
        return self._router

    async def on_candle(self, candle: Candle) -> None:
        """Update the signals with a closed bar of the spec's symbol and act on them."""
        request = await self.propose(candle)
        if request is not None:
            self.placed(await self._router.place_order(request))

    async def propose(self, candle: Candle) -> OrderRequest | None:
        """Update the signals with a closed bar of the spec's symbol; the order they call for, if any.

        The caller places it through ``router`` (with the requests of other strategies acting on the same
        bar, ``OrderRouter.place_orders``) and hands the result to ``placed``.
        """
        if candle.symbol != self.spec.symbol or candle.timeframe != self.spec.timeframe:
            return None
        signal = self._engine.update(candle)
        if self._order_working():
            return None
        position = self._reconciler.position(self.asset, self.spec.symbol)
        price = to_decimal(candle.close)
        request = self._decide(signal, position, price)
        if request is None:
            return None
        if not request.reduce_only:
            guard = self._entry_guard(self.spec.id, self.asset)
            if not guard.allowed:
                log.info("entry blocked", extra={"strategy_id": self.spec.id, "reason": guard.reason})
                return None
            request = attrs.evolve(request, qty=await self._requested_qty(request))
        return request

    def placed(self, result: RouteResult) -> None:
        """The router's answer to the request ``propose`` returned: an accepted order is now working."""
        if result.accepted:
            self._working = result.order.client_order_id

    def _order_working(self) -> bool:
        if self._working is None:
            return False
        order = self._storage.get_order(self._working)
        if order is None or order.status.is_terminal or order.status is OrderStatus.IN_FLIGHT_UNKNOWN:
            self._working = None if order is None or order.status.is_terminal else self._working
        return self._working is not None

    def _decide(self, signal: BarSignal, position: Position | None, price: Decimal) -> OrderRequest | None:
        if position is not None and position.strategy_id not in ("", self.spec.id):
            # Another strategy holds this symbol's netted position: this one stays out until it is flat.
            if signal.long_entry or signal.short_entry:
                log.info(
                    "entry skipped",
                    extra={
                        "strategy_id": self.spec.id,
                        "reason": f"{self.spec.symbol} is held by {position.strategy_id}",
                    },
                )
            return None
        if position is not None and position.qty > 0 and signal.long_exit:
            return self._exit(position, price)
        if position is not None and position.qty < 0 and signal.short_exit:
            return self._exit(position, price)
        if position is None and signal.long_entry:
            return self._entry(Side.BUY, price)
        if position is None and signal.short_entry and self.asset is not Asset.SPOT:
            return self._entry(Side.SELL, price)
        return None

    async def _requested_qty(self, request: OrderRequest) -> Decimal | None:
        """The spec's sizing as a request: a fraction of the bucket's cash, or None to let risk_manager size
        by its risk formula (the spec's own risk fraction, if lower than the band's, applied here)."""
        sizing = self.spec.sizing
        context = await self._router.context(self.asset, self.spec.symbol)
        if sizing.mode == "fraction":
            unit_cost = context.notional(Decimal(1), request.price) * (
                1 + to_decimal(self.spec.costs.fee_rate)
            )
            if unit_cost <= 0:
                return None
            return context.instrument.round_qty(context.cash * to_decimal(sizing.fraction) / unit_cost)
        if sizing.risk_fraction is None or request.stop_loss is None:
            return None
        distance = abs(request.price - request.stop_loss) * context.quote_rate
        if distance <= 0:
            return None
        return context.instrument.round_qty(context.equity * to_decimal(sizing.risk_fraction) / distance)

    def _exit(self, position: Position, price: Decimal) -> OrderRequest:
        return OrderRequest(
            strategy_id=self.spec.id,
            asset=self.asset,
            symbol=self.spec.symbol,
            side=position.side.opposite,
            qty=abs(position.qty),
            price=price,
            reduce_only=True,
            reason="signal",
        )

    def _entry(self, side: Side, price: Decimal) -> OrderRequest:
        return OrderRequest(
            strategy_id=self.spec.id,
            asset=self.asset,
            symbol=self.spec.symbol,
            side=side,
            qty=None,  # the spec's sizing fills this in; risk_manager may reduce it
            price=price,
            stop_loss=self._protective(side, price, self.spec.stop_loss, -1),
            take_profit=self._protective(side, price, self.spec.take_profit, 1),
            reason="signal",
            anchor=self._anchor(price),
        )

    def _anchor(self, price: Decimal) -> SlTpAnchor | None:
        """How the entry's levels, computed from ``price``, follow its fill (no anchor on a price of 0)."""
        if price <= 0:
            return None
        stop, target = self.spec.stop_loss, self.spec.take_profit
        return SlTpAnchor(
            reference_price=price,
            # Without a stop rule risk_manager adds the asset's default stop: a share of the price too.
            stop_loss_relative=stop is None or stop.pct is not None,
            take_profit_relative=target is not None and target.pct is not None,
        )

    def _protective(
        self, side: Side, price: Decimal, level: StopRule | None, direction: int
    ) -> Decimal | None:
        """A stop (direction -1) or target (+1) away from ``price`` on the right side for ``side``."""
        if level is None:
            return None
        if level.pct is not None:
            # In Decimal, as the backtester does: the level is exactly price x (1 +/- pct), so the anchor can
            # carry the same share over to the fill price.
            return price + price * to_decimal(level.pct) * direction * side.sign
        atr_value = float("nan")
        if level.atr is not None:
            frame = self._engine.frame()
            atr_value = float(atr(frame["high"], frame["low"], frame["close"], level.atr_period)[-1])
        distance = level.distance(float(price), atr_value)
        if not math.isfinite(distance) or distance <= 0:
            return None
        return price + to_decimal(distance) * direction * side.sign
