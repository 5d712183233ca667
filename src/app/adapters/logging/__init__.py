"""Structured logging: one JSON line per event, secrets redacted."""

from app.adapters.logging.structured import JsonFormatter, RedactingFilter, setup_logging

__all__ = ["JsonFormatter", "RedactingFilter", "setup_logging"]
