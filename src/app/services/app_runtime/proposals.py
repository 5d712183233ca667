"""One bar's orders: the strategies' proposals on the bar, one entry per symbol, placed through their router."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from app.domain.values import Asset, Candle
from app.services.order_requests import OrderRequest
from app.services.order_router import OrderRouter
from app.services.trade_executor import TradeExecutor

__all__ = ["place_proposals"]

# The runtime's logger: a skipped entry is the runtime's to report.
log = logging.getLogger("app.runtime")


async def place_proposals(executors: Sequence[TradeExecutor], candle: Candle) -> None:
    """The strategies' orders on this bar, placed together (``OrderRouter.place_orders``: one commit,
    each checked with those before it counted) through the router they share."""
    proposals: dict[int, tuple[OrderRouter, list[tuple[TradeExecutor, OrderRequest]]]] = {}
    # One netted position per symbol at the venue: the first strategy entering a symbol on this bar has it,
    # as it would if the orders went one by one (each executor stays out of a symbol another one holds).
    entering: dict[tuple[Asset, str], str] = {}
    for executor in executors:
        request = await executor.propose(candle)
        if request is not None and not request.reduce_only:
            first = entering.setdefault((request.asset, request.symbol), request.strategy_id)
            if first != request.strategy_id:
                reason = f"{request.symbol} is entered by {first} on the same bar"
                log.info("entry skipped", extra={"strategy_id": request.strategy_id, "reason": reason})
                continue
        if request is not None:
            router = executor.router
            proposals.setdefault(id(router), (router, []))[1].append((executor, request))
    for router, proposed in proposals.values():
        results = await router.place_orders([request for _, request in proposed])
        for (executor, _), result in zip(proposed, results, strict=True):
            executor.placed(result)
