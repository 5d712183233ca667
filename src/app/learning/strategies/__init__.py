"""Strategy specs (YAML, pydantic), the safe rule language, and spec -> signals (batch and live)."""

from app.learning.strategies.rules import FUNCTIONS, SERIES, Rule, RuleError, parse_rule
from app.learning.strategies.signals import (
    BarSignal,
    SignalEngine,
    SignalError,
    Signals,
    compute_signals,
    warmup_bars,
)
from app.learning.strategies.spec import (
    RULE_NAMES,
    Costs,
    Execution,
    RulesSignal,
    Sizing,
    StopRule,
    StrategySpec,
    load_spec,
    parse_spec,
)

__all__ = [
    "FUNCTIONS",
    "RULE_NAMES",
    "SERIES",
    "BarSignal",
    "Costs",
    "Execution",
    "Rule",
    "RuleError",
    "RulesSignal",
    "SignalEngine",
    "SignalError",
    "Signals",
    "Sizing",
    "StopRule",
    "StrategySpec",
    "compute_signals",
    "load_spec",
    "parse_rule",
    "parse_spec",
    "warmup_bars",
]
