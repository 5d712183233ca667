"""Shared test settings: paths to the shared real data and hypothesis profiles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# CI replays the same examples every run (a red build must be reproducible); locally they vary and explore.
settings.register_profile("ci", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"the shared market data is missing at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _app_logging_reset():
    """A command run in-process (CliRunner) sets up the app's file logging, which stops propagation to the
    root logger; put the ``app`` logger back after each test so ``caplog`` sees its records in any order."""
    yield
    import logging

    app_logger = logging.getLogger("app")
    for handler in list(app_logger.handlers):
        app_logger.removeHandler(handler)
        handler.close()
    app_logger.propagate = True
    app_logger.setLevel(logging.NOTSET)
