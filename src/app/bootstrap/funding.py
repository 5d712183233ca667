"""Funding rates for the perpetuals of a paper run over a replay.

A replay of a perpetual's bars brings its funding series from a ``<SYMBOL>*funding*.csv`` file
(``timestamp,funding_rate``) in the data's folder, the file ``app backtest`` charges too; the paper venue
charges each rate on the position held at its time, valued at the bar opening then.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from app.adapters.brokers.sim import FundingSeries, load_funding_rates
from app.domain.values import Asset
from app.learning.strategies.spec import StrategySpec
from app.services.config_schema import AppConfig

__all__ = ["funding_file", "replay_funding_rates"]


def replay_funding_rates(
    config: AppConfig, feed: str | None, data: Path | None, specs: Sequence[StrategySpec]
) -> dict[str, FundingSeries]:
    """symbol -> funding series for every futures spec whose funding file lies beside the replayed data.

    Raises:
        DataError: a funding file is unreadable (names the file and line).
    """
    if (feed or config.feeds.default) != "replay":
        return {}
    path = data or (Path(config.feeds.replay.path) if config.feeds.replay.path else None)
    if path is None:
        return {}
    folder = path if path.is_dir() else path.parent
    rates: dict[str, FundingSeries] = {}
    for symbol in sorted({s.symbol for s in specs if s.asset is Asset.FUTURES}):
        found = funding_file(folder, symbol)
        if found is not None:
            rates[symbol] = load_funding_rates(found)
    return rates


def funding_file(folder: Path, symbol: str) -> Path | None:
    """The first ``<SYMBOL>*funding*.csv`` in ``folder`` by name; None when there is none."""
    matches = sorted(folder.glob("*funding*.csv"))
    return next((p for p in matches if p.stem.upper().startswith(symbol.upper())), None)
