"""The answer of a check: allowed or denied, with a machine code and a human reason. A denial is data, not an error."""

from __future__ import annotations

from typing import final

import attrs

__all__ = ["Decision"]


@final
@attrs.frozen
class Decision:
    allowed: bool
    code: str = "ok"
    reason: str = ""

    @classmethod
    def allow(cls, reason: str = "") -> Decision:
        return cls(True, "ok", reason)

    @classmethod
    def deny(cls, code: str, reason: str) -> Decision:
        return cls(False, code, reason)

    def __bool__(self) -> bool:
        return self.allowed
