"""The whole configuration as frozen pydantic models. The field defaults ARE the packaged defaults.

``config/default.yaml`` documents every key and must load to exactly ``AppConfig()`` (a test enforces it).
Here: ``AppConfig`` and its app-wide sections (runtime, storage, exposure, exploration, validation, feeds,
brokers, notifications, logging). The per-asset sections live in ``config_schema_assets``; the base section,
the field types and ``rule`` in ``config_schema_base``.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import AfterValidator, AwareDatetime, Field, ValidationInfo, field_validator

from app.domain.values import Asset
from app.services.config_schema_assets import AssetConfig, AssetsConfig
from app.services.config_schema_base import (
    ClusterName,
    ConfigSection,
    EnvName,
    Fraction,
    Symbols,
    Timeframe,
)

__all__ = [
    "AppConfig",
    "BrokersConfig",
    "BybitBrokerConfig",
    "BybitFeedConfig",
    "CorrelationConfig",
    "ExplorationConfig",
    "ExposureConfig",
    "FeedsConfig",
    "IbkrBrokerConfig",
    "LogNotifierConfig",
    "LoggingConfig",
    "NotificationsConfig",
    "ReplayFeedConfig",
    "RuntimeConfig",
    "StorageConfig",
    "StressConfig",
    "SyntheticFeedConfig",
    "TelegramConfig",
    "ValidationConfig",
    "WalkforwardConfig",
]


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
