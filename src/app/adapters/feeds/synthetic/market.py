"""SyntheticMarket: the offline default's several asset classes at once, from one seeded walk.

- Crypto spot pairs (default BTCUSDT, ETHUSDT, SOLUSDT, XRPUSDT) in two correlated clusters.
- Perpetuals (default BTCPERP on BTCUSDT): the underlying's price is the index. The perpetual trades at
  index x exp(basis); the basis mean-reverts over 8 hours, with a 5 bp spread (2.5 times wider in high-vol
  regimes), towards +1 bp plus 3% of the underlying's move over the last 8 hours (perpetuals trade at a
  premium in rallies and at a discount in sell-offs). The mark price is index x exp(the basis averaged
  over about 5 minutes).
  Funding settles at 00:00, 08:00 and 16:00 UTC by Bybit's formula: the interval's average premium P plus
  clamp(0.01% - P, -0.05%, +0.05%), capped at +-0.75%; between settlements the state shows the rate
  predicted so far. A perpetual trades about three times its underlying's volume.
- A forex pair (default EURUSD): 8% annual volatility, its own cluster.
- An options underlying (default SPY: 450 USD, 18% a year, its own cluster) with an implied-volatility
  level: log IV mean-reverts (5-day half-life) towards 1.15 x the underlying's volatility x the regime's
  factor (trend 1.0, range 0.9, high-vol 1.8), moves against the underlying's returns (correlation -0.7)
  with a 100% volatility of its own, and stays within 3%..300%.

The candles of the spot, forex and options symbols are exactly a ``SyntheticFeed``'s over those symbols
(with the prices, volatilities and clusters above); the perpetuals, marks, funding and IV come from draws
of their own, in blocks aligned with the feed's, so the same seed gives the same market and ``after``
resumes exactly.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final, final

import attrs
import numpy as np
import trio
from numpy.typing import NDArray

# _BLOCK: the market draws a feed block's worth at a time, so its draws stay aligned with the feed's bars.
from app.adapters.feeds.synthetic.feed import _BLOCK, Sleep, SyntheticBlock, SyntheticFeed
from app.domain.timeframes import parse_timeframe
from app.domain.values import Asset, Candle
from app.ports.errors import DataError

__all__ = ["MarketBar", "OptionsState", "PerpetualState", "SyntheticMarket"]

_YEAR: Final = timedelta(days=365)
_FUNDING_EVERY: Final = timedelta(hours=8)
_BASIS_MEAN, _BASIS_SPREAD, _BASIS_HOURS, _BASIS_MOMENTUM = 1e-4, 5e-4, 8.0, 0.03
_BASIS_REGIME: Final = (1.0, 1.0, 2.5)
_INTEREST, _CLAMP, _CAP = 1e-4, 5e-4, 7.5e-3
_IV_PREMIUM, _IV_FACTOR = 1.15, (1.0, 0.9, 1.8)
_IV_REVERSION, _IV_VOL, _IV_CORR = math.log(2) / (5 / 365), 1.0, -0.7
_EQUITIES: Final = {"SPY": (450.0, 0.18), "QQQ": (380.0, 0.22), "AAPL": (180.0, 0.25)}


@final
@attrs.frozen
class PerpetualState:
    """A perpetual at a bar's close: index, mark and last price, funding rate (``settled`` at a funding time,
    else the rate predicted so far) and the next funding time."""

    symbol: str
    ts: datetime
    index: float
    mark: float
    last: float
    funding_rate: float
    settled: bool
    next_funding: datetime


@final
@attrs.frozen
class OptionsState:
    """An options underlying at a bar's close and its implied volatility (annualised: 0.2 is 20%)."""

    underlying: str
    ts: datetime
    price: float
    iv: float


@final
@attrs.frozen
class MarketBar:
    """One bar of the whole market: every symbol's candle (in symbol order) and the derivatives' state."""

    ts: datetime
    candles: tuple[Candle, ...]
    perpetuals: tuple[PerpetualState, ...]
    options: tuple[OptionsState, ...]


class SyntheticMarket:
    """A MarketData feed over crypto, perpetual, forex and options-underlying symbols (see the module doc).

    Args:
        perpetuals: perpetual symbol -> its underlying (one of ``crypto``); default BTCPERP on BTCUSDT.
        options: options underlyings (SPY, QQQ, AAPL have plausible profiles; others 100 USD, 30%).
        start, timeframe, seed, bars, speed, sleep: as ``SyntheticFeed``.
    """

    def __init__(
        self,
        *,
        start: datetime,
        timeframe: str = "1m",
        seed: int = 7,
        bars: int | None = None,
        speed: float | None = None,
        sleep: Sleep | None = None,
        crypto: Sequence[str] = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"),
        perpetuals: Mapping[str, str] | None = None,
        forex: Sequence[str] = ("EURUSD",),
        options: Sequence[str] = ("SPY",),
    ) -> None:
        perps = dict(sorted(({"BTCPERP": "BTCUSDT"} if perpetuals is None else perpetuals).items()))
        orphans = [f"{p} on {u}" for p, u in perps.items() if u not in crypto]
        if orphans:
            msg = f"a perpetual's underlying must be one of the crypto pairs: {', '.join(orphans)}"
            raise ValueError(msg)
        profiles = {u: _EQUITIES.get(u, (100.0, 0.3)) for u in options}
        clusters = {s: i % 2 for i, s in enumerate(sorted(crypto))} | dict.fromkeys(forex, 2)
        self._feed = SyntheticFeed(
            [*crypto, *forex, *options],
            timeframe=timeframe,
            seed=seed,
            start=start,
            bars=bars,
            prices={u: price for u, (price, _) in profiles.items()},
            volatility={u: vol for u, (_, vol) in profiles.items()},
            clusters=clusters | dict.fromkeys(options, 3),
        )
        if set(perps) & set(self._feed.symbols()):
            msg = f"perpetual names must differ from the other symbols: {sorted(perps)}"
            raise ValueError(msg)
        self._perps = perps
        self._options = tuple(sorted(options))
        self._assets = (
            dict.fromkeys(crypto, Asset.SPOT)
            | dict.fromkeys(perps, Asset.FUTURES)
            | dict.fromkeys(forex, Asset.FOREX)
            | dict.fromkeys(options, Asset.OPTIONS)
        )
        self._names = sorted(self._assets)
        self._start, self._timeframe, self._seed = start, timeframe, seed
        self._interval = parse_timeframe(timeframe)
        self._speed = speed
        self._sleep: Sleep = sleep or trio.sleep

    def symbols(self) -> Sequence[str]:
        """Every symbol, sorted."""
        return tuple(self._names)

    def timeframe(self, symbol: str) -> str:
        """The timeframe every symbol shares."""
        if symbol not in self._assets:
            msg = f"unknown symbol {symbol!r}: this synthetic market has {', '.join(self._names)}"
            raise DataError(msg)
        return self._timeframe

    def assets(self) -> Mapping[str, Asset]:
        """Each symbol's asset class: spot, futures (perpetuals), forex, options (underlyings)."""
        return dict(self._assets)

    async def stream(
        self, *, after: datetime | None = None, catch_up_through: datetime | None = None
    ) -> AsyncGenerator[Candle, None]:
        """Candles oldest first, every symbol per bar in symbol order (the MarketData port)."""
        async for bar in self.bars(after=after, catch_up_through=catch_up_through):
            for candle in bar.candles:
                yield candle

    async def bars(
        self, *, after: datetime | None = None, catch_up_through: datetime | None = None
    ) -> AsyncGenerator[MarketBar, None]:
        """The whole market a bar at a time; with ``after``, only bars opening later. When paced, the bars
        opening at or before ``catch_up_through`` come without waiting (a resumed run's warm-up).

        A consumer that stops early should close the generator (``contextlib.aclosing``).
        """
        first = 0 if after is None else max(0, (after - self._start) // self._interval + 1)
        through = -1 if catch_up_through is None else (catch_up_through - self._start) // self._interval
        wait = self._interval.total_seconds() / self._speed if self._speed else 0.0
        columns = {name: j for j, name in enumerate(self._feed.symbols())}
        perps = [_Perpetual(p, columns[u], self._interval) for p, u in self._perps.items()]
        options = [
            _ImpliedVol(u, columns[u], self._feed.annual_volatility(u), self._interval) for u in self._options
        ]
        rng = np.random.Generator(np.random.PCG64([self._seed, 0x5EED, 0xE47A]))
        for block in self._feed.blocks():
            # Drawn for a whole block whatever is delivered, so the draws never depend on ``bars``/``after``.
            draws = rng.standard_normal((_BLOCK, 2 * len(perps) + len(options)))
            if self._speed is None or block.first <= through:
                await self._sleep(0)  # a checkpoint, so a run delivered at once can still be cancelled
            for row in range(len(block.close)):
                index = block.first + row
                close_time = self._start + self._interval * (index + 1)
                regime = int(block.regimes[row])
                states = [
                    p.step(block, row, regime, draws[row, 2 * k : 2 * k + 2], close_time)
                    for k, p in enumerate(perps)
                ]
                ivs = tuple(
                    o.step(block, row, regime, float(draws[row, 2 * len(perps) + k]), close_time)
                    for k, o in enumerate(options)
                )
                if index < first:
                    continue
                if self._speed is not None and index > through:
                    await self._sleep(wait)
                yield self._bar(close_time - self._interval, block, row, states, ivs)

    def _bar(
        self,
        ts: datetime,
        block: SyntheticBlock,
        row: int,
        perps: list[tuple[tuple[float, ...], PerpetualState]],
        options: tuple[OptionsState, ...],
    ) -> MarketBar:
        values = zip(*(getattr(block, f)[row].tolist() for f in _OHLCV), strict=True)
        candles = [
            Candle(n, self._timeframe, ts, *v) for n, v in zip(self._feed.symbols(), values, strict=True)
        ]
        candles += [Candle(s.symbol, self._timeframe, ts, *ohlcv) for ohlcv, s in perps]
        candles.sort(key=lambda c: c.symbol)
        return MarketBar(ts, tuple(candles), tuple(state for _, state in perps), options)


_OHLCV: Final = ("open", "high", "low", "close", "volume")


class _Perpetual:
    """One perpetual's basis, mark and funding, advanced a bar at a time."""

    def __init__(self, symbol: str, column: int, interval: timedelta) -> None:
        self.symbol, self._column, self._interval = symbol, column, interval
        self._phi = math.exp(-interval / timedelta(hours=_BASIS_HOURS))
        self._alpha = 1 - math.exp(-interval / timedelta(minutes=5))
        self._basis = self._average = _BASIS_MEAN
        self._momentum = 0.0  # average log return a bar over about 8 hours
        self._bars_in_8h = timedelta(hours=_BASIS_HOURS) / interval
        self._last: float | None = None
        self._premium_total, self._premium_bars = 0.0, 0

    def step(
        self, block: SyntheticBlock, row: int, regime: int, draws: NDArray[np.float64], close_time: datetime
    ) -> tuple[tuple[float, ...], PerpetualState]:
        o, h, lo, c, v = (float(getattr(block, f)[row, self._column]) for f in _OHLCV)
        spread = _BASIS_SPREAD * _BASIS_REGIME[regime] * math.sqrt(1 - self._phi**2)
        self._momentum += (1 - self._phi) * (math.log(c / o) - self._momentum)
        target = _BASIS_MEAN + _BASIS_MOMENTUM * self._momentum * self._bars_in_8h
        self._basis = target + self._phi * (self._basis - target) + spread * float(draws[0])
        self._average += self._alpha * (self._basis - self._average)
        scale = math.exp(self._basis)
        last, open_ = c * scale, self._last or o * scale
        self._last = last
        volume = 3 * v * math.exp(0.2 * float(draws[1]))
        ohlcv = (open_, max(open_, last, h * scale), min(open_, last, lo * scale), last, volume)
        self._premium_total += self._basis
        self._premium_bars += 1
        premium = self._premium_total / self._premium_bars
        rate = max(-_CAP, min(_CAP, premium + max(-_CLAMP, min(_CLAMP, _INTEREST - premium))))
        into_period = (close_time - datetime(1970, 1, 1, tzinfo=close_time.tzinfo)) % _FUNDING_EVERY
        settled = into_period < self._interval  # a funding time passed within this bar
        if settled:
            self._premium_total, self._premium_bars = 0.0, 0
        mark = c * math.exp(self._average)
        next_funding = close_time - into_period + _FUNDING_EVERY
        return ohlcv, PerpetualState(self.symbol, close_time, c, mark, last, rate, settled, next_funding)


class _ImpliedVol:
    """One options underlying's implied-volatility level, advanced a bar at a time."""

    def __init__(self, underlying: str, column: int, annual_vol: float, interval: timedelta) -> None:
        self.underlying, self._column, self._vol = underlying, column, annual_vol
        self._years = interval / _YEAR
        self._log_iv = math.log(_IV_PREMIUM * annual_vol * _IV_FACTOR[1])

    def step(
        self, block: SyntheticBlock, row: int, regime: int, draw: float, close_time: datetime
    ) -> OptionsState:
        o, c = float(block.open[row, self._column]), float(block.close[row, self._column])
        shock = math.log(c / o) / (self._vol * math.sqrt(self._years))
        target = math.log(_IV_PREMIUM * self._vol * _IV_FACTOR[regime])
        noise = _IV_CORR * shock + math.sqrt(1 - _IV_CORR**2) * draw
        pull = _IV_REVERSION * self._years * (target - self._log_iv)
        log_iv = self._log_iv + pull + _IV_VOL * math.sqrt(self._years) * noise
        self._log_iv = min(max(log_iv, math.log(0.03)), math.log(3.0))
        return OptionsState(self.underlying, close_time, c, math.exp(self._log_iv))
