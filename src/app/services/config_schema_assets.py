"""The per-asset configuration: broker, paper wallet, budget bucket, fees, risk band and fallback rates.

Each asset class's built-in defaults (``DEFAULT_ASSETS``) live here; a partial asset in YAML is completed
from its own defaults, not from another asset's.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from app.domain.values import Asset
from app.services.config_schema_base import ConfigSection, Currency, Fraction, Money, rule

__all__ = [
    "BROKER_OF_ASSET",
    "DEFAULT_ASSETS",
    "AssetConfig",
    "AssetsConfig",
    "BudgetConfig",
    "BybitAssetConfig",
    "DrawdownStep",
    "FeesConfig",
    "IbkrAssetConfig",
    "PaperWalletConfig",
    "RiskConfig",
]

BROKER_OF_ASSET: Mapping[Asset, str] = {
    Asset.SPOT: "bybit",
    Asset.FUTURES: "bybit",
    Asset.FOREX: "ibkr",
    Asset.OPTIONS: "ibkr",
}

_ASSET_KEYS = frozenset(asset.value for asset in Asset)


class PaperWalletConfig(ConfigSection):
    start_equity: Money = Decimal(1000)
    topup_threshold: Decimal = Field(default=Decimal(10), ge=0)
    topup_amount: Money = Decimal(1000)

    @field_validator("topup_threshold")
    @classmethod
    def _below_start(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        start = info.data.get("start_equity")
        if start is not None and value >= start:
            msg = f"must be below start_equity ({start}), or a fresh wallet is topped up at once"
            raise ValueError(msg)
        return value


class BudgetConfig(ConfigSection):
    allocation: Decimal = Field(default=Decimal(1000), ge=0)
    realloc_step: Money = Decimal(100)


class FeesConfig(ConfigSection):
    maker: Decimal = Field(ge=0, le=Decimal("0.05"))
    taker: Decimal = Field(ge=0, le=Decimal("0.05"))


class DrawdownStep(ConfigSection):
    drawdown: Decimal = Field(gt=0, lt=1)
    risk_multiplier: Decimal = Field(ge=0, lt=1)


class RiskConfig(ConfigSection):
    """Per-asset risk band. Fractions are of the bucket's equity unless named otherwise."""

    risk_fraction: Fraction
    min_sl_distance_pct: Fraction
    max_sl_distance_pct: Fraction
    default_stop_pct: Fraction
    max_leverage: Decimal = Field(ge=1, le=100)
    max_position_pct: Decimal = Field(gt=0)
    max_notional_per_order: Money
    daily_loss_cap_pct: Fraction
    per_strategy_max_positions: int = Field(ge=1)
    per_strategy_max_open_risk_pct: Fraction
    drawdown_steps: tuple[DrawdownStep, ...] = ()

    @field_validator("max_sl_distance_pct")
    @classmethod
    def _band_is_ordered(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        low = info.data.get("min_sl_distance_pct")
        if low is not None and value <= low:
            msg = f"must be above min_sl_distance_pct ({low})"
            raise ValueError(msg)
        return value

    @field_validator("default_stop_pct")
    @classmethod
    def _stop_within_band(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        low, high = info.data.get("min_sl_distance_pct"), info.data.get("max_sl_distance_pct")
        if low is not None and high is not None and not low <= value <= high:
            msg = f"must lie within the stop band [{low}, {high}] (min/max_sl_distance_pct)"
            raise ValueError(msg)
        return value

    @field_validator("max_position_pct")
    @classmethod
    def _within_leverage(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        leverage = info.data.get("max_leverage")
        if leverage is not None and value > leverage:
            msg = f"must not exceed max_leverage ({leverage}): notional above allocation needs leverage"
            raise ValueError(msg)
        return value

    @field_validator("daily_loss_cap_pct", "per_strategy_max_open_risk_pct")
    @classmethod
    def _room_for_one_trade(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        per_trade = info.data.get("risk_fraction")
        if per_trade is not None and value < per_trade:
            msg = f"must be at least risk_fraction ({per_trade}), or a single trade breaks it"
            raise ValueError(msg)
        return value

    @field_validator("drawdown_steps")
    @classmethod
    def _steps_tighten(cls, steps: tuple[DrawdownStep, ...]) -> tuple[DrawdownStep, ...]:
        for index in range(1, len(steps)):
            before, step = steps[index - 1], steps[index]
            if step.drawdown <= before.drawdown:
                reason = f"must be above the previous step's drawdown ({before.drawdown})"
                raise rule(reason, field=f"{index}.drawdown")
            if step.risk_multiplier >= before.risk_multiplier:
                reason = f"must be below the previous step's multiplier ({before.risk_multiplier})"
                raise rule(reason, field=f"{index}.risk_multiplier")
        return steps


class AssetConfig(ConfigSection):
    """One asset class: its broker, paper wallet, budget bucket, costs, risk band and fallback rates."""

    BROKER: ClassVar[str] = ""

    enabled: bool
    broker: Literal["bybit", "ibkr"]
    currency: Literal["USD"] = "USD"
    paper: PaperWalletConfig = Field(default_factory=PaperWalletConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    fees: FeesConfig
    slippage_bps: Decimal = Field(ge=0, le=1000)
    risk: RiskConfig
    quote_rates: dict[Currency, Annotated[Decimal, Field(gt=0)]] = Field(default_factory=dict)

    @field_validator("broker")
    @classmethod
    def _broker_of_asset(cls, broker: str) -> str:
        if cls is not AssetConfig and broker != cls.BROKER:
            names = " and ".join(a.value for a, b in BROKER_OF_ASSET.items() if b == cls.BROKER)
            msg = f"{names} trade through {cls.BROKER}, not {broker}"
            raise ValueError(msg)
        return broker

    @field_validator("budget")
    @classmethod
    def _enabled_needs_money(cls, value: BudgetConfig, info: ValidationInfo) -> BudgetConfig:
        if info.data.get("enabled") and value.allocation <= 0:
            raise rule("an enabled asset needs a positive allocation", field="allocation")
        return value


class BybitAssetConfig(AssetConfig):
    """Spot or futures: traded on Bybit (UTA)."""

    BROKER: ClassVar[str] = "bybit"


class IbkrAssetConfig(AssetConfig):
    """Forex or options: traded through Interactive Brokers."""

    BROKER: ClassVar[str] = "ibkr"


_Asset = TypeVar("_Asset", bound=AssetConfig)


# fmt: off
def _asset(
    model: type[_Asset], *, enabled: bool, fees: tuple[str, str], slippage_bps: int,
    band: tuple[str, str, str, str], leverage: int, max_position_pct: str, max_notional: int,
    caps: tuple[str, int, str], steps: tuple[tuple[str, str], ...], quote_rates: dict[str, str],
) -> _Asset:
    risk_fraction, min_sl, max_sl, default_stop = band
    daily_loss_cap, max_positions, max_open_risk = caps
    return model.model_validate({
        "enabled": enabled, "broker": model.BROKER, "slippage_bps": slippage_bps,
        "quote_rates": quote_rates, "fees": {"maker": fees[0], "taker": fees[1]},
        "risk": {
            "risk_fraction": risk_fraction, "min_sl_distance_pct": min_sl,
            "max_sl_distance_pct": max_sl, "default_stop_pct": default_stop,
            "max_leverage": leverage, "max_position_pct": max_position_pct,
            "max_notional_per_order": max_notional, "daily_loss_cap_pct": daily_loss_cap,
            "per_strategy_max_positions": max_positions,
            "per_strategy_max_open_risk_pct": max_open_risk,
            "drawdown_steps": [{"drawdown": d, "risk_multiplier": m} for d, m in steps],
        },
    })


# Spot has the loosest band, options the tightest (DESIGN.md, Assets). band = (risk_fraction,
# min_sl_distance_pct, max_sl_distance_pct, default_stop_pct); caps = (daily_loss_cap_pct,
# per_strategy_max_positions, per_strategy_max_open_risk_pct); steps = (drawdown, risk_multiplier).
_SPOT = _asset(
    BybitAssetConfig, enabled=True, fees=("0.001", "0.001"), slippage_bps=2,
    band=("0.02", "0.002", "0.10", "0.02"), leverage=1, max_position_pct="1", max_notional=5000,
    caps=("0.06", 2, "0.04"), steps=(("0.05", "0.75"), ("0.10", "0.5"), ("0.15", "0.25")),
    quote_rates={"USDT": "1", "USDC": "1", "BTC": "30000", "ETH": "2000"},
)
_FUTURES = _asset(
    BybitAssetConfig, enabled=True, fees=("0.0002", "0.00055"), slippage_bps=2,
    band=("0.015", "0.003", "0.08", "0.015"), leverage=5, max_position_pct="3", max_notional=10000,
    caps=("0.045", 2, "0.03"), steps=(("0.04", "0.75"), ("0.08", "0.5"), ("0.12", "0.25")),
    quote_rates={"USDT": "1", "USDC": "1"},
)
_FOREX = _asset(
    IbkrAssetConfig, enabled=False, fees=("0.00002", "0.00002"), slippage_bps=1,
    band=("0.01", "0.001", "0.03", "0.005"), leverage=10, max_position_pct="3", max_notional=25000,
    caps=("0.03", 2, "0.02"), steps=(("0.03", "0.75"), ("0.06", "0.5"), ("0.10", "0.25")),
    quote_rates={"EUR": "1.08", "GBP": "1.27", "JPY": "0.0067", "CHF": "1.12", "AUD": "0.66",
                 "CAD": "0.74"},
)
_OPTIONS = _asset(
    IbkrAssetConfig, enabled=False, fees=("0.002", "0.002"), slippage_bps=10,
    band=("0.005", "0.05", "0.5", "0.25"), leverage=1, max_position_pct="0.2", max_notional=500,
    caps=("0.02", 1, "0.01"), steps=(("0.02", "0.5"), ("0.05", "0.25")), quote_rates={},
)
DEFAULT_ASSETS: Mapping[Asset, AssetConfig] = {
    Asset.SPOT: _SPOT, Asset.FUTURES: _FUTURES, Asset.FOREX: _FOREX, Asset.OPTIONS: _OPTIONS,
}
# fmt: on


def _overlay(default: BaseModel, given: Mapping[Any, Any]) -> dict[Any, Any]:
    """``given`` on top of ``default``: nested sections merge key by key; lists and mappings replace."""
    fields = type(default).model_fields
    merged: dict[Any, Any] = {field.alias or name: getattr(default, name) for name, field in fields.items()}
    for key, value in given.items():
        current = merged.get(key)
        if isinstance(current, ConfigSection) and isinstance(value, Mapping):
            merged[key] = _overlay(current, value)
        elif not (value is None and isinstance(current, ConfigSection)):
            merged[key] = value
    return merged


class AssetsConfig(ConfigSection):
    """Exactly the four asset classes; a partial asset in YAML is completed from ITS OWN defaults."""

    spot: BybitAssetConfig = Field(default_factory=lambda: _SPOT)
    futures: BybitAssetConfig = Field(default_factory=lambda: _FUTURES)
    forex: IbkrAssetConfig = Field(default_factory=lambda: _FOREX)
    options: IbkrAssetConfig = Field(default_factory=lambda: _OPTIONS)

    @model_validator(mode="before")
    @classmethod
    def _complete_from_asset_defaults(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        return {
            key: _overlay(DEFAULT_ASSETS[Asset(key)], value or {})
            if key in _ASSET_KEYS and (value is None or isinstance(value, Mapping))
            else value
            for key, value in data.items()
        }

    def get(self, asset: Asset) -> AssetConfig:
        """The configuration of one asset class."""
        return {
            Asset.SPOT: self.spot,
            Asset.FUTURES: self.futures,
            Asset.FOREX: self.forex,
            Asset.OPTIONS: self.options,
        }[asset]

    def enabled(self) -> tuple[Asset, ...]:
        """The enabled asset classes, in the order spot, futures, forex, options."""
        return tuple(asset for asset in Asset if self.get(asset).enabled)
