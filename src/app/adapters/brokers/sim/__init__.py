"""The simulated exchange: the paper broker, also used by tests."""

from app.adapters.brokers.sim.broker import SimBroker
from app.adapters.brokers.sim.config import SimConfig

__all__ = ["SimBroker", "SimConfig"]
