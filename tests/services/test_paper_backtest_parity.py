"""Paper against the backtester: the same spec over the same bars places its stop loss and take profit at the
same levels (measured from the entry's fill, an ATR stop by its distance, a percentage target by its share),
so the two take the same trades and leave them at the same prices for the same reasons, and each trade's P&L
means the same: net of both fees and including the funding settled while it was open (the real 8-hourly
series, charged by the paper venue and by the backtester on the position held at each funding time)."""

from __future__ import annotations

from decimal import Decimal as D

import attrs
import numpy as np
import pytest

from app.adapters.brokers.sim import load_funding_rates
from app.adapters.storage.sqlite import SqliteStorage
from app.domain.money import to_decimal
from app.domain.symbols import generic_instrument
from app.domain.values import Asset
from app.learning.features.indicators import atr
from app.learning.strategies.spec import StopRule
from app.services.validation import BacktestOptions, BarData, run
from tests.services.perp_replay import FUNDING_FILE, PERP, perp_folder, perp_spec, run_paper
from tests.services.validation.conftest import real_bars

BAR_NS = 300 * 10**9
INSTRUMENT = generic_instrument("XRPUSDT", Asset.FUTURES)
SPECS = {
    "atr stop, pct target": {},
    "pct stop, atr target": {
        "stop_loss": {"pct": 0.006},
        "take_profit": {"atr": 3.0, "atr_period": 14},
    },
}


FUNDING = load_funding_rates(PERP / FUNDING_FILE)


def with_funding(bars: BarData) -> BarData:
    """The bars with the funding file's rates, each at the first bar opening at or after its time, as
    ``app backtest`` lays them (the same file the paper venue charges)."""
    rates = np.zeros(len(bars))
    for ts, rate in FUNDING:
        moment = int(ts.timestamp()) * 10**9
        if bars.ts[0] <= moment <= bars.ts[-1]:
            rates[np.searchsorted(bars.ts, moment)] += float(rate)
    return attrs.evolve(bars, funding=rates)


@pytest.mark.parametrize("changes", list(SPECS.values()), ids=list(SPECS))
def test_paper_attaches_the_levels_the_backtester_uses_and_trades_alike(tmp_path, changes):
    spec = perp_spec(**changes)
    bars = with_funding(real_bars("crypto_futures/XRPUSDT_5m.csv", "XRPUSDT"))

    run_paper(tmp_path / "home", perp_folder(tmp_path), spec)
    tested = run(spec, bars, BacktestOptions(cash=1000.0))

    with SqliteStorage.open(tmp_path / "home" / "paper.db", readonly=True) as store:
        paper = list(store.trades())
        attached = [fields for _, _, _, fields in store.events(kind="sl_tp_attached")]
    expected = tested.trades[: len(paper)]
    assert len(paper) > 40
    assert len(tested.trades) - len(paper) <= 1  # the backtest also closes the position still open at the end
    reasons = {t.exit_reason for t in expected}
    assert {"stop_loss", "take_profit", "signal"} <= reasons
    for mine, theirs in zip(paper, expected, strict=True):
        # The venue stamps a fill inside a bar (a stop or target) at the bar's close, the backtester at its bar.
        inside = BAR_NS if mine.exit_reason in ("stop_loss", "take_profit") else 0
        assert (bars.ts[theirs.entry_bar], bars.ts[theirs.exit_bar] + inside) == (
            _ns(mine.entry_time),
            _ns(mine.exit_time),
        )
        assert (float(mine.entry_price), float(mine.exit_price), mine.exit_reason) == (
            theirs.entry_price,
            theirs.exit_price,
            theirs.exit_reason,
        )
        # Paper sizes an entry at the signal's close, the backtester at the fill (sizes differ by a few
        # hundredths of a percent); per unit of quantity the P&L, its fees and its funding are the same.
        assert per_unit(mine.pnl, mine.qty) == pytest.approx(theirs.pnl / theirs.qty, rel=0, abs=1e-12)
        assert per_unit(mine.fees, mine.qty) == pytest.approx(theirs.fees / theirs.qty, rel=0, abs=1e-12)
        assert per_unit(mine.funding, mine.qty) == pytest.approx(
            theirs.funding / theirs.qty, rel=0, abs=1e-12
        )
        assert mine.pnl == mine.price_pnl - mine.fees + mine.funding
    # Funding was paid (longs at positive rates) and received on several trades, and a trade entered or left
    # at a funding time's open: a fill at the funding time counts in the position settled, in both.
    funded = [mine.funding for mine in paper if mine.funding != 0]
    assert len(funded) >= 3
    assert min(funded) < 0 < max(funded)
    times = {ts for ts, _ in FUNDING}
    assert any(mine.entry_time in times or mine.exit_time in times for mine in paper)
    # Each level attached is the backtester's: from the fill, the signal bar's ATR, rounded to the tick.
    assert len(attached) == len(tested.trades)  # one entry fill each, the last still open in paper
    series = atr(bars.high, bars.low, bars.close, 14)
    for fields, theirs in zip(attached, tested.trades, strict=True):
        fill, side = D(fields["fill_price"]), 1 if theirs.side == "long" else -1
        atr_then = float(series[theirs.entry_bar - 1])
        assert fill == D(str(theirs.entry_price))
        assert D(fields["stop_loss"]) == level(fill, -side, spec.stop_loss, atr_then)
        assert D(fields["take_profit"]) == level(fill, side, spec.take_profit, atr_then)


def level(fill: D, direction: int, rule: StopRule | None, atr_then: float) -> D:
    """The backtester's level: ``direction`` of the fill by a share of it or a multiple of the ATR, on tick."""
    assert rule is not None
    share, multiple = rule.pct, rule.atr
    distance = fill * to_decimal(share) if share is not None else to_decimal(float(multiple or 0) * atr_then)
    return INSTRUMENT.round_price(fill + direction * distance)


def _ns(moment) -> int:
    return int(moment.timestamp() * 1_000_000) * 1000


def per_unit(amount: D, qty: D) -> float:
    return float(amount / qty)
