"""The values of the per-trade risk rules (``app.domain.risk``): the limits they apply, what they read of one
proposed entry, and what they answer.

``RiskLimits`` holds each asset's ``RiskBand`` and the drawdown throttle's ``DrawdownStep``s (defaults
``DEFAULT_BANDS`` and ``DEFAULT_DRAWDOWN_STEPS``). ``OrderContext`` (or any ``OrderTerms`` record) is the entry
to check; ``SizeResult`` and ``RiskDecision`` are the answers, each ``Reduction`` a cap that lowered the size.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Protocol, final

import attrs

from app.domain.decision import Decision
from app.domain.errors import ValidationFailed
from app.domain.values import Asset, Instrument, Side

__all__ = [
    "DEFAULT_BANDS",
    "DEFAULT_DRAWDOWN_STEPS",
    "DrawdownStep",
    "OrderContext",
    "OrderTerms",
    "Reduction",
    "RiskBand",
    "RiskDecision",
    "RiskLimits",
    "SizeResult",
]

_ZERO = Decimal(0)
_ONE = Decimal(1)


@final
@attrs.frozen
class RiskBand:
    """One asset's per-trade limits; fractions are of the bucket's equity unless said otherwise.

    Args:
        risk_fraction: equity at risk per trade before drawdown throttling (default 0.01 = 1%).
        min_stop_distance / max_stop_distance: allowed ``|entry - stop| / entry`` (default 0.2% .. 10%).
        default_stop_distance: the protective stop given to a spec without one (default 2%, within the band).
        max_position_fraction: one position's notional at most this multiple of equity (default 1).
        max_leverage: (open notional + new notional) / equity at most this (default 1: no leverage).
        daily_loss_fraction: loss since the UTC day start that stops new entries (default 5%).
        max_strategy_positions: open positions one strategy may hold in the asset (default 3).
        max_strategy_risk_fraction: open risk one strategy may carry in the asset (default 3%).
    """

    risk_fraction: Decimal = Decimal("0.01")
    min_stop_distance: Decimal = Decimal("0.002")
    max_stop_distance: Decimal = Decimal("0.10")
    default_stop_distance: Decimal = Decimal("0.02")
    max_position_fraction: Decimal = _ONE
    max_leverage: Decimal = _ONE
    daily_loss_fraction: Decimal = Decimal("0.05")
    max_strategy_positions: int = 3
    max_strategy_risk_fraction: Decimal = Decimal("0.03")

    def __attrs_post_init__(self) -> None:
        problems: list[tuple[str, str]] = []
        for name in ("risk_fraction", "daily_loss_fraction", "max_strategy_risk_fraction"):
            value = getattr(self, name)
            if not _ZERO < value <= _ONE:
                problems.append((name, f"must be in (0, 1], got {value}"))
        if not (
            _ZERO < self.min_stop_distance <= self.default_stop_distance <= self.max_stop_distance < _ONE
        ):
            problems.append(("stop distances", "need 0 < min <= default <= max < 1"))
        if self.max_position_fraction <= 0:
            problems.append(("max_position_fraction", "must be positive"))
        if self.max_leverage < 1:
            problems.append(("max_leverage", "must be at least 1"))
        if self.max_strategy_positions < 1:
            problems.append(("max_strategy_positions", "must be at least 1"))
        if problems:
            raise ValidationFailed("risk band", problems)


def _band(
    risk: str, stops: tuple[str, str, str], size: tuple[str, str], daily: str, strat: tuple[int, str]
) -> RiskBand:
    return RiskBand(
        risk_fraction=Decimal(risk),
        min_stop_distance=Decimal(stops[0]),
        default_stop_distance=Decimal(stops[1]),
        max_stop_distance=Decimal(stops[2]),
        max_position_fraction=Decimal(size[0]),
        max_leverage=Decimal(size[1]),
        daily_loss_fraction=Decimal(daily),
        max_strategy_positions=strat[0],
        max_strategy_risk_fraction=Decimal(strat[1]),
    )


# Spot is the loosest band, options the tightest. Arguments: risk fraction, stop distances (min, default,
# max), (max position x equity, max leverage), daily loss, strategy (max positions, max open risk).
DEFAULT_BANDS: Mapping[Asset, RiskBand] = MappingProxyType(
    {
        Asset.SPOT: _band("0.02", ("0.002", "0.03", "0.15"), ("1", "1"), "0.06", (3, "0.06")),
        Asset.FUTURES: _band("0.01", ("0.002", "0.02", "0.10"), ("3", "5"), "0.04", (3, "0.03")),
        Asset.FOREX: _band("0.0075", ("0.0005", "0.005", "0.03"), ("10", "20"), "0.03", (3, "0.0225")),
        Asset.OPTIONS: _band("0.005", ("0.05", "0.25", "0.50"), ("0.2", "1"), "0.02", (2, "0.01")),
    }
)
"""Per-asset defaults: risk 2% / 1% / 0.75% / 0.5% (spot, futures, forex, options)."""


@final
@attrs.frozen
class DrawdownStep:
    """From ``drawdown`` (a fraction below the high-water mark) on, risk_fraction is multiplied by
    ``risk_multiplier``. A multiplier of 0 halts new entries until the drawdown recovers."""

    drawdown: Decimal
    risk_multiplier: Decimal

    def __attrs_post_init__(self) -> None:
        if not (_ZERO < self.drawdown < _ONE and _ZERO <= self.risk_multiplier <= _ONE):
            where = f"{self.drawdown} -> {self.risk_multiplier}"
            raise ValidationFailed("drawdown step", [(where, "need 0 < drawdown < 1, 0 <= multiplier <= 1")])


DEFAULT_DRAWDOWN_STEPS: tuple[DrawdownStep, ...] = (
    DrawdownStep(Decimal("0.05"), Decimal("0.75")),
    DrawdownStep(Decimal("0.10"), Decimal("0.50")),
    DrawdownStep(Decimal("0.20"), Decimal("0.25")),
)


def _freeze_bands(bands: Mapping[Asset, RiskBand]) -> Mapping[Asset, RiskBand]:
    return MappingProxyType(dict(bands))


@final
@attrs.frozen
class RiskLimits:
    """Every asset's band (default ``DEFAULT_BANDS``) and the drawdown throttle (default
    ``DEFAULT_DRAWDOWN_STEPS``)."""

    bands: Mapping[Asset, RiskBand] = attrs.field(default=DEFAULT_BANDS, converter=_freeze_bands, hash=False)
    drawdown_steps: tuple[DrawdownStep, ...] = DEFAULT_DRAWDOWN_STEPS


@final
@attrs.frozen(kw_only=True)
class OrderContext:
    """Everything the risk rules need about one proposed entry; the caller supplies every number (no clock).

    Args:
        equity: the bucket's equity, the base of every fraction.
        bucket_available: what the bucket can still spend (``Budget.available(asset)``).
        leverage: the order's leverage (1 for cash assets).
        high_water_mark: the bucket's equity peak; None means no drawdown.
        realized_pnl_today / unrealized_pnl: since the UTC day start, signed; only open losses count.
        strategy_open_positions / strategy_open_risk: the strategy's open positions in this asset and the sum
            of their ``qty x |entry - stop|``.
        open_notional: the asset's gross open notional (for the leverage cap).
        stop_is_default: the stop came from ``default_stop`` rather than the spec.
    """

    instrument: Instrument
    side: Side
    entry_price: Decimal
    stop_price: Decimal | None
    equity: Decimal
    bucket_available: Decimal
    strategy_id: str = ""
    take_profit: Decimal | None = None
    requested_qty: Decimal | None = None
    leverage: Decimal = _ONE
    high_water_mark: Decimal | None = None
    realized_pnl_today: Decimal = _ZERO
    unrealized_pnl: Decimal = _ZERO
    strategy_open_positions: int = 0
    strategy_open_risk: Decimal = _ZERO
    open_notional: Decimal = _ZERO
    stop_is_default: bool = False

    @property
    def asset(self) -> Asset:
        return self.instrument.asset


class OrderTerms(Protocol):
    """What ``pretrade_check`` reads of a proposed entry: ``OrderContext``'s fields (an OrderContext is one).

    Any record with them will do: risk_manager builds a plain one for each order, several times cheaper than
    a frozen attrs value (whose every field is set through ``object.__setattr__``).
    """

    @property
    def instrument(self) -> Instrument: ...
    @property
    def side(self) -> Side: ...
    @property
    def entry_price(self) -> Decimal: ...
    @property
    def stop_price(self) -> Decimal | None: ...
    @property
    def equity(self) -> Decimal: ...
    @property
    def bucket_available(self) -> Decimal: ...
    @property
    def strategy_id(self) -> str: ...
    @property
    def take_profit(self) -> Decimal | None: ...
    @property
    def requested_qty(self) -> Decimal | None: ...
    @property
    def leverage(self) -> Decimal: ...
    @property
    def high_water_mark(self) -> Decimal | None: ...
    @property
    def realized_pnl_today(self) -> Decimal: ...
    @property
    def unrealized_pnl(self) -> Decimal: ...
    @property
    def strategy_open_positions(self) -> int: ...
    @property
    def strategy_open_risk(self) -> Decimal: ...
    @property
    def open_notional(self) -> Decimal: ...
    @property
    def stop_is_default(self) -> bool: ...


@final
@attrs.frozen
class Reduction:
    """A rule that lowered the size: its code, the largest quantity it allows, and why."""

    code: str
    limit: Decimal
    reason: str


@final
@attrs.frozen
class SizeResult:
    """The largest allowed size. ``capped_by``: the caps that lowered it below the risk formula, in order;
    ``code`` is not ``"ok"`` when no size could be computed (then ``qty`` is 0)."""

    qty: Decimal
    risk_fraction: Decimal
    risk_amount: Decimal
    stop_price: Decimal | None
    stop_is_default: bool
    capped_by: tuple[Reduction, ...] = ()
    code: str = "ok"
    reason: str = ""


@final
@attrs.frozen
class RiskDecision:
    """The pre-trade answer: allowed or not, with the approved ``qty`` and the reductions that led to it."""

    allowed: bool
    code: str
    reason: str
    qty: Decimal = _ZERO
    stop_price: Decimal | None = None
    stop_is_default: bool = False
    risk_amount: Decimal = _ZERO
    risk_fraction: Decimal = _ZERO
    reductions: tuple[Reduction, ...] = ()

    @property
    def decision(self) -> Decision:
        """The plain Decision, for the order pipeline's uniform handling."""
        return Decision(self.allowed, self.code, self.reason)

    def with_stop_price(self, stop_price: Decimal | None) -> RiskDecision:
        """The same decision with its stop given in other units (the instrument's, for the order)."""
        # Spelled out rather than attrs.evolve: this runs once per order and evolve costs 3-4x as much.
        return RiskDecision(
            self.allowed,
            self.code,
            self.reason,
            self.qty,
            stop_price,
            self.stop_is_default,
            self.risk_amount,
            self.risk_fraction,
            self.reductions,
        )

    def __bool__(self) -> bool:
        return self.allowed
