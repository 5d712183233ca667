"""What every configuration model is built from: the frozen base section, the field types, rule errors.

Money and risk fractions on the order path are ``Decimal``; research thresholds (validation) are ``float``.
Cross-field rules raise ``rule(reason, field=...)`` so that an error names the offending field itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from app.domain.timeframes import parse_timeframe

__all__ = [
    "RULE_ERROR",
    "ClusterName",
    "ConfigSection",
    "Currency",
    "EnvName",
    "Fraction",
    "Money",
    "Symbol",
    "Symbols",
    "Timeframe",
    "rule",
]

RULE_ERROR = "config_rule"

_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9._/-]*$")
_CURRENCY = re.compile(r"^[A-Z0-9]{2,10}$")
_CLUSTER = re.compile(r"^[a-z][a-z0-9_]*$")


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
