"""The simulated exchange: the paper broker, also used by tests."""

from app.adapters.brokers.sim.broker import SimBroker
from app.adapters.brokers.sim.config import FundingSeries, SimConfig, SimFaults
from app.adapters.brokers.sim.futures import FundingPayment, load_funding_rates

__all__ = ["FundingPayment", "FundingSeries", "SimBroker", "SimConfig", "SimFaults", "load_funding_rates"]
