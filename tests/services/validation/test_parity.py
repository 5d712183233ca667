"""Parity with backtesting.py: the long-only SMA cross of config/specs/sma_cross.yaml, filled at the next open
with a 0.1% fee, gives the same trades and final equity on the shared data files.

backtesting.py sizes a fraction of equity in whole units as ``floor(fraction x equity / (price x (1 + fee)))``
and needs the fraction below 1: both sides use 0.9999, whole-unit lots and cash large enough for BTC prices.
The one intended difference: a trade still open at the end is closed by its ``finalize_trades`` at the last
bar's open, and here at the last bar's close; that trade is compared on its entry and exit bar.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from app.learning.features.indicators import sma
from app.services.validation import BacktestOptions, run
from tests.services.validation.conftest import example_spec, real_bars, whole_units

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # backtesting.py's import warns about its optional plotting stack
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

FRACTION = 0.9999
CASH = 100_000_000.0
FILES = {
    "ETHBTC": "crypto_spot_5m/ETHBTC.csv",
    "BTCUSD": "crypto_spot_1h/BTCUSD_coinbase.csv",
    "EURUSD": "forex_1h/EURUSD.csv",
    "GOOGL": "stocks_1d/GOOGL.csv",
}


class SmaCross(Strategy):
    def init(self) -> None:
        self.fast = self.I(sma, self.data.Close, 10)
        self.slow = self.I(sma, self.data.Close, 30)

    def next(self) -> None:
        if crossover(self.fast, self.slow):
            self.buy(size=FRACTION)
        elif crossover(self.slow, self.fast) and self.position:
            self.position.close()


def reference(bars) -> tuple[pd.DataFrame, float]:
    frame = pd.DataFrame(
        {"Open": bars.open, "High": bars.high, "Low": bars.low, "Close": bars.close, "Volume": bars.volume},
        index=pd.to_datetime(bars.ts).as_unit("ns"),
    )
    test = Backtest(
        frame,
        SmaCross,
        cash=CASH,
        commission=0.001,
        trade_on_close=False,
        exclusive_orders=True,
        finalize_trades=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = test.run()
    return stats["_trades"], float(stats["Equity Final [$]"])


@pytest.mark.parametrize("symbol", list(FILES))
def test_sma_cross_trades_like_backtesting_py(symbol):
    bars = real_bars(FILES[symbol], symbol)
    spec = example_spec(
        "sma_cross",
        symbol=symbol,
        timeframe=bars.timeframe,
        sizing={"mode": "fraction", "fraction": FRACTION},
    )

    ours = run(spec, bars, BacktestOptions(cash=CASH, instrument=whole_units(symbol)))
    theirs, final = reference(bars)

    assert len(ours.trades) == len(theirs) > 10
    for trade, (_, row) in zip(ours.trades, theirs.iterrows(), strict=True):
        assert (trade.entry_bar, trade.exit_bar) == (row.EntryBar, row.ExitBar)
        assert trade.qty == abs(row.Size)
        assert trade.entry_price == pytest.approx(row.EntryPrice, rel=1e-12)
        if trade.exit_reason != "end":
            assert trade.exit_price == pytest.approx(row.ExitPrice, rel=1e-12)
    assert ours.metrics["final_equity"] == pytest.approx(final, rel=0.005)
