"""config_manager: the one owner of configuration: load, validate, version-tag and hot-reload the YAML.

A file may be partial (missing keys take the defaults of ``AppConfig``) but never wrong: unknown keys,
bad values and secrets pasted into the file are all reported at once, each as ``(dotted.path, reason)``
in a ``ValidationFailed``. Nothing here does business logic.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, final, get_args, get_origin

import attrs
import yaml
from pydantic import BaseModel, ValidationError

from app.domain.errors import ValidationFailed
from app.domain.values import Asset
from app.services.config_schema import (
    AppConfig,
    ExposureConfig,
    FeedsConfig,
    StorageConfig,
    ValidationConfig,
)
from app.services.config_schema_assets import AssetConfig, AssetsConfig, RiskConfig
from app.services.config_schema_base import RULE_ERROR, ConfigSection

__all__ = ["ConfigManager", "ReloadResult", "config_version", "load_config", "summarize"]

logger = logging.getLogger("app.config")

SECTIONS: tuple[str, ...] = tuple(AppConfig.model_fields)

Problem = tuple[str, str]

# A key that names a secret (not the `_env` variable that holds one) must never carry a value in the file.
_SECRET_KEY = re.compile(
    r"(^|_)(api_?key|api_?secret|secret|secret_key|private_key|token|password|passwd|passphrase)$"
)


def load_config(path: Path | None) -> AppConfig:
    """The configuration in ``path``, completed with defaults; ``None`` means the packaged defaults.

    Raises:
        ValidationFailed: with every problem found, each as ``(dotted.path, reason)``.
    """
    if path is None:
        return AppConfig()
    return _parse(_read(path), str(path))


def config_version(config: AppConfig) -> str:
    """A short hash of the configuration's content: equal configurations have equal versions."""
    payload = json.dumps(_canonical(config.model_dump(by_alias=True)), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


@final
@attrs.frozen
class ReloadResult:
    """The outcome of ``ConfigManager.reload_if_changed``.

    ``changed``: the file differs from the content read last time. ``accepted``: the file's content is the
    configuration in force (False while an invalid edit is pending). ``version``: the version in force.
    ``problems``: why the file's content was refused, as ``(dotted.path, reason)``.
    """

    changed: bool
    accepted: bool
    version: str
    problems: list[Problem] = attrs.field(factory=list)


class ConfigManager:
    """Holds the configuration in force and swaps it for a changed file only when the file is valid."""

    def __init__(self, path: Path | None = None) -> None:
        """Load ``path`` (or the defaults). Raises ValidationFailed when the file is invalid."""
        self._path = path
        self._seen = ""
        self._pending: list[Problem] = []
        if path is None:
            self._config = AppConfig()
        else:
            raw = _read(path)
            self._config = _parse(raw, str(path))
            self._seen = _digest(raw)
        self._version = config_version(self._config)

    @property
    def path(self) -> Path | None:
        """The file watched; None when the manager holds the built-in defaults."""
        return self._path

    @property
    def config(self) -> AppConfig:
        """The configuration in force."""
        return self._config

    @property
    def version(self) -> str:
        """The version tag (short content hash) of the configuration in force."""
        return self._version

    def get(self, section: str) -> ConfigSection:
        """One section by name (``"assets"``, ``"validation"``, ...). Raises ValueError on an unknown name."""
        if section not in SECTIONS:
            msg = f"unknown config section {section!r}; known sections: {', '.join(SECTIONS)}"
            raise ValueError(msg)
        value: ConfigSection = getattr(self._config, section)
        return value

    def get_assets(self) -> AssetsConfig:
        """The four asset classes."""
        return self._config.assets

    def get_asset(self, asset: Asset) -> AssetConfig:
        """One asset class: broker, wallet, budget, costs, risk band."""
        return self._config.assets.get(asset)

    def get_risk(self, asset: Asset) -> RiskConfig:
        """The risk band of one asset class."""
        return self._config.assets.get(asset).risk

    def get_exposure(self) -> ExposureConfig:
        """Portfolio caps and clusters."""
        return self._config.exposure

    def get_validation(self) -> ValidationConfig:
        """The promotion gate's thresholds."""
        return self._config.validation

    def get_feeds(self) -> FeedsConfig:
        """Market data feed settings."""
        return self._config.feeds

    def get_storage(self) -> StorageConfig:
        """Home folder and file names."""
        return self._config.storage

    def reload_if_changed(self) -> ReloadResult:
        """Re-read the file if its content changed; adopt it only if valid, else keep the old one and warn."""
        if self._path is None:
            return ReloadResult(changed=False, accepted=True, version=self._version)
        source = str(self._path)
        try:
            raw = _read(self._path)
        except ValidationFailed as unreadable:
            return self._refuse(_digest(repr(unreadable.problems).encode()), unreadable.problems)
        digest = _digest(raw)
        if digest == self._seen:
            return ReloadResult(
                changed=False, accepted=not self._pending, version=self._version, problems=list(self._pending)
            )
        try:
            config = _parse(raw, source)
        except ValidationFailed as invalid:
            return self._refuse(digest, invalid.problems)
        previous, self._seen, self._pending = self._version, digest, []
        self._config, self._version = config, config_version(config)
        logger.info("config %s reloaded: version %s -> %s", source, previous, self._version)
        return ReloadResult(changed=True, accepted=True, version=self._version)

    def _refuse(self, digest: str, problems: list[Problem]) -> ReloadResult:
        if digest == self._seen:
            return ReloadResult(changed=False, accepted=False, version=self._version, problems=problems)
        self._seen, self._pending = digest, list(problems)
        reasons = "; ".join(f"{where}: {reason}" if where else reason for where, reason in problems)
        logger.warning(
            "config change in %s refused, keeping version %s: %s", self._path, self._version, reasons
        )
        return ReloadResult(changed=True, accepted=False, version=self._version, problems=list(problems))


def summarize(config: AppConfig) -> list[str]:
    """The short human summary printed by ``app config check``: one line a fact."""
    storage, feeds, gate = config.storage, config.feeds, config.validation
    lines = [
        f"config version {config_version(config)}",
        f"mode {config.runtime.mode}, seed {config.runtime.seed}, "
        f"status every {config.runtime.status_interval_s:g}s",
        f"storage home {storage.home_dir()} (paper {storage.paper_db}, live {storage.live_db}, "
        f"log {storage.log_file})",
        f"default feed {feeds.default}{_feed_detail(config)}",
    ]
    for asset in Asset:
        settings = config.assets.get(asset)
        if not settings.enabled:
            continue
        risk = settings.risk
        lines.append(
            f"asset {asset.value}: broker {settings.broker}, allocation {settings.budget.allocation} "
            f"{settings.currency}, risk {_pct(risk.risk_fraction)} per trade, stop band "
            f"{_pct(risk.min_sl_distance_pct)}-{_pct(risk.max_sl_distance_pct)}, "
            f"max leverage {risk.max_leverage}"
        )
    disabled = [asset.value for asset in Asset if not config.assets.get(asset).enabled]
    if disabled:
        lines.append(f"disabled assets: {', '.join(disabled)}")
    lines.append(
        f"promotion gate: profit factor >= {gate.min_profit_factor:g}, Sharpe >= {gate.min_sharpe:g}, "
        f"max drawdown <= {_pct(gate.max_drawdown)}, CVaR95 <= {_pct(gate.max_cvar_95)}, "
        f"online trades >= {gate.min_online_trades}"
    )
    return lines


def _feed_detail(config: AppConfig) -> str:
    feeds = config.feeds
    if feeds.default == "synthetic":
        synthetic = feeds.synthetic
        return f" ({', '.join(synthetic.symbols)} at {synthetic.timeframe}, {synthetic.speed:g}x real time)"
    if feeds.default == "replay":
        return f" ({feeds.replay.path or 'path from --data'}, speed {feeds.replay.speed})"
    return f" ({feeds.bybit.category}{', testnet' if feeds.bybit.testnet else ''})"


def _pct(fraction: Decimal | float) -> str:
    return f"{Decimal(str(fraction)) * 100:f}".rstrip("0").rstrip(".") + "%"


def _read(path: Path) -> bytes:
    source = str(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        problem = ("", "file not found")
    except IsADirectoryError:
        problem = ("", "is a directory, not a file")
    except OSError as error:
        problem = ("", f"cannot read the file: {error.strerror or error}")
    raise ValidationFailed(source, [problem])


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _parse(raw: bytes, source: str) -> AppConfig:
    data = _load_yaml(raw, source)
    if data is None:
        hint = f"expected a mapping of sections ({', '.join(SECTIONS)})"
        raise ValidationFailed(source, [("", f"the file is empty: {hint}")])
    if not isinstance(data, dict):
        msg = f"expected a mapping of sections at the top level, got {_kind(data)}"
        raise ValidationFailed(source, [("", msg)])
    problems = _secret_problems(data, ())
    secret_paths = {where for where, _ in problems}
    try:
        config = AppConfig.model_validate(data)
    except ValidationError as error:
        problems += [p for p in _problems_from(error) if p[0] not in secret_paths]
    if problems:
        raise ValidationFailed(source, problems)
    return config


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: PyYAML would silently keep the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, list | dict):
            continue  # SafeConstructor reports unhashable keys itself
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "in the mapping that starts", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _load_yaml(raw: bytes, source: str) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValidationFailed(source, [("", f"not UTF-8 text (byte {error.start})")]) from error
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = error.problem or "invalid YAML"
        if error.context and error.context_mark and error.context_mark is not mark:
            start = error.context_mark
            reason += f" ({error.context} at line {start.line + 1}, column {start.column + 1})"
        raise ValidationFailed(source, [(where, reason)]) from error
    except yaml.YAMLError as error:
        raise ValidationFailed(source, [("", f"invalid YAML: {error}")]) from error


def _secret_problems(node: Any, path: tuple[str, ...]) -> list[Problem]:
    problems: list[Problem] = []
    items: Any = (
        node.items() if isinstance(node, Mapping) else enumerate(node) if isinstance(node, list) else ()
    )
    for key, value in items:
        where = (*path, str(key))
        if isinstance(key, str) and _SECRET_KEY.search(key.lower()) and value not in (None, ""):
            reason = (
                "looks like a secret, and secrets never go in the config file: put it in an environment "
                "variable and name that variable under an `_env` key (e.g. brokers.bybit.api_key_env)"
            )
            problems.append((".".join(where), reason))
        else:
            problems += _secret_problems(value, where)
    return problems


def _problems_from(error: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    for item in error.errors(include_url=False):
        loc = [str(part) for part in item["loc"]]
        context = item.get("ctx") or {}
        if item["type"] == RULE_ERROR and context.get("field"):
            loc += str(context["field"]).split(".")
        key_error = bool(loc) and loc[-1] == "[key]"
        if key_error:
            loc.pop()
        reason = _reason(item, loc)
        problem = (".".join(loc), f"key {reason}" if key_error else reason)
        if problem not in problems:
            problems.append(problem)
    return problems


def _reason(item: Any, loc: list[str]) -> str:
    kind, message = item["type"], str(item["msg"])
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if kind == "missing":
        return "required key is missing"
    if kind == RULE_ERROR:
        return message
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = re.sub(r"^(Input|String|Value|List|Tuple|Dictionary|Decimal input) should", "must", message)
    value = item.get("input")
    # Never echo what sits under an `_env` key: a user may have pasted the secret there by mistake.
    echo = isinstance(value, str | int | float | Decimal | date) and not (loc and loc[-1].endswith("_env"))
    return f"{message} (got {value!r})" if echo and repr(value) not in message else message


def _unknown_key(loc: list[str]) -> str:
    known = _known_keys(loc[:-1])
    if not known:
        return "unknown key"
    close = difflib.get_close_matches(loc[-1], known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key{hint} (known keys: {', '.join(known)})"


def _known_keys(loc: list[str]) -> list[str]:
    """The keys allowed at ``loc``, found by walking the models' annotations."""
    kind: Any = AppConfig
    for part in loc:
        kind = _unwrap(kind)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            fields = {field.alias or name: field for name, field in kind.model_fields.items()}
            if part not in fields:
                return []
            kind = fields[part].annotation
        elif get_origin(kind) in (dict, tuple, list):
            kind = get_args(kind)[-1 if get_origin(kind) is dict else 0]
        else:
            return []
    kind = _unwrap(kind)
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return [field.alias or name for name, field in kind.model_fields.items()]
    return []


def _unwrap(kind: Any) -> Any:
    """``Annotated[X, ...]`` -> X; ``X | None`` -> X (the first model among the union's members)."""
    origin = get_origin(kind)
    if origin is Annotated:
        return _unwrap(get_args(kind)[0])
    if origin in (Union, UnionType):
        members = [_unwrap(arg) for arg in get_args(kind)]
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        return models[0] if models else kind
    return kind


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, Path | date):
        return str(value)
    return value


def _kind(value: object) -> str:
    return {list: "a list", str: "a text", int: "a number", float: "a number", bool: "true/false"}.get(
        type(value), type(value).__name__
    )
