"""The whole configuration as frozen pydantic models. The field defaults ARE the packaged defaults.

``config/default.yaml`` documents every key and must load to exactly ``AppConfig()`` (a test enforces it).
Money and risk fractions on the order path are ``Decimal``; research thresholds (validation) are ``float``.
Cross-field rules raise ``rule(reason, field=...)`` so that an error names the offending field itself.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import platformdirs
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.domain.timeframes import parse_timeframe
from app.domain.values import Asset

__all__ = [
    "BROKER_OF_ASSET",
    "DEFAULT_ASSETS",
    "AppConfig",
    "AssetConfig",
    "AssetsConfig",
    "BrokersConfig",
    "BudgetConfig",
    "BybitAssetConfig",
    "BybitBrokerConfig",
    "BybitFeedConfig",
    "ConfigSection",
    "CorrelationConfig",
    "DrawdownStep",
    "ExplorationConfig",
    "ExposureConfig",
    "FeedsConfig",
    "FeesConfig",
    "IbkrAssetConfig",
    "IbkrBrokerConfig",
    "LogNotifierConfig",
    "LoggingConfig",
    "NotificationsConfig",
    "PaperWalletConfig",
    "ReplayFeedConfig",
    "RiskConfig",
    "RuntimeConfig",
    "StorageConfig",
    "StressConfig",
    "SyntheticFeedConfig",
    "TelegramConfig",
    "ValidationConfig",
    "WalkforwardConfig",
    "rule",
]

RULE_ERROR = "config_rule"
BROKER_OF_ASSET: Mapping[Asset, str] = {
    Asset.SPOT: "bybit",
    Asset.FUTURES: "bybit",
    Asset.FOREX: "ibkr",
    Asset.OPTIONS: "ibkr",
}

_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9._/-]*$")
_CURRENCY = re.compile(r"^[A-Z0-9]{2,10}$")
_CLUSTER = re.compile(r"^[a-z][a-z0-9_]*$")
_ASSET_KEYS = frozenset(asset.value for asset in Asset)


def rule(reason: str, field: str = "") -> PydanticCustomError:
    """A validation error for a cross-field rule; ``field`` (dotted, relative) says where it points."""
    return PydanticCustomError(RULE_ERROR, "{reason}", {"reason": reason, "field": field})


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        msg = "must be the NAME of an environment variable (A-Z, 0-9, _), never the secret itself"
        raise ValueError(msg)
    return value


def _symbol(value: str) -> str:
    if not _SYMBOL.match(value):
        msg = f"{value!r} is not a symbol: use upper case letters and digits, e.g. BTCUSDT"
        raise ValueError(msg)
    return value


def _matching(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            msg = f"{value!r} is not {what}"
            raise ValueError(msg)
        return value

    return AfterValidator(check)


def _timeframe(value: str) -> str:
    parse_timeframe(value)
    return value


def _symbol_list(values: tuple[str, ...]) -> tuple[str, ...]:
    if not values:
        msg = "must list at least one symbol"
        raise ValueError(msg)
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise rule(f"{value} is listed twice", field=str(index))
        seen.add(value)
    return values


Fraction = Annotated[Decimal, Field(gt=0, le=1)]
Money = Annotated[Decimal, Field(gt=0)]
EnvName = Annotated[str, AfterValidator(_env_name)]
Symbol = Annotated[str, AfterValidator(_symbol)]
Symbols = Annotated[tuple[Symbol, ...], AfterValidator(_symbol_list)]
Timeframe = Annotated[str, AfterValidator(_timeframe)]
Currency = Annotated[str, _matching(_CURRENCY, "a currency code in upper case, e.g. BTC or EUR")]
ClusterName = Annotated[str, _matching(_CLUSTER, "a cluster name: lower case letters, digits and _")]


class ConfigSection(BaseModel):
    """Base of every configuration model: frozen, unknown keys rejected, defaults validated too."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _empty_section_means_defaults(cls, data: Any) -> Any:
        # `validation:` with nothing under it is YAML null: read it as "all defaults".
        if not isinstance(data, Mapping):
            return data
        return {key: value for key, value in data.items() if not (value is None and _is_section(cls, key))}


def _is_section(model: type[BaseModel], key: object) -> bool:
    field = model.model_fields.get(key) if isinstance(key, str) else None
    kind = field.annotation if field is not None else None
    return isinstance(kind, type) and issubclass(kind, ConfigSection)


class RuntimeConfig(ConfigSection):
    seed: int = Field(default=7, ge=0)
    status_interval_s: float = Field(default=5.0, gt=0)
    mode: Literal["paper", "live"] = "paper"


class StorageConfig(ConfigSection):
    """File names are relative to ``home`` unless absolute; ``home`` None means the platformdirs default."""

    home: Path | None = None
    paper_db: Path = Path("paper.db")
    live_db: Path = Path("live.db")
    log_file: Path = Path("app.log")

    @field_validator("live_db", "log_file")
    @classmethod
    def _distinct_files(cls, value: Path, info: ValidationInfo) -> Path:
        for other in ("paper_db", "live_db"):
            if other != info.field_name and _same_file(value, info.data.get(other)):
                msg = f"must differ from {other} ({value}): each file has one job"
                raise ValueError(msg)
        return value

    def home_dir(self) -> Path:
        """The state folder: ``home`` (with ``~`` expanded) or the user data dir of ``app``."""
        return self.home.expanduser() if self.home else Path(platformdirs.user_data_dir("app"))

    def db_path(self, mode: Literal["paper", "live"]) -> Path:
        """The database file of a mode, resolved against the home folder."""
        return self._resolve(self.paper_db if mode == "paper" else self.live_db)

    def log_path(self) -> Path:
        """The log file, resolved against the home folder."""
        return self._resolve(self.log_file)

    def _resolve(self, name: Path) -> Path:
        name = name.expanduser()
        return name if name.is_absolute() else self.home_dir() / name


def _same_file(first: Path, second: Path | None) -> bool:
    return second is not None and os.path.normpath(first) == os.path.normpath(second)


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


class CorrelationConfig(ConfigSection):
    window_bars: int = Field(default=500, ge=10)
    timeframe: Timeframe = "1h"
    threshold: float = Field(default=0.8, gt=0, le=1)


class ExposureConfig(ConfigSection):
    """Portfolio caps. Percentages are fractions of the symbol's asset allocation."""

    clusters: dict[ClusterName, Symbols] = Field(
        default_factory=lambda: {  # type: ignore[arg-type]  # mypy reads fixed-length tuples
            "btc_l1": ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT", "AVAXUSDT"),
            "btc_quoted_alts": ("ETHBTC", "LTCBTC", "ADABTC", "XLMBTC", "ETCBTC", "DASHBTC"),
            "usd_majors": ("EURUSD", "GBPUSD", "USDJPY", "USDCHF", "AUDUSD", "USDCAD"),
        }
    )
    max_positions_per_cluster: int = Field(default=2, ge=1)
    max_cluster_alloc_pct: Fraction = Decimal("0.3")
    max_gross_exposure_pct: Decimal = Field(default=Decimal(2), gt=0, le=100)
    max_net_exposure_pct: Decimal = Field(default=Decimal(1), gt=0, le=100)
    max_concurrent_positions: int = Field(default=10, ge=1)
    correlation: CorrelationConfig = Field(default_factory=CorrelationConfig)

    @field_validator("max_net_exposure_pct")
    @classmethod
    def _net_within_gross(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        gross = info.data.get("max_gross_exposure_pct")
        if gross is not None and value > gross:
            msg = f"must not exceed max_gross_exposure_pct ({gross})"
            raise ValueError(msg)
        return value


class ExplorationConfig(ConfigSection):
    active_candidates_per_asset: int = Field(default=4, ge=1)
    rotation: Literal["round_robin_with_boost"] = "round_robin_with_boost"
    max_trades_per_hour_per_candidate: int = Field(default=6, ge=1)
    cooldown_minutes: float = Field(default=15.0, ge=0)
    paused: bool = False


class WalkforwardConfig(ConfigSection):
    n_splits: int = Field(default=5, ge=2)
    embargo_pct: float = Field(default=0.01, ge=0, lt=0.5)


class StressConfig(ConfigSection):
    n_sims: int = Field(default=1000, ge=1, le=1_000_000)
    param_shock_pct: float = Field(default=0.1, gt=0, le=1)


class ValidationConfig(ConfigSection):
    """The promotion gate's thresholds; losses and drawdowns are positive fractions."""

    min_profit_factor: float = Field(default=1.5, gt=0)
    min_sharpe: float = Field(default=2.0, ge=0)
    max_drawdown: float = Field(default=0.15, gt=0, le=1)
    max_cvar_95: float = Field(default=0.05, gt=0, le=1)
    min_online_trades: int = Field(default=100, ge=1)
    min_backtest_trades: int = Field(default=200, ge=1)
    min_profitable_fold_share: float = Field(default=0.6, gt=0, le=1)
    stress_p5_max_drawdown: float = Field(default=0.25, gt=0, le=1)
    max_pbo: float = Field(default=0.5, ge=0, le=1)
    min_deflated_sharpe: float = Field(default=0.95, ge=0, le=1)
    walkforward: WalkforwardConfig = Field(default_factory=WalkforwardConfig)
    stress: StressConfig = Field(default_factory=StressConfig)


class SyntheticFeedConfig(ConfigSection):
    symbols: Symbols = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")
    timeframe: Timeframe = "1m"
    start: AwareDatetime = datetime(2024, 1, 1, tzinfo=UTC)
    speed: float = Field(default=60.0, gt=0)

    @field_validator("start")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class ReplayFeedConfig(ConfigSection):
    path: Path | None = None
    speed: Literal["max"] | float = "max"

    @field_validator("speed", mode="plain")
    @classmethod
    def _max_or_positive(cls, value: object) -> Literal["max"] | float:
        if value == "max":
            return "max"
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool) and 0 < value < 1e9:
            return float(value)
        msg = "must be 'max' (as fast as possible) or a positive number (times real time)"
        raise ValueError(msg)


def _url(*schemes: str) -> AfterValidator:
    def check(value: str | None) -> str | None:
        if value is not None and (not value.startswith(tuple(f"{s}://" for s in schemes)) or "{" in value):
            msg = (
                f"{value!r} is not a base URL: expected {' or '.join(f'{s}://HOST[:PORT]' for s in schemes)}"
            )
            raise ValueError(msg)
        return value

    return AfterValidator(check)


class BybitFeedConfig(ConfigSection):
    """Bybit public market data. ``rest_url``/``ws_url`` None: pybit's (mainnet, or testnet with ``testnet``)."""

    testnet: bool = False
    category: Literal["spot", "linear", "inverse", "option"] = "spot"
    symbols: Symbols = ("BTCUSDT", "ETHUSDT")
    timeframe: Timeframe = "1m"
    rest_url: Annotated[str | None, _url("http", "https")] = None
    ws_url: Annotated[str | None, _url("ws", "wss")] = None
    warm_up_bars: int = Field(default=200, ge=0)
    max_catch_up_bars: int = Field(default=1440, ge=0)


class FeedsConfig(ConfigSection):
    default: Literal["synthetic", "replay", "bybit"] = "synthetic"
    synthetic: SyntheticFeedConfig = Field(default_factory=SyntheticFeedConfig)
    replay: ReplayFeedConfig = Field(default_factory=ReplayFeedConfig)
    bybit: BybitFeedConfig = Field(default_factory=BybitFeedConfig)


class BybitBrokerConfig(ConfigSection):
    # Names of environment variables, not secrets (S105 cannot tell the difference).
    api_key_env: EnvName = "BYBIT_API_KEY"
    api_secret_env: EnvName = "BYBIT_API_SECRET"  # noqa: S105
    testnet: bool = False


class IbkrBrokerConfig(ConfigSection):
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=4002, ge=1, le=65535)
    client_id: int = Field(default=1, ge=0)


class BrokersConfig(ConfigSection):
    bybit: BybitBrokerConfig = Field(default_factory=BybitBrokerConfig)
    ibkr: IbkrBrokerConfig = Field(default_factory=IbkrBrokerConfig)


class LogNotifierConfig(ConfigSection):
    enabled: bool = True


class TelegramConfig(ConfigSection):
    enabled: bool = False
    bot_token_env: EnvName = "TELEGRAM_BOT_TOKEN"  # noqa: S105 (a variable's name)
    chat_id_env: EnvName = "TELEGRAM_CHAT_ID"


class NotificationsConfig(ConfigSection):
    log: LogNotifierConfig = Field(default_factory=LogNotifierConfig)
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)


class LoggingConfig(ConfigSection):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # `json` would shadow BaseModel.json: the YAML key is `json`, the attribute `as_json`.
    as_json: bool = Field(default=False, alias="json")


class AppConfig(ConfigSection):
    """The whole configuration; each field is a section that ``ConfigManager.get`` returns by name."""

    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    assets: AssetsConfig = Field(default_factory=AssetsConfig)
    exposure: ExposureConfig = Field(default_factory=ExposureConfig)
    exploration: ExplorationConfig = Field(default_factory=ExplorationConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    feeds: FeedsConfig = Field(default_factory=FeedsConfig)
    brokers: BrokersConfig = Field(default_factory=BrokersConfig)
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    def get_asset(self, asset: Asset) -> AssetConfig:
        """The configuration of one asset class (shorthand for ``assets.get(asset)``)."""
        return self.assets.get(asset)
