"""Changed copies of a spec: shocked params, costs and latency (stress tests, overfitting checks).

Copies are re-validated from the keys the spec was written with (``exclude_unset``): a full dump would add
defaults that the spec format refuses in combination (``atr_period`` beside ``pct``).
"""

from __future__ import annotations

from typing import Any

from app.domain.errors import ValidationFailed
from app.learning.strategies import StrategySpec, parse_spec

__all__ = ["param_shocks", "respec"]


def respec(spec: StrategySpec, **sections: dict[str, Any]) -> StrategySpec:
    """A validated copy of ``spec`` with some sections' keys replaced, e.g. ``costs={"slippage_bps": 5}``.

    Raises:
        ValidationFailed: the changed spec is invalid.
    """
    data = spec.model_dump(exclude_unset=True)
    for name, changes in sections.items():
        current = data.get(name)
        data[name] = {**current, **changes} if isinstance(current, dict) else dict(changes)
    return parse_spec(data, f"spec {spec.id} ({', '.join(sections)} changed)")


def _shocked(value: float, factor: float) -> float:
    moved = value * factor
    if float(value).is_integer():
        # Whole-number params are periods more often than not: keep them whole and make the shock move them.
        step = round(moved)
        if step == value:
            step = int(value) + (1 if factor > 1 else -1)
        return float(step)
    return moved


def param_shocks(spec: StrategySpec, pct: float) -> list[tuple[str, StrategySpec | str]]:
    """For each param, ``name+pct`` and ``name-pct`` variants: the changed spec, or why it is invalid.

    Whole-number params stay whole and move by at least one.
    """
    variants: list[tuple[str, StrategySpec | str]] = []
    for name, value in spec.params.items():
        for sign, factor in (("+", 1.0 + pct), ("-", 1.0 - pct)):
            label = f"{name}{sign}{pct:.0%}"
            try:
                variants.append((label, respec(spec, params={name: _shocked(value, factor)})))
            except ValidationFailed as error:
                variants.append((label, "; ".join(reason for _, reason in error.problems)))
    return variants
