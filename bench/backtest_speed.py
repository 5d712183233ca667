"""Backtest throughput: the same SMA(10/30) cross with a 0.1% fee, a 2% stop loss and a 4% take profit on
1,000,000 seeded random-walk bars, run by this backtester (fast path, and optionally the event path),
backtesting.py and vectorbt in one process. Prints bars per second and the ratios.

Each engine is timed from the bars to its trades and headline metrics (signals included), after a warm-up run
on a small slice so numba compilation (ours and vectorbt's) is not counted; the compile time is printed.

    .venv/bin/python bench/backtest_speed.py [--bars N] [--seed S] [--event]
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from app.learning.features.indicators import sma
from app.learning.strategies import parse_spec
from app.services.validation import BacktestOptions, BarData, run

FEE, STOP, TARGET, FRACTION, CASH = 0.001, 0.02, 0.04, 0.9999, 1_000_000.0


def random_walk(n: int, seed: int) -> BarData:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))
    opens = np.r_[100.0, close[:-1]]
    spread = np.abs(rng.normal(0.0, 0.001, (2, n)))
    high = np.maximum(opens, close) * (1 + spread[0])
    low = np.minimum(opens, close) * (1 - spread[1])
    ts = np.datetime64("2020-01-01T00:00", "ns").astype(np.int64) + np.arange(n, dtype=np.int64) * 60 * 10**9
    return BarData("SIM", "1m", ts, opens, high, low, close, rng.uniform(1, 100, n))


SPEC = parse_spec(
    {
        "id": "bench-sma-cross",
        "asset": "spot",
        "symbol": "SIM",
        "timeframe": "1m",
        "signal": {
            "kind": "rules",
            "long_entry": "crosses_above(sma(close, 10), sma(close, 30))",
            "long_exit": "crosses_below(sma(close, 10), sma(close, 30))",
        },
        "sizing": {"mode": "fraction", "fraction": FRACTION},
        "stop_loss": {"pct": STOP},
        "take_profit": {"pct": TARGET},
        "costs": {"fee_rate": FEE, "slippage_bps": 0},
    }
)


def ours(bars: BarData, engine: str = "fast") -> int:
    result = run(SPEC, bars, BacktestOptions(cash=CASH, engine="fast" if engine == "fast" else "event"))
    return len(result.trades)


def frame(bars: BarData) -> pd.DataFrame:
    index = pd.to_datetime(bars.ts)
    columns = {
        "Open": bars.open,
        "High": bars.high,
        "Low": bars.low,
        "Close": bars.close,
        "Volume": bars.volume,
    }
    return pd.DataFrame(columns, index=index)


def backtesting_py(bars: BarData) -> int:
    from backtesting import Strategy
    from backtesting.lib import FractionalBacktest, crossover

    class SmaCross(Strategy):
        def init(self) -> None:
            self.fast = self.I(sma, self.data.Close, 10)
            self.slow = self.I(sma, self.data.Close, 30)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                price = self.data.Close[-1]
                self.buy(size=FRACTION, sl=price * (1 - STOP), tp=price * (1 + TARGET))
            elif crossover(self.slow, self.fast) and self.position:
                self.position.close()

    # Fractional units (1e-8), as ours and vectorbt trade: whole units stop trading once fees eat the equity.
    test = FractionalBacktest(
        frame(bars), SmaCross, cash=CASH, commission=FEE, exclusive_orders=True, finalize_trades=True
    )
    return int(test.run()["# Trades"])


def vectorbt(bars: BarData) -> int:
    import vectorbt as vbt

    close = pd.Series(bars.close, index=pd.to_datetime(bars.ts))
    fast, slow = vbt.MA.run(close, 10), vbt.MA.run(close, 30)
    # Signals on a close act at the next open: shift them one bar and trade at the open.
    entries = fast.ma_crossed_above(slow).shift(1, fill_value=False)
    exits = fast.ma_crossed_below(slow).shift(1, fill_value=False)
    portfolio = vbt.Portfolio.from_signals(
        close,
        entries,
        exits,
        price=bars.open,
        open=bars.open,
        high=bars.high,
        low=bars.low,
        fees=FEE,
        sl_stop=STOP,
        tp_stop=TARGET,
        size=FRACTION,
        size_type="percent",
        init_cash=CASH,
        freq="1min",
    )
    portfolio.sharpe_ratio()
    portfolio.max_drawdown()
    return int(portfolio.trades.count())


def timed(name: str, fn: Callable[[BarData], int], bars: BarData, warm: BarData) -> float:
    start = time.perf_counter()
    fn(warm)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    trades = fn(bars)
    seconds = time.perf_counter() - start
    rate = len(bars) / seconds
    print(
        f"{name:<16} {seconds:8.3f} s  {rate:14,.0f} bars/s  {trades:7d} trades  (warm-up {compile_s:.2f} s)"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--event", action="store_true", help="also time the event path")
    args = parser.parse_args()
    bars, warm = random_walk(args.bars, args.seed), random_walk(5_000, args.seed + 1)
    print(f"SMA 10/30 cross, fee {FEE:.1%}, stop {STOP:.0%}, target {TARGET:.0%}, {len(bars):,} bars")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rates = {"ours (fast)": timed("ours (fast)", ours, bars, warm)}
        if args.event:
            rates["ours (event)"] = timed("ours (event)", lambda b: ours(b, "event"), bars, warm)
        rates["vectorbt"] = timed("vectorbt", vectorbt, bars, warm)
        rates["backtesting.py"] = timed("backtesting.py", backtesting_py, bars, warm)
    mine = rates["ours (fast)"]
    print(f"ratio vs backtesting.py: {mine / rates['backtesting.py']:8.1f}x  (target >= 20x)")
    print(f"ratio vs vectorbt:       {mine / rates['vectorbt']:8.2f}x  (target >= 1x)")


if __name__ == "__main__":
    main()
