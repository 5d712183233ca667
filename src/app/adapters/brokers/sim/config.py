"""Settings of one simulated venue account, and of the faults it may inject for tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal, final

import attrs

from app.domain.fills import FillCosts
from app.domain.values import Asset, Instrument

__all__ = ["FundingSeries", "SimConfig", "SimFaults"]

FundingSeries = Sequence[tuple[datetime, Decimal]]
"""(funding time, rate) pairs of one symbol, oldest first."""


@final
@attrs.frozen
class SimFaults:
    """Seeded random faults, each a probability per opportunity (default: none). One-shot faults are armed
    on ``SimBroker.faults`` instead.

    Args:
        seed: seeds the fault dice; the same seed and inputs give the same faults.
        reject_rate: a ``place_order`` is refused (nothing created).
        timeout_rate: a ``place_order`` is accepted but raises OrderOutcomeUnknown.
        drop_fill_rate: a fill happens but its event is not reported by ``drain_events``.
        duplicate_rate: an event is reported twice.
        reorder_rate: one ``drain_events`` answer comes shuffled.
    """

    seed: int = 0
    reject_rate: float = 0.0
    timeout_rate: float = 0.0
    drop_fill_rate: float = 0.0
    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0


@final
@attrs.frozen
class SimConfig:
    """One asset's paper account.

    Args:
        currency: the bucket's currency (balances are valued in it).
        starting_cash: what the wallet holds at the start of a session.
        margin: False for spot (cash buys the base coin; no short selling), True for margined assets
            (futures, forex, options: signed positions, cash moves by realised P&L and fees).
        reference_rates: currency -> value in ``currency``, used when the feed gives no rate.
        instruments: symbol -> instrument rules.
        costs: maker/taker fees and the slippage model (fixed bps + volatility share).
        max_volume_share: share of a bar's volume the orders of its symbol may take together (None:
            unlimited); the rest of an order keeps working on later bars.
        latency: delay in feed time before an order or a cancel reaches the book: an order placed at t works
            on bars whose open time is >= t + latency; a cancel likewise (the order may fill meanwhile).
        trigger_by: ``"last"`` (trade prices) or ``"mark"`` (mark-price bars given to ``on_mark_candle``)
            for server-side stop loss / take profit.
        leverage: margin accounts only; None (default) means no margin model (no initial margin check, no
            liquidation). With a leverage, entries need initial margin and positions can be liquidated.
        leverage_by_symbol: per-symbol leverage overriding ``leverage``.
        maintenance_margin_rate: share of notional kept as maintenance margin (sets the liquidation price).
        funding_rates: symbol -> funding series charged to open positions at each funding time.
        faults: seeded random faults (tests only).
    """

    asset: Asset
    currency: str
    starting_cash: Decimal
    instruments: Callable[[str], Instrument]
    costs: FillCosts = attrs.field(factory=FillCosts)
    margin: bool = False
    reference_rates: Mapping[str, Decimal] = attrs.field(factory=dict)
    max_volume_share: Decimal | None = None
    latency: timedelta = timedelta(0)
    trigger_by: Literal["last", "mark"] = "last"
    leverage: Decimal | None = None
    leverage_by_symbol: Mapping[str, Decimal] = attrs.field(factory=dict)
    maintenance_margin_rate: Decimal = Decimal("0.005")
    funding_rates: Mapping[str, FundingSeries] = attrs.field(factory=dict)
    faults: SimFaults = attrs.field(factory=SimFaults)

    def leverage_for(self, symbol: str) -> Decimal | None:
        """The leverage of ``symbol`` (None: no margin model)."""
        if not self.margin:
            return None
        return self.leverage_by_symbol.get(symbol, self.leverage)
