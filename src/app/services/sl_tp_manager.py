"""sl_tp_manager: server-side stop loss / take profit, attached right after an entry fills.

An entry's write-ahead intent holds its levels as computed at the signal, from the signal bar's close, and
usually their anchor (``SlTpAnchor``: that close, and which levels are a share of the price). ``attach``
moves them to the entry's average fill price, as the backtester places them (a ``pct`` level keeps its share,
an ATR level its distance), rounds them to the tick, stores them on the journal's position and only then
asks the broker, all inside the caller's transaction. So the journal's position always holds what the broker
should hold: ``sync`` (after a reconnect) and the paper venue's restore re-attach exactly that, and the
levels can be computed again, the same, from the durable intent and fills.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import final

import attrs

from app.domain.values import Asset, Instrument, Position
from app.ports.broker import Broker
from app.ports.errors import BrokerError
from app.ports.storage import Storage

__all__ = ["Protection", "SlTpManager"]

log = logging.getLogger("app.sl_tp_manager")


@final
@attrs.frozen
class Protection:
    """The levels an entry gets. ``fill_price`` is the average fill price they were measured from (None when
    they are attached as the intent stored them: no anchor, or no fill yet); ``reference_price`` the price the
    signal computed them from (None without an anchor); ``at`` the entry's last fill."""

    stop_loss: Decimal | None
    take_profit: Decimal | None
    fill_price: Decimal | None
    at: datetime
    reference_price: Decimal | None = None


class SlTpManager:
    def __init__(self, *, brokers: Mapping[Asset, Broker], storage: Storage) -> None:
        self._brokers = dict(brokers)
        self._storage = storage

    async def levels(self, asset: Asset, symbol: str, client_order_id: str) -> Protection | None:
        """What entry ``client_order_id`` asked for, moved to its average fill price so far and rounded to the
        tick; None when it asked for no stop loss and no take profit."""
        intent = self._storage.intent(client_order_id)
        if intent is None or (intent.stop_loss is None and intent.take_profit is None):
            return None
        fills = self._storage.fills(client_order_id)
        filled = sum((f.qty for f in fills), Decimal(0))
        at = max((f.ts for f in fills), default=intent.created_at)
        if at is None:
            msg = f"intent {client_order_id} has no creation time and no fill"
            raise ValueError(msg)
        reference = intent.anchor.reference_price if intent.anchor is not None else None
        if intent.anchor is None or filled <= 0:
            return Protection(intent.stop_loss, intent.take_profit, None, at, reference)
        average = sum((f.qty * f.price for f in fills), Decimal(0)) / filled
        instrument = await self._brokers[asset].instrument(symbol)
        stop_loss, take_profit = intent.anchor.levels(intent.stop_loss, intent.take_profit, average)
        return Protection(
            _on_tick(instrument, stop_loss, client_order_id),
            _on_tick(instrument, take_profit, client_order_id),
            average,
            at,
            reference,
        )

    async def attach(self, asset: Asset, symbol: str, client_order_id: str) -> bool:
        """Attach the SL/TP entry ``client_order_id`` asked for (see ``levels``) to the position it opened or
        grew: recorded on the journal's position, then set at the broker. True if the broker took them.

        Call it inside the transaction that journals the entry's fill, so the position and its levels commit
        together; called again after a further fill of the same entry, it re-anchors at the new average.
        """
        protection = await self.levels(asset, symbol, client_order_id)
        if protection is None:
            return False
        stop_loss, take_profit = protection.stop_loss, protection.take_profit
        position = self._position(asset, symbol)
        if position is not None:
            self._storage.save_position(attrs.evolve(position, stop_loss=stop_loss, take_profit=take_profit))
        try:
            await self._brokers[asset].set_trading_stop(symbol, stop_loss, take_profit)
        except BrokerError as e:
            log.error("could not attach SL/TP", extra={"symbol": symbol, "error": str(e)})
            return False
        self._storage.append_event(
            protection.at,
            "sl_tp_attached",
            {
                "client_order_id": client_order_id,
                "asset": asset.value,
                "symbol": symbol,
                "stop_loss": stop_loss,
                "take_profit": take_profit,
                "reference_price": protection.reference_price,
                "fill_price": protection.fill_price,
            },
        )
        return True

    async def sync(self, asset: Asset, wanted: Mapping[str, Position]) -> list[str]:
        """Re-attach protection the broker's positions lack. ``wanted`` maps symbol -> the protected position
        as our journal knows it (``attach`` stored the fill-anchored levels there). Returns the symbols that
        were repaired."""
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

    def _position(self, asset: Asset, symbol: str) -> Position | None:
        for held in self._storage.positions():
            if held.asset == asset and held.symbol == symbol:
                return held
        return None


def _on_tick(instrument: Instrument, level: Decimal | None, client_order_id: str) -> Decimal | None:
    """``level`` rounded to the tick; a level a long way from the fill may land at or below 0: left out."""
    if level is None:
        return None
    rounded = instrument.round_price(level)
    if rounded <= 0:
        log.warning(
            "SL/TP level at or below zero left out",
            extra={"client_order_id": client_order_id, "level": str(level)},
        )
        return None
    return rounded
