"""order_router's entries still working at the broker, counted as the positions they would be once filled.

An entry commits budget, exposure and risk from the moment the broker takes it, not when it fills: a market
entry on the paper venue fills at the next bar, so several symbols entering at one time would otherwise each
be checked against the whole room (and a strategy's working entry would not count among its positions).
Each working entry is counted at the price and with the levels order_router checked it at: remembered when
it was sent, else (after a restart) read back from its intent in the journal.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import final

from app.domain.values import Asset, Order, Position, Side
from app.ports.storage import Storage
from app.services.order_requests import OrderRequest

__all__ = ["WorkingEntries"]

log = logging.getLogger("app.order_router")

# (the asset, the price the entry was checked at (None: unknown), its stop loss, its take profit).
_Terms = tuple[Asset, Decimal | None, Decimal | None, Decimal | None]


@final
class WorkingEntries:
    """The terms of the entries order_router sent, and the positions a broker's open entries would be."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._terms: dict[str, _Terms] = {}

    def sent(self, request: OrderRequest, order: Order) -> None:
        """Remember an entry the broker took, with the price and levels the checks approved it at."""
        if not request.reduce_only and not order.status.is_terminal:
            terms = (request.asset, request.price, request.stop_loss, request.take_profit)
            self._terms[order.client_order_id] = terms

    def positions(self, asset: Asset, orders: Sequence[Order], *, ignoring: str = "") -> tuple[Position, ...]:
        """``asset``'s entries among the broker's open ``orders`` (all but ``ignoring``), each as the position
        its unfilled quantity would open: at its limit or stop price when it has one, else at the price it
        was checked at. Reduce-only orders (exits, stop losses, take profits) only close, and are left out.
        """
        found: list[Position] = []
        working: set[str] = set()
        for order in orders:
            if order.asset is not asset or order.reduce_only or order.status.is_terminal:
                continue
            left = order.qty - order.filled_qty
            cid = order.client_order_id
            if left <= 0 or cid == ignoring:
                continue
            working.add(cid)
            terms = self._terms.get(cid) or self._recalled(cid, asset)
            _, price, stop_loss, take_profit = terms
            if order.price is not None:
                price = order.price
            if price is None:
                continue
            found.append(
                Position(
                    asset=asset,
                    symbol=order.symbol,
                    qty=left if order.side is Side.BUY else -left,
                    avg_price=price,
                    opened_at=order.created_at,
                    strategy_id=order.strategy_id,
                    stop_loss=stop_loss,
                    take_profit=take_profit,
                )
            )
        # Forget the asset's entries that are no longer working (filled, cancelled).
        gone = [c for c, t in self._terms.items() if t[0] is asset and c not in working]
        for cid in gone:
            del self._terms[cid]
        return tuple(found)

    def _recalled(self, client_order_id: str, asset: Asset) -> _Terms:
        """The terms of an entry sent before a restart, from its intent: the price its levels were computed
        from (a strategy's entries carry it), else its limit price. Remembered, unknown ones too."""
        intent = self._storage.intent(client_order_id)
        terms: _Terms = (asset, None, None, None)
        if intent is not None:
            price = intent.anchor.reference_price if intent.anchor is not None else intent.price
            terms = (asset, price, intent.stop_loss, intent.take_profit)
        if terms[1] is None:
            log.warning(
                "a working entry's price is unknown: it is counted only if it has a limit or stop price",
                extra={"client_order_id": client_order_id},
            )
        self._terms[client_order_id] = terms
        return terms
