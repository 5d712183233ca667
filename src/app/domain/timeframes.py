"""Timeframe strings (``1m``, ``5m``, ``1h``, ``1d``, ``1w``) and their durations."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_timeframe", "parse_timeframe"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^(\d+)([smhdw])$")


def parse_timeframe(text: str) -> timedelta:
    """``"5m"`` -> 5 minutes. Raises ValueError naming the bad text."""
    match = _PATTERN.match(text.strip())
    if not match or int(match.group(1)) == 0:
        msg = (
            f"invalid timeframe {text!r}: expected a positive number and a unit s, m, h, d or w (e.g. 5m, 1h)"
        )
        raise ValueError(msg)
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def format_timeframe(interval: timedelta) -> str:
    """5 minutes -> ``"5m"``: the largest unit that divides the interval exactly."""
    seconds = int(interval.total_seconds())
    if seconds <= 0 or seconds != interval.total_seconds():
        msg = f"a timeframe must be a positive whole number of seconds, got {interval}"
        raise ValueError(msg)
    for unit, size in sorted(_UNITS.items(), key=lambda kv: -kv[1]):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise AssertionError("unreachable: seconds always divide")
