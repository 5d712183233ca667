"""One JSON object per line for every log event, with secrets redacted before anything is written.

Redaction has two layers: the values of the environment variables that hold secrets (named in the config, e.g.
``BYBIT_API_SECRET``) are replaced wherever they appear, and fields whose names look secret (``api_key``,
``secret``, ``token``, ``password``, ``signature``) are masked whatever their value.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

__all__ = ["JsonFormatter", "RedactingFilter", "setup_logging"]

MASK = "***"
_SECRET_FIELD = re.compile(r"(api[_-]?key|secret|token|password|passwd|signature|sign)$", re.IGNORECASE)
_INLINE = re.compile(
    r"(?P<key>(?:api[_-]?key|api[_-]?secret|secret|token|password|signature|sign)[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<value>[^\s\"',&}]+)",
    re.IGNORECASE,
)
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Masks secret values in the message, its arguments and every extra field of a record."""

    def __init__(self, secret_env_vars: Iterable[str] = ()) -> None:
        super().__init__()
        self._env_vars = tuple(secret_env_vars)

    def _secrets(self) -> list[str]:
        values = (os.environ.get(name, "") for name in self._env_vars)
        return sorted((v for v in values if len(v) >= 4), key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets():
            text = text.replace(secret, MASK)
        return _INLINE.sub(lambda m: m.group("key") + MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key in _STANDARD:
                continue
            if _SECRET_FIELD.search(key):
                setattr(record, key, MASK)
            elif isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal | Path):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return repr(value)


class JsonFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "event": message, ...extra fields}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=_plain, ensure_ascii=False)


def setup_logging(
    log_file: Path | None,
    *,
    level: str = "INFO",
    secret_env_vars: Iterable[str] = (),
    stderr_level: str | None = None,
) -> None:
    """Route the ``app`` loggers to ``log_file`` (created 0600) as JSON lines, redacted.

    ``stderr_level`` also echoes records at that level and above to standard error.
    """
    root = logging.getLogger("app")
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level.upper())
    root.propagate = False
    redactor = RedactingFilter(secret_env_vars)
    formatter = JsonFormatter()
    if log_file is not None:
        log_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.close(fd)
        os.chmod(log_file, 0o600)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.addFilter(redactor)
        file_handler.setFormatter(formatter)
        root.addHandler(file_handler)
    if stderr_level is not None:
        err = logging.StreamHandler()
        err.setLevel(stderr_level.upper())
        err.addFilter(redactor)
        err.setFormatter(formatter)
        root.addHandler(err)
