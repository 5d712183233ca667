"""Errors that cross a port. Adapters translate their library's errors into these (``raise ... from e``)."""

from __future__ import annotations

from app.domain.errors import AppError

__all__ = [
    "BrokerError",
    "BrokerRejected",
    "BrokerUnavailable",
    "DataError",
    "DuplicateClientOrderId",
    "OrderOutcomeUnknown",
    "StorageError",
]


class BrokerError(AppError):
    """Any failure talking to a broker."""


class BrokerRejected(BrokerError):
    """The broker definitely refused the request (nothing was created)."""

    def __init__(self, message: str, code: str = "") -> None:
        self.code = code
        super().__init__(message)


class OrderOutcomeUnknown(BrokerError):
    """Timeout, connection reset or 5xx: the order may or may not exist. Never treat as a rejection."""


class DuplicateClientOrderId(BrokerError):
    """The broker already has an order with this client id (Bybit 110072/170141): fetch it."""


class BrokerUnavailable(BrokerError):
    """The broker cannot be reached at all (before anything was sent)."""


class DataError(AppError):
    """Market data that cannot be read or used: names the source and the place."""


class StorageError(AppError):
    """The state database cannot be opened, migrated or written."""
