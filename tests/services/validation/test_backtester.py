"""The event-driven backtester on hand-made bars: when and at what price it fills, protects and sizes."""

from __future__ import annotations

import pytest

from app.domain.errors import ValidationFailed
from app.services.validation import BacktestOptions, run
from tests.services.validation.conftest import ENTER, EXIT, HOLD, bars_of, spec_of, whole_units

FLAT = [100.0] * 8


def test_a_signal_on_a_close_fills_at_the_next_bars_open():
    bars = bars_of([100, 101, 102, 103, 104, 105], volumes=[HOLD, ENTER, HOLD, EXIT, HOLD, HOLD])

    (trade,) = run(spec_of(), bars).trades

    assert (trade.entry_bar, trade.entry_price) == (2, 102.0)
    assert (trade.exit_bar, trade.exit_price, trade.exit_reason) == (4, 104.0, "signal")


def test_fees_are_charged_on_both_fills_and_taken_from_the_pnl():
    spec = spec_of(costs={"fee_rate": 0.001, "slippage_bps": 0})
    bars = bars_of([100, 100, 100, 110, 110], volumes=[ENTER, HOLD, EXIT, HOLD, HOLD])

    result = run(spec, bars, BacktestOptions(cash=10_000, instrument=whole_units()))
    (trade,) = result.trades

    assert trade.qty == 99  # 10,000 / (100 x 1.001), rounded down to whole units
    assert trade.fees == pytest.approx(99 * 100 * 0.001 + 99 * 110 * 0.001)
    assert trade.pnl == pytest.approx(99 * 10 - trade.fees)
    assert result.metrics["final_equity"] == pytest.approx(10_000 + trade.pnl)


def test_slippage_moves_both_fills_against_the_trader():
    spec = spec_of(costs={"fee_rate": 0.0, "slippage_bps": 10})
    bars = bars_of([100, 100, 100, 100], volumes=[ENTER, EXIT, HOLD, HOLD])

    (trade,) = run(spec, bars).trades

    assert (trade.entry_price, trade.exit_price) == (100.1, 99.9)


def test_latency_delays_the_fill_by_that_many_bars():
    spec = spec_of(execution={"latency_bars": 2})
    bars = bars_of([100, 101, 102, 103, 104, 105], volumes=[ENTER, HOLD, HOLD, HOLD, HOLD, HOLD])

    (trade,) = run(spec, bars).trades

    assert (trade.entry_bar, trade.entry_price) == (3, 103.0)


def test_a_stop_loss_fills_at_its_level_from_the_bar_after_the_entry():
    spec = spec_of(stop_loss={"pct": 0.02})
    lows = [100, 90, 99, 97, 100]  # the entry bar dips below the stop: protection is not attached yet
    bars = bars_of([100, 100, 100, 100, 100], lows=lows, volumes=[ENTER, HOLD, HOLD, HOLD, HOLD])

    (trade,) = run(spec, bars).trades

    assert (trade.exit_bar, trade.exit_price, trade.exit_reason) == (3, 98.0, "stop_loss")


def test_a_bar_that_gaps_through_the_stop_fills_at_its_open():
    spec = spec_of(stop_loss={"pct": 0.02})
    bars = bars_of([100, 100, 100, 95, 95], volumes=[ENTER, HOLD, HOLD, HOLD, HOLD])

    (trade,) = run(spec, bars).trades

    assert (trade.exit_bar, trade.exit_price) == (3, 95.0)


def test_a_bar_touching_both_levels_is_taken_as_a_stop_loss():
    spec = spec_of(stop_loss={"pct": 0.02}, take_profit={"pct": 0.02})
    bars = bars_of(
        FLAT[:4], highs=[100, 100, 103, 100], lows=[100, 100, 97, 100], volumes=[ENTER] + [HOLD] * 3
    )

    (trade,) = run(spec, bars).trades

    assert (trade.exit_reason, trade.exit_price) == ("stop_loss", 98.0)


def test_a_take_profit_fills_at_its_level():
    spec = spec_of(take_profit={"pct": 0.05})
    bars = bars_of(FLAT[:4], highs=[100, 100, 106, 100], volumes=[ENTER] + [HOLD] * 3)

    (trade,) = run(spec, bars).trades

    assert (trade.exit_reason, trade.exit_price) == ("take_profit", 105.0)


def test_a_trailing_stop_follows_the_best_price_and_exits_on_the_pullback():
    spec = spec_of(trailing_stop={"pct": 0.1})
    highs = [100, 100, 120, 130, 130]
    lows = [100, 100, 110, 118, 100]  # 117 = 130 x 0.9 is the trailing level when bar 4 opens
    bars = bars_of([100, 100, 115, 125, 120], highs=highs, lows=lows, volumes=[ENTER] + [HOLD] * 4)

    (trade,) = run(spec, bars).trades

    assert (trade.exit_bar, trade.exit_reason, trade.exit_price) == (4, "trailing_stop", 117.0)


def test_risk_sizing_loses_the_risk_fraction_of_equity_at_the_stop():
    spec = spec_of(sizing={"mode": "risk", "risk_fraction": 0.01, "fraction": 1.0}, stop_loss={"pct": 0.05})
    bars = bars_of(FLAT[:4], lows=[100, 100, 90, 100], volumes=[ENTER] + [HOLD] * 3)

    result = run(spec, bars, BacktestOptions(cash=10_000))
    (trade,) = result.trades

    assert trade.qty == pytest.approx(20.0)  # 10,000 x 1% / (100 - 95)
    assert trade.pnl == pytest.approx(-100.0)


def test_an_entry_whose_size_rounds_below_the_minimum_is_skipped():
    bars = bars_of([100, 20_000, 20_000, 20_000], volumes=[ENTER, HOLD, HOLD, HOLD])

    result = run(spec_of(), bars, BacktestOptions(cash=10_000, instrument=whole_units()))

    assert result.trades == ()
    assert result.metrics["skipped_entries"] == 1


def test_a_long_pays_positive_funding_on_the_notional_at_the_open():
    spec = spec_of(asset="futures")
    bars = bars_of(FLAT[:5], volumes=[ENTER, HOLD, HOLD, EXIT, HOLD], funding=[0, 0, 0.001, 0.001, 0.001])

    (trade,) = run(spec, bars, BacktestOptions(cash=10_000, instrument=whole_units())).trades

    # Charged at the opens of bars 2 and 3. The exit fills at bar 4's open, the funding time: the position
    # is flat when bar 4's funding is settled, as at the paper venue (fills at or before a funding time count).
    assert trade.funding == pytest.approx(-2 * 100 * 100 * 0.001)
    assert trade.pnl == pytest.approx(trade.funding)


@pytest.mark.parametrize("engine", ["event", "fast"])
def test_an_entry_filling_at_a_funding_times_open_pays_that_funding(engine):
    spec = spec_of(asset="futures")
    bars = bars_of(FLAT[:5], volumes=[ENTER, HOLD, EXIT, HOLD, HOLD], funding=[0, 0.001, 0, 0.001, 0])

    options = BacktestOptions(cash=10_000, instrument=whole_units(), engine=engine)
    (trade,) = run(spec, bars, options).trades

    # Entered at bar 1's open and left at bar 3's: bar 1's funding is on it, bar 3's is not.
    assert (trade.entry_bar, trade.exit_bar) == (1, 3)
    assert trade.funding == pytest.approx(-1 * 100 * 100 * 0.001)


def test_short_entries_are_ignored_on_spot():
    spec = spec_of(signal={"kind": "rules", "short_entry": "volume > 5", "short_exit": "volume < 0.5"})
    bars = bars_of(FLAT[:4], volumes=[ENTER, HOLD, EXIT, HOLD])

    assert run(spec, bars).trades == ()


def test_a_short_on_futures_profits_when_the_price_falls():
    signal = {"kind": "rules", "short_entry": "volume > 5", "short_exit": "volume < 0.5"}
    bars = bars_of([100, 100, 90, 90], volumes=[ENTER, EXIT, HOLD, HOLD])

    (trade,) = run(spec_of(asset="futures", signal=signal), bars).trades

    assert trade.side == "short"
    assert trade.pnl == pytest.approx(trade.qty * 10)


def test_a_position_still_open_at_the_end_is_closed_at_the_last_close():
    bars = bars_of([100, 100, 100], closes=[100, 100, 107], volumes=[ENTER, HOLD, HOLD])

    result = run(spec_of(), bars)
    (trade,) = result.trades

    assert (trade.exit_bar, trade.exit_price, trade.exit_reason) == (2, 107.0, "end")
    assert result.metrics["final_equity"] == pytest.approx(10_000 + trade.pnl)


def test_bars_of_another_timeframe_are_refused():
    bars = bars_of(FLAT)

    with pytest.raises(ValidationFailed, match="the spec runs on 5m"):
        run(spec_of(timeframe="5m"), bars)


def test_the_metrics_hold_every_key_the_report_promises():
    bars = bars_of([100, 101, 102, 103, 104, 105], volumes=[HOLD, ENTER, HOLD, EXIT, HOLD, HOLD])

    metrics = run(spec_of(), bars).metrics

    for key in ("trades", "net_profit", "profit_factor", "sharpe", "sortino", "max_drawdown", "cvar_95"):
        assert key in metrics
    for key in ("win_rate", "exposure", "final_equity"):
        assert key in metrics
    assert metrics["exposure"] == pytest.approx(2 / 6)


def test_a_protective_exit_is_a_taker_fill_slipped_from_its_level():
    spec = spec_of(stop_loss={"pct": 0.02}, costs={"fee_rate": 0.0, "slippage_bps": 10})
    bars = bars_of(FLAT[:4], lows=[100, 100, 97, 100], volumes=[ENTER] + [HOLD] * 3)

    (trade,) = run(spec, bars).trades

    assert trade.entry_price == 100.1
    assert trade.exit_price == pytest.approx(98.098 * (1 - 0.001), abs=1e-8)  # 2% under 100.1, less 10 bps
