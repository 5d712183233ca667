"""A Notifier that writes each alert as a structured log event."""

from __future__ import annotations

import logging
from collections.abc import Mapping

__all__ = ["LogNotifier"]


class LogNotifier:
    def __init__(self, logger_name: str = "app.notify") -> None:
        self._log = logging.getLogger(logger_name)

    async def notify(self, event: str, fields: Mapping[str, object]) -> None:
        self._log.info(event, extra={f"f_{k}" if k in _RESERVED else k: v for k, v in fields.items()})


_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
