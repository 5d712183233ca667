"""Strategy specs: the YAML a strategy is traded and tested from, validated with every problem named by its
path.

The format is documented in docs/specs.md. Every rule string is parsed when the spec loads, so a spec that
loads is a spec whose rules evaluate. Only ``signal.kind: rules`` is accepted for now: ``ml`` and ``rl`` are
refused as not supported yet (the learning work adds them as further kinds of ``signal``, so the format
stays stable).
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Hashable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.domain.errors import ValidationFailed
from app.domain.timeframes import format_timeframe, parse_timeframe
from app.domain.values import Asset
from app.learning.strategies.rules import FUNCTIONS, KEYWORDS, SERIES, Rule, RuleError, parse_rule

__all__ = [
    "RULE_NAMES",
    "Costs",
    "Execution",
    "RulesSignal",
    "Sizing",
    "StopRule",
    "StrategySpec",
    "load_spec",
    "parse_spec",
]

RULE_NAMES = ("long_entry", "long_exit", "short_entry", "short_exit")

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PARAM = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _problem(reason: str) -> PydanticCustomError:
    return PydanticCustomError("spec", "{reason}", {"reason": reason})


def _param_name(name: str) -> str:
    if not _PARAM.fullmatch(name):
        raise _problem(f"param name {name!r} must be a letter then letters, digits or _")
    if name in SERIES or name in FUNCTIONS or name in KEYWORDS:
        raise _problem(f"param name {name!r} is a name of the rule language")
    return name


def _param_value(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _problem(f"a param must be a number, got {value!r}")
    return value


_Params = dict[Annotated[str, AfterValidator(_param_name)], Annotated[float, BeforeValidator(_param_value)]]
_PARAMS: TypeAdapter[_Params] = TypeAdapter(_Params, config=ConfigDict(allow_inf_nan=False))


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class RulesSignal(_Model):
    """Entry and exit conditions in the rule language; at least one entry rule, no exit without its entry."""

    kind: Literal["rules"]
    long_entry: str | None = None
    long_exit: str | None = None
    short_entry: str | None = None
    short_exit: str | None = None

    @field_validator("kind", mode="before")
    @classmethod
    def _supported_kind(cls, kind: object) -> object:
        if kind in ("ml", "rl"):
            msg = f"kind {kind!r} is not supported yet: only 'rules' specs can be evaluated for now"
            raise _problem(msg)
        if kind != "rules":
            raise _problem(f"unknown kind {kind!r}: expected 'rules' ('ml' and 'rl' are reserved)")
        return kind

    @field_validator(*RULE_NAMES)
    @classmethod
    def _parses(cls, text: str | None, info: ValidationInfo) -> str | None:
        # parse_spec passes the spec's params in the context, so a rule's problem is reported at its own path
        # alongside every other problem; StrategySpec re-checks the rules once the whole spec is valid.
        params = (info.context or {}).get("params")
        if text is not None and params is not None:
            try:
                parse_rule(text, params)
            except RuleError as error:
                raise _problem(str(error)) from error
        return text

    @model_validator(mode="after")
    def _entries(self) -> RulesSignal:
        if self.long_entry is None and self.short_entry is None:
            raise _problem("needs at least one entry rule: long_entry or short_entry")
        for side in ("long", "short"):
            if getattr(self, f"{side}_exit") is not None and getattr(self, f"{side}_entry") is None:
                raise _problem(f"{side}_exit has no {side}_entry to exit from")
        return self


class Sizing(_Model):
    """``fraction``: the position's notional is fraction x equity. ``risk``: the quantity loses
    risk_fraction x equity if the stop loss is hit, with the notional capped at fraction x equity."""

    mode: Literal["fraction", "risk"] = "fraction"
    fraction: float = Field(1.0, gt=0, le=1)
    risk_fraction: float | None = Field(None, gt=0, le=1)

    @model_validator(mode="after")
    def _mode_fields(self) -> Sizing:
        if self.mode == "risk" and self.risk_fraction is None:
            raise _problem("mode 'risk' needs risk_fraction: the share of equity lost if the stop is hit")
        if self.mode == "fraction" and self.risk_fraction is not None:
            raise _problem("risk_fraction is only used with mode 'risk'")
        return self


class StopRule(_Model):
    """A distance from the entry price: a fraction ``pct`` of it (0.02 = 2%), or ``atr`` x ATR(atr_period)."""

    pct: float | None = Field(None, gt=0)
    atr: float | None = Field(None, gt=0)
    atr_period: int = Field(14, ge=1, le=100_000)

    @model_validator(mode="after")
    def _one_kind(self) -> StopRule:
        if (self.pct is None) == (self.atr is None):
            raise _problem(
                "give exactly one of pct (a fraction of the entry price) or atr (a multiple of the ATR)"
            )
        if self.pct is not None and "atr_period" in self.model_fields_set:
            raise _problem("atr_period goes with atr, not with pct")
        return self

    def distance(self, price: float, atr_value: float = float("nan")) -> float:
        """How far from ``price`` the level lies: pct x price, or atr x ``atr_value`` (the ATR at entry)."""
        if self.pct is not None:
            return price * self.pct
        return float(typing.cast(float, self.atr) * atr_value)


class Costs(_Model):
    """Taker fee as a fraction of notional (0.001 = 0.1%) and slippage in basis points of the price."""

    fee_rate: float = Field(0.001, ge=0, lt=1)
    slippage_bps: float = Field(0.0, ge=0, lt=10_000)


class Execution(_Model):
    """Signals on a bar's close fill at the open ``latency_bars`` bars after the next one."""

    fill: Literal["next_open"] = "next_open"
    latency_bars: int = Field(0, ge=0)


class StrategySpec(_Model):
    """One strategy: what it trades, when it enters and exits, how much, its protections, costs and fills."""

    id: str
    asset: Asset
    symbol: str
    timeframe: str
    description: str = ""
    params: _Params = Field(default_factory=dict)
    signal: RulesSignal
    sizing: Sizing = Field(default_factory=Sizing)
    stop_loss: StopRule | None = None
    take_profit: StopRule | None = None
    trailing_stop: StopRule | None = None
    costs: Costs = Field(default_factory=Costs)
    execution: Execution = Field(default_factory=Execution)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.fullmatch(value):
            raise _problem(f"id {value!r} must be 1 to 64 of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, value: str) -> str:
        if not value or value != value.strip() or " " in value:
            raise _problem(f"symbol {value!r} must be a non-empty name without spaces")
        return value

    @field_validator("timeframe")
    @classmethod
    def _timeframe(cls, value: str) -> str:
        try:
            return format_timeframe(parse_timeframe(value))
        except ValueError as error:
            raise _problem(str(error)) from error

    @field_validator("stop_loss", "trailing_stop")
    @classmethod
    def _below_entry(cls, stop: StopRule | None) -> StopRule | None:
        if stop is not None and stop.pct is not None and stop.pct >= 1:
            msg = f"pct {stop.pct} would put a long's stop at or below zero: pct is a fraction (0.02 = 2%)"
            raise _problem(msg)
        return stop

    @model_validator(mode="after")
    def _consistent(self) -> StrategySpec:
        problems = []
        for name in RULE_NAMES:
            text = getattr(self.signal, name)
            try:
                if text is not None:
                    parse_rule(text, self.params)
            except RuleError as error:
                problems.append((f"signal.{name}", str(error)))
        if self.sizing.mode == "risk" and self.stop_loss is None:
            problems.append(("stop_loss", "sizing mode 'risk' needs a stop_loss to measure the risk against"))
        if problems:
            summary = "; ".join(f"{where}: {reason}" for where, reason in problems)
            raise PydanticCustomError(
                "spec_problems", "{summary}", {"summary": summary, "problems": problems}
            )
        return self

    @property
    def interval(self) -> timedelta:
        return parse_timeframe(self.timeframe)

    def rules(self) -> dict[str, Rule]:
        """The spec's rules by name (``long_entry``...), parsed with its params; absent rules are left out."""
        texts = {name: getattr(self.signal, name) for name in RULE_NAMES}
        return {name: parse_rule(text, self.params) for name, text in texts.items() if text is not None}

    def with_params(self, **values: float) -> StrategySpec:
        """A validated copy with some params changed (parameter shocks, search). Unknown names are refused."""
        source = f"spec {self.id}"
        unknown = [
            (f"params.{name}", "not a param of this spec") for name in values if name not in self.params
        ]
        if unknown:
            raise ValidationFailed(source, unknown)
        data = self.model_dump(exclude_unset=True, mode="json")
        data["params"] = {**self.params, **values}
        return parse_spec(data, source)


def parse_spec(data: Mapping[str, Any], source: str = "<spec>") -> StrategySpec:
    """Validate an in-memory spec. Raises ValidationFailed naming every problem as (dotted.path, reason)."""
    if not isinstance(data, Mapping):
        raise ValidationFailed(source, [("", f"a spec is a mapping of keys, got {type(data).__name__}")])
    try:
        params: _Params | None = _PARAMS.validate_python(data.get("params", {}))
    except ValidationError:
        params = None  # reported by the model; rules are then checked once params are fixed
    try:
        return StrategySpec.model_validate(data, context={"params": params})
    except ValidationError as error:
        raise ValidationFailed(source, _problems(error)) from None


def load_spec(path: Path) -> StrategySpec:
    """Read and validate a YAML spec. Raises ValidationFailed naming the file, each place and its reason."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ValidationFailed(source, [("", f"cannot read the spec: {reason}")]) from error
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506  # a SafeLoader that refuses duplicate keys
    except yaml.YAMLError as error:
        raise ValidationFailed(source, [("", _yaml_reason(error))]) from None
    if data is None:
        raise ValidationFailed(source, [("", "the file is empty")])
    return parse_spec(data, source)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys silently; a spec must not lose a setting that way."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, Hashable):
            continue  # construct_mapping reports unhashable keys itself
        if key in seen:
            msg = f"duplicate key {key!r}"
            raise yaml.constructor.ConstructorError(None, None, msg, key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _yaml_reason(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    if mark is None:
        return f"YAML syntax error: {problem}"
    return f"YAML syntax error at line {mark.line + 1}, column {mark.column + 1}: {problem}"


def _problems(error: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for item in error.errors():
        if item["type"] == "spec_problems":
            problems.extend(item["ctx"]["problems"])
            continue
        loc = [str(part) for part in item["loc"] if part != "[key]"]
        problems.append((".".join(loc), _reason(item["type"], loc, item["msg"])))
    return problems


def _reason(kind: str, loc: list[str], message: str) -> str:
    if kind == "missing":
        return "required key is missing"
    if kind != "extra_forbidden":
        return message
    allowed = _keys_at(loc[:-1])
    near = difflib.get_close_matches(loc[-1], allowed, n=1)
    hint = f"did you mean {near[0]!r}? " if near else ""
    return f"unknown key: {hint}allowed keys are {', '.join(allowed)}"


def _keys_at(loc: list[str]) -> list[str]:
    model: type[BaseModel] = StrategySpec
    for part in loc:
        field = model.model_fields.get(part)
        nested = (
            [a for a in (field.annotation, *typing.get_args(field.annotation)) if _is_model(a)]
            if field
            else []
        )
        if not nested:
            return []
        model = nested[0]
    return list(model.model_fields)


def _is_model(annotation: object) -> typing.TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
