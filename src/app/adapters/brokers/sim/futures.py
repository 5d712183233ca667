"""Perpetual futures bookkeeping: the funding schedule, the payments made, and reading a funding-rate file.

A funding time T is charged once per symbol, on the position held at T (every fill at or before T, none
after), valued at the mark price at T. Series given in the config are charged as the feed's time passes T;
``SimBroker.on_funding`` charges a rate given live. Either way a time is never charged twice by one account.
Each charge is reported as a ``FundingPayment`` event (``drain_events``) at the moment it is made, in order
with the fills around it. A restored account charges again, while it observes the bars already processed,
the times the journal already holds: those payments come again with the same ``funding_id``, which the
journal keeps once.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from app.adapters.brokers.sim.config import FundingSeries
from app.domain.values import FundingPayment
from app.ports.errors import DataError

__all__ = ["FundingPayment", "FundingSchedule", "load_funding_rates"]


class FundingSchedule:
    """Which funding times are due for a symbol, and which were already charged."""

    def __init__(self, series: Mapping[str, FundingSeries]) -> None:
        self._series = {symbol: sorted(points) for symbol, points in series.items()}
        self._cursor: dict[str, int] = dict.fromkeys(self._series, 0)
        self._charged: dict[str, set[datetime]] = {}

    def due(self, symbol: str, before: datetime) -> list[tuple[datetime, Decimal]]:
        """Configured funding times of ``symbol`` earlier than ``before`` not yet handed out."""
        points = self._series.get(symbol)
        if not points:
            return []
        start = end = self._cursor[symbol]
        while end < len(points) and points[end][0] < before:
            end += 1
        self._cursor[symbol] = end
        return points[start:end]

    def claim(self, symbol: str, ts: datetime) -> bool:
        """True the first time ``(symbol, ts)`` is claimed: the caller charges it."""
        charged = self._charged.setdefault(symbol, set())
        if ts in charged:
            return False
        charged.add(ts)
        return True


def load_funding_rates(path: Path) -> tuple[tuple[datetime, Decimal], ...]:
    """Read a ``timestamp,funding_rate`` CSV (ISO-8601 UTC times) into a funding series, oldest first.

    Raises:
        DataError: the file is missing, has other columns, or a row cannot be read (names the line).
    """
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"timestamp", "funding_rate"} <= set(reader.fieldnames):
                msg = f"{path}: expected columns timestamp,funding_rate, got {reader.fieldnames}"
                raise DataError(msg)
            points = [_point(path, reader.line_num, row) for row in reader]
    except OSError as e:
        msg = f"{path}: cannot read the funding rates: {e}"
        raise DataError(msg) from e
    return tuple(sorted(points))


def _point(path: Path, line: int, row: Mapping[str, str]) -> tuple[datetime, Decimal]:
    try:
        ts = datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))
        rate = Decimal(row["funding_rate"])
    except (ValueError, InvalidOperation) as e:
        msg = f"{path}:{line}: unreadable funding row {dict(row)}: {e}"
        raise DataError(msg) from e
    if ts.tzinfo is None:
        msg = f"{path}:{line}: timestamp {row['timestamp']} has no time zone"
        raise DataError(msg)
    return ts, rate
