"""Decimal rounding to exchange steps. Sizes round down (never above what is allowed); prices to the tick."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

__all__ = ["ZERO", "quantize_down", "quantize_nearest", "to_decimal"]

ZERO = Decimal(0)


def _check_step(step: Decimal) -> None:
    if step <= 0:
        msg = f"step must be positive, got {step}"
        raise ValueError(msg)


def quantize_down(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of ``step`` whose magnitude is not above ``value``'s (rounds toward zero)."""
    _check_step(step)
    units = (value / step).to_integral_value(rounding=ROUND_DOWN)
    return (units * step).quantize(step) if units else ZERO


def quantize_nearest(value: Decimal, step: Decimal) -> Decimal:
    """The nearest multiple of ``step`` (half away from zero)."""
    _check_step(step)
    units = (value / step).to_integral_value(rounding=ROUND_HALF_UP)
    return (units * step).quantize(step)


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """A float's shortest repr as a Decimal (``0.1`` -> ``Decimal('0.1')``, not the binary expansion)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)
