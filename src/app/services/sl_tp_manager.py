"""sl_tp_manager: server-side stop loss / take profit, attached right after an entry fills.

``sync`` re-checks every open position against what its entry asked for and re-attaches what is missing
(after a reconnect or a restart).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from app.domain.values import Asset, Position
from app.ports.broker import Broker
from app.ports.errors import BrokerError
from app.ports.storage import Storage

__all__ = ["SlTpManager"]

log = logging.getLogger("app.sl_tp_manager")


class SlTpManager:
    def __init__(self, *, brokers: Mapping[Asset, Broker], storage: Storage) -> None:
        self._brokers = dict(brokers)
        self._storage = storage

    async def attach(self, asset: Asset, symbol: str, client_order_id: str) -> bool:
        """Attach the SL/TP the entry order asked for to the position it opened. True if anything was set."""
        intent = self._storage.intent(client_order_id)
        if intent is None or (intent.stop_loss is None and intent.take_profit is None):
            return False
        try:
            await self._brokers[asset].set_trading_stop(symbol, intent.stop_loss, intent.take_profit)
        except BrokerError as e:
            log.error("could not attach SL/TP", extra={"symbol": symbol, "error": str(e)})
            return False
        return True

    async def sync(self, asset: Asset, wanted: Mapping[str, Position]) -> list[str]:
        """Re-attach protection the broker's positions lack. ``wanted`` maps symbol -> the protected position
        as our journal knows it. Returns the symbols that were repaired."""
        repaired = []
        broker = self._brokers[asset]
        for held in await broker.positions():
            want = wanted.get(held.symbol)
            if want is None or (want.stop_loss is None and want.take_profit is None):
                continue
            if held.stop_loss != want.stop_loss or held.take_profit != want.take_profit:
                await broker.set_trading_stop(held.symbol, want.stop_loss, want.take_profit)
                repaired.append(held.symbol)
        return repaired
