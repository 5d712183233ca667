"""typing.Protocol interfaces between services and adapters, and the errors that cross them."""

from app.ports.broker import Broker, BrokerEvent, MarketDriven, PaperAccount
from app.ports.clock import Clock
from app.ports.errors import (
    BrokerError,
    BrokerRejected,
    BrokerUnavailable,
    DataError,
    DuplicateClientOrderId,
    OrderOutcomeUnknown,
    StorageError,
)
from app.ports.market_data import MarketData
from app.ports.notifier import Notifier
from app.ports.storage import JournalEvent, Storage

__all__ = [
    "Broker",
    "BrokerError",
    "BrokerEvent",
    "BrokerRejected",
    "BrokerUnavailable",
    "Clock",
    "DataError",
    "DuplicateClientOrderId",
    "JournalEvent",
    "MarketData",
    "MarketDriven",
    "Notifier",
    "OrderOutcomeUnknown",
    "PaperAccount",
    "Storage",
    "StorageError",
]
