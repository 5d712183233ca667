"""Validation owners: backtester, walkforward, stress_tests, promotion_gate, report_builder (and the
pipeline that runs them for ``app backtest``)."""

from app.services.validation.backtester import BacktestOptions, BacktestResult, Engine, run
from app.services.validation.bars import BarData, periods_per_year
from app.services.validation.pipeline import ValidationRun, validate
from app.services.validation.promotion_gate import GateDecision, decide
from app.services.validation.records import Trade

__all__ = [
    "BacktestOptions",
    "BacktestResult",
    "BarData",
    "Engine",
    "GateDecision",
    "Trade",
    "ValidationRun",
    "decide",
    "periods_per_year",
    "run",
    "validate",
]
