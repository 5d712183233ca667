"""backtester: one strategy spec over one symbol's bars -> trades, equity curve and metrics.

Two engines give the same trades (a test holds them to it): ``event`` walks the bars through the domain fill
model in Decimal, as the paper venue does; ``fast`` runs the same rules in one compiled float64 loop for
research (walk-forward folds, stress tests, benchmarks). Both act on a signal at the next bar's open (plus the
spec's latency), size at the fill, keep protection server-side from the bar after the entry, and close what is
still open at the last bar's close (exit reason ``end``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, final

import attrs
import numpy as np
import numpy.typing as npt

from app.domain.errors import ValidationFailed
from app.domain.symbols import generic_instrument
from app.domain.values import Instrument
from app.learning.strategies import StrategySpec, warmup_bars
from app.services.validation.bars import BarData, periods_per_year
from app.services.validation.event_path import simulate_events
from app.services.validation.performance import bar_returns, summarize
from app.services.validation.plan import make_plan
from app.services.validation.records import Simulation, Trade

__all__ = ["BacktestOptions", "BacktestResult", "Engine", "run"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Engine = Literal["event", "fast"]
Progress = Callable[[int, int], None]


@final
@attrs.frozen
class BacktestOptions:
    """How to run: starting ``cash`` in the symbol's quote currency, the ``instrument``'s steps (default: the
    generic one, tick 1e-8 and lot 1e-6), the ``engine``, and ``trade_start``: bars before it only warm the
    indicators up (walk-forward folds)."""

    cash: float = attrs.field(default=10_000.0, validator=attrs.validators.gt(0))
    instrument: Instrument | None = None
    engine: Engine = "event"
    trade_start: int = attrs.field(default=0, validator=attrs.validators.ge(0))


@final
@attrs.frozen(eq=False)
class BacktestResult:
    """Trades, the equity after each bar's close, and the metrics (see ``performance.summarize``)."""

    spec_id: str
    symbol: str
    timeframe: str
    cash: float
    periods_per_year: float
    ts: IntArray
    equity: FloatArray
    trades: tuple[Trade, ...]
    metrics: dict[str, float]

    def returns(self) -> FloatArray:
        """Per-bar returns, the first against the starting cash."""
        return bar_returns(self.equity, self.cash)

    def trade_rows(self) -> list[dict[str, Any]]:
        return [trade.as_dict() for trade in self.trades]


def _check(spec: StrategySpec, data: BarData) -> None:
    problems = []
    if data.symbol != spec.symbol:
        problems.append(("symbol", f"the bars are {data.symbol}, the spec trades {spec.symbol}"))
    if data.interval != spec.interval:
        problems.append(("timeframe", f"the bars are {data.timeframe}, the spec runs on {spec.timeframe}"))
    needed = warmup_bars(spec) + 2
    if len(data) < needed:
        problems.append(
            ("bars", f"{len(data)} bars: the spec needs at least {needed} (warm-up, then a fill)")
        )
    if problems:
        raise ValidationFailed(f"backtest of {spec.id}", problems)


def simulate(
    spec: StrategySpec, data: BarData, options: BacktestOptions, progress: Progress | None = None
) -> Simulation:
    """The raw simulation (no metrics) on the chosen engine."""
    instrument = options.instrument or generic_instrument(spec.symbol, spec.asset)
    plan = make_plan(spec, data, instrument, options.cash, options.trade_start)
    if options.engine == "fast":
        from app.services.validation.fast_path import simulate_fast

        return simulate_fast(plan, data, progress)
    return simulate_events(
        plan, data, asset=spec.asset, strategy_id=spec.id, instrument=instrument, progress=progress
    )


def run(
    spec: StrategySpec,
    data: BarData,
    options: BacktestOptions | None = None,
    progress: Progress | None = None,
) -> BacktestResult:
    """Backtest ``spec`` on ``data`` (its symbol and timeframe). ``progress(done, total)`` reports bars.

    Raises:
        ValidationFailed: the bars are another symbol or timeframe, or too few for the spec's warm-up.
    """
    options = options or BacktestOptions()
    _check(spec, data)
    sim = simulate(spec, data, options, progress)
    yearly = periods_per_year(spec.asset, spec.timeframe)
    metrics = summarize(
        sim.trades,
        sim.equity,
        options.cash,
        yearly,
        bars_in_market=sim.bars_in_market,
        skipped_entries=sim.skipped_entries,
    )
    return BacktestResult(
        spec_id=spec.id,
        symbol=spec.symbol,
        timeframe=spec.timeframe,
        cash=options.cash,
        periods_per_year=yearly,
        ts=data.ts,
        equity=sim.equity,
        trades=sim.trades,
        metrics=metrics,
    )
