"""Decimal rounding to exchange steps. Sizes round down (never above what is allowed); prices to the tick."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Context, Decimal

__all__ = ["ZERO", "quantize_down", "quantize_nearest", "to_decimal"]

ZERO = Decimal(0)

# Contexts used only for their to_integral_value, which rounds with the context's rounding and ignores its
# precision: the same result as Decimal.to_integral_value(rounding=...), without parsing a keyword per call
# (every order rounds its size several times).
_DOWN = Context(rounding=ROUND_DOWN)
_HALF_UP = Context(rounding=ROUND_HALF_UP)


def _check_step(step: Decimal) -> None:
    if step <= 0:
        msg = f"step must be positive, got {step}"
        raise ValueError(msg)


def quantize_down(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of ``step`` whose magnitude is not above ``value``'s (rounds toward zero)."""
    _check_step(step)
    units = _DOWN.to_integral_value(value / step)
    return (units * step).quantize(step) if units else ZERO


def quantize_nearest(value: Decimal, step: Decimal) -> Decimal:
    """The nearest multiple of ``step`` (half away from zero)."""
    _check_step(step)
    units = _HALF_UP.to_integral_value(value / step)
    return (units * step).quantize(step)


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """A float's shortest repr as a Decimal (``0.1`` -> ``Decimal('0.1')``, not the binary expansion)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)
