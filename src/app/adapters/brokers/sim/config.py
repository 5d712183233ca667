"""Settings of one simulated venue account."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import final

import attrs

from app.domain.fills import FillCosts
from app.domain.values import Asset, Instrument

__all__ = ["SimConfig"]


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
    """

    asset: Asset
    currency: str
    starting_cash: Decimal
    instruments: Callable[[str], Instrument]
    costs: FillCosts = attrs.field(factory=FillCosts)
    margin: bool = False
    reference_rates: Mapping[str, Decimal] = attrs.field(factory=dict)
