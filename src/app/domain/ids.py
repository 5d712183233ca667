"""Client order ids: at most 36 characters of [A-Za-z0-9_-], deterministic for a strategy and sequence."""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["CLIENT_ID_MAX_LEN", "is_valid_client_order_id", "make_client_order_id"]

CLIENT_ID_MAX_LEN = 36
_VALID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def is_valid_client_order_id(value: str) -> bool:
    return bool(_VALID.match(value))


def make_client_order_id(strategy_id: str, seq: int) -> str:
    """``"sma-cross-demo", 7`` -> ``"sma-cross-demo-00000007"``.

    The strategy part is sanitised and truncated so the whole id fits 36 characters; ``seq`` is the
    order_router's journal sequence, unique per database, so ids never repeat within a mode.
    """
    if seq < 0:
        msg = f"sequence must be >= 0, got {seq}"
        raise ValueError(msg)
    suffix = f"{seq:08d}"
    return f"{_prefix(strategy_id)[: CLIENT_ID_MAX_LEN - len(suffix) - 1]}-{suffix}"


@lru_cache(maxsize=1024)
def _prefix(strategy_id: str) -> str:
    """The strategy id made safe for a client id (remembered: every order of a strategy needs it)."""
    return _UNSAFE.sub("_", strategy_id).strip("_-") or "s"
