"""SyntheticFeed: a seeded, correlated multi-asset random walk with regimes and jumps (the offline default).

Every draw comes from one ``numpy.random.Generator(PCG64(seed))`` in fixed blocks of bars, so the same seed
and symbols give the same candles however many are consumed, and ``stream(after=...)`` resumes exactly.

The model, per bar:
- A market regime follows a Markov chain over trend (drift of 0.1 sigma a bar, its sign drawn when the trend
  starts), range (0.6 x volatility, no drift) and high-vol (2.5 x volatility, six times the jumps); trends
  and ranges last about 100 bars, high-vol spells about 25.
- Symbol i's log return is ``drift + vol * (0.4 market + 0.7 cluster + 0.59 own) - vol**2 / 2`` plus,
  rarely, a jump of N(0, 8 sigma): unit-variance shocks correlated 0.65 inside a cluster, 0.16 across.
  Clusters: the sorted symbols dealt round-robin into two (see ``clusters()``).
- sigma is 70% a year for crypto and 8% for a pair of two fiat currencies, scaled to the timeframe.
- open = previous close; high and low extend the bar's body by half-normal wicks (so low <= open, close <=
  high); volume = a per-symbol notional / price, log-normal noise, scaled up by 1 + 2 |return| / sigma.
- Starting prices are plausible per currency (BTC 30000, ETH 2000, EUR 1.08 in USD, ...; an unknown one
  log-uniform in 1..500), divided by the quote's, times a jitter; all drawn from the seed and the name.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final, final

import attrs
import numpy as np
import trio
from numpy.typing import NDArray

from app.domain.timeframes import parse_timeframe
from app.domain.values import Candle
from app.ports.errors import DataError

__all__ = ["REGIMES", "SyntheticBlock", "SyntheticFeed"]

Sleep = Callable[[float], Awaitable[None]]
Floats = NDArray[np.float64]

_BLOCK: Final = 256
# Cumulative transition probabilities a bar: rows from trend, range, high-vol; columns to the same.
_TRANSITIONS: Final = ((0.990, 0.998, 1.0), (0.008, 0.998, 1.0), (0.020, 0.040, 1.0))
_TREND: Final = 0
REGIMES: Final = ("trend", "range", "high-vol")
_VOL_SCALE: Final = np.array([1.0, 0.6, 2.5])
_DRIFT: Final = np.array([0.1, 0.0, 0.0])
_JUMP_CHANCE: Final = np.array([0.001, 0.001, 0.006])
_JUMP_SIGMAS: Final = 8.0
_MARKET, _CLUSTER = 0.4, 0.7
_OWN: Final = float(np.sqrt(1 - _MARKET**2 - _CLUSTER**2))
_YEAR_SECONDS: Final = 365 * 86400
_USD: Final = {
    "BTC": 30000.0, "ETH": 2000.0, "BNB": 300.0, "SOL": 25.0, "LTC": 80.0, "DASH": 30.0, "ETC": 16.0,
    "AVAX": 12.0, "LINK": 7.0, "DOT": 5.0, "XRP": 0.5, "ADA": 0.3, "XLM": 0.1, "DOGE": 0.07,
    "USD": 1.0, "USDT": 1.0, "USDC": 1.0, "EUR": 1.08, "GBP": 1.25, "CHF": 1.1, "AUD": 0.66, "JPY": 0.0068,
}  # fmt: skip
_QUOTES: Final = ("USDT", "USDC", "USD", "BTC", "ETH", "EUR", "GBP", "CHF", "JPY")
_FIAT: Final = frozenset({"USD", "EUR", "GBP", "CHF", "AUD", "JPY"})


@final
class SyntheticFeed:
    """A MarketData feed of generated candles for several symbols at once.

    Args:
        symbols: the symbols (``BTCUSDT``, ``ETHBTC``, ``EURUSD``...); the quote is read from the suffix.
        timeframe: bar length of every symbol.
        seed: same seed (and symbols) -> identical candles.
        start: the first bar's open time (timezone-aware).
        bars: bars per symbol; None streams forever.
        speed: None for as fast as possible, else N times real time (each bar lasts timeframe / N).
        sleep: how to wait when paced (default ``trio.sleep``).
        prices: starting prices that replace the drawn ones, by symbol.
        volatility: annual volatilities that replace the defaults (0.7 crypto, 0.08 fiat pairs), by symbol.
        clusters: correlation clusters (0, 1, 2, ...) that replace the round-robin pair, by symbol.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        timeframe: str = "1m",
        seed: int = 7,
        start: datetime,
        bars: int | None = None,
        speed: float | None = None,
        sleep: Sleep | None = None,
        prices: Mapping[str, float] | None = None,
        volatility: Mapping[str, float] | None = None,
        clusters: Mapping[str, int] | None = None,
    ) -> None:
        names = sorted(symbols)
        if not names or len(set(names)) != len(names) or not all(names):
            msg = f"symbols must be distinct non-empty names, got {list(symbols)}"
            raise ValueError(msg)
        if start.tzinfo is None:
            msg = f"start must be timezone-aware (UTC), got {start.isoformat()}"
            raise ValueError(msg)
        if bars is not None and bars < 0:
            msg = f"bars must be >= 0 or None (forever), got {bars}"
            raise ValueError(msg)
        if speed is not None and not speed > 0:
            msg = f"speed must be positive (or None for as fast as possible), got {speed}"
            raise ValueError(msg)
        self._names = names
        self._timeframe = timeframe
        self._interval = parse_timeframe(timeframe)
        self._seed = seed
        self._start = start
        self._bars = bars
        self._speed = speed
        self._sleep: Sleep = sleep or trio.sleep
        self._cluster = np.arange(len(names)) % min(2, len(names))
        if clusters:
            given = [clusters.get(name, int(c)) for name, c in zip(names, self._cluster, strict=True)]
            self._cluster = np.array(given)
        self._prices = dict(prices or {})
        self._volatility = dict(volatility or {})

    def symbols(self) -> Sequence[str]:
        """The symbols, sorted."""
        return tuple(self._names)

    def timeframe(self, symbol: str) -> str:
        """The timeframe every symbol shares."""
        if symbol not in self._names:
            msg = f"unknown symbol {symbol!r}: this synthetic feed has {', '.join(self._names)}"
            raise DataError(msg)
        return self._timeframe

    def clusters(self) -> Mapping[str, int]:
        """Each symbol's correlation cluster (0 or 1 unless given)."""
        return {name: int(c) for name, c in zip(self._names, self._cluster, strict=True)}

    async def stream(
        self, *, after: datetime | None = None, catch_up_through: datetime | None = None
    ) -> AsyncGenerator[Candle, None]:
        """Candles oldest first, every symbol per bar in symbol order; with ``after``, only later ones. When
        paced, the bars at or before ``catch_up_through`` come without waiting (a resumed run's warm-up).

        A consumer that stops early should close the stream (``async with contextlib.aclosing(...)``).
        """
        first = 0 if after is None else max(0, (after - self._start) // self._interval + 1)
        through = -1 if catch_up_through is None else (catch_up_through - self._start) // self._interval
        wait = self._interval.total_seconds() / self._speed if self._speed else 0.0
        for block in self.blocks():
            if block.first + _BLOCK <= first:
                continue  # generated only to keep the draws in step with a full run
            if self._speed is None or block.first <= through:
                await self._sleep(0)  # a checkpoint, so a run delivered at once can still be cancelled
            columns = (block.open, block.high, block.low, block.close, block.volume)
            rows = zip(*(part.tolist() for part in columns), strict=True)
            for index, (o, h, lo, c, v) in enumerate(rows, start=block.first):
                if index < first:
                    continue
                if self._speed is not None and index > through:
                    await self._sleep(wait)
                ts = self._start + self._interval * index
                for j, name in enumerate(self._names):
                    yield Candle(name, self._timeframe, ts, o[j], h[j], lo[j], c[j], v[j])

    def blocks(self) -> Iterator[SyntheticBlock]:
        """The generated bars, a block at a time, cut at ``bars``: what ``stream`` delivers, as arrays."""
        walk = self._walk()
        first = 0
        while self._bars is None or first < self._bars:
            o, h, lo, c, v, regimes = walk.next_block()
            rows = _BLOCK if self._bars is None else min(_BLOCK, self._bars - first)
            yield SyntheticBlock(first, o[:rows], h[:rows], lo[:rows], c[:rows], v[:rows], regimes[:rows])
            first += _BLOCK

    def annual_volatility(self, symbol: str) -> float:
        """The symbol's annual volatility (before the regime's scaling)."""
        return self._profile(symbol)[1]

    def _walk(self) -> _Walk:
        prices, sigmas, notionals = [], [], []
        for name in self._names:
            price, annual_vol, notional = self._profile(name)
            prices.append(price)
            sigmas.append(annual_vol * np.sqrt(self._interval / timedelta(seconds=_YEAR_SECONDS)))
            notionals.append(notional * self._interval.total_seconds() / 60)
        return _Walk(self._seed, self._cluster, np.array(sigmas), np.log(prices), np.array(notionals))

    def _profile(self, symbol: str) -> tuple[float, float, float]:
        price, annual_vol, notional = _profile(symbol, self._seed)
        return self._prices.get(symbol, price), self._volatility.get(symbol, annual_vol), notional


def _profile(symbol: str, seed: int) -> tuple[float, float, float]:
    """Starting price, annual volatility and notional traded a minute (in the quote), from seed and name."""
    rng = np.random.Generator(np.random.PCG64([seed, zlib.crc32(symbol.encode())]))
    base, quote = next(
        ((symbol[: -len(q)], q) for q in _QUOTES if symbol.endswith(q) and len(symbol) > len(q)),
        (symbol, "USD"),
    )
    base_usd = _USD.get(base) or float(np.exp(rng.uniform(0.0, np.log(500.0))))
    quote_usd = _USD.get(quote, 1.0)
    price = base_usd / quote_usd * float(np.exp(0.05 * rng.standard_normal()))
    annual_vol = 0.08 if base in _FIAT and quote in _FIAT else 0.7
    notional = float(np.exp(rng.normal(np.log(1e5), 0.5))) / quote_usd
    return price, annual_vol, notional


@final
@attrs.frozen(eq=False)
class SyntheticBlock:
    """Bars ``first`` .. ``first + len - 1`` of every symbol (arrays shaped (bars, symbols), symbols
    sorted) and each bar's market regime (0 trend, 1 range, 2 high-vol)."""

    first: int
    open: Floats
    high: Floats
    low: Floats
    close: Floats
    volume: Floats
    regimes: NDArray[np.int_]


class _Walk:
    """The random walk's state between blocks: regime, trend sign and each symbol's last log close."""

    def __init__(
        self, seed: int, clusters: NDArray[np.int_], sigma: Floats, log_price: Floats, notional: Floats
    ):
        self._rng = np.random.Generator(np.random.PCG64(seed))
        self._clusters = clusters
        self._sigma = sigma
        self._log_close = log_price
        self._notional = notional
        self._regime = 1  # start in a range
        self._sign = 1.0

    def next_block(self) -> tuple[Floats, Floats, Floats, Floats, Floats, NDArray[np.int_]]:
        """Open, high, low, close and volume, each shaped (bars, symbols), and each bar's regime."""
        rng, n = self._rng, len(self._sigma)
        regimes, signs = self._regimes(rng.random(_BLOCK), rng.random(_BLOCK))
        market = rng.standard_normal(_BLOCK)[:, None]
        cluster = rng.standard_normal((_BLOCK, int(self._clusters.max()) + 1))[:, self._clusters]
        own = rng.standard_normal((_BLOCK, n))
        jumps = (rng.random((_BLOCK, n)) < _JUMP_CHANCE[regimes][:, None]) * rng.standard_normal((_BLOCK, n))
        wicks = np.abs(rng.standard_normal((2, _BLOCK, n)))
        noise = rng.standard_normal((_BLOCK, n))
        vol = self._sigma * _VOL_SCALE[regimes][:, None]
        shock = _MARKET * market + _CLUSTER * cluster + _OWN * own
        returns = (
            (_DRIFT[regimes] * signs)[:, None] * self._sigma
            + vol * shock
            - 0.5 * vol**2
            + _JUMP_SIGMAS * self._sigma * jumps
        )
        log_close = self._log_close + np.cumsum(returns, axis=0)
        close = np.exp(log_close)
        open_ = np.exp(np.vstack([self._log_close, log_close[:-1]]))
        self._log_close = log_close[-1]
        high = np.maximum(open_, close) * np.exp(0.5 * vol * wicks[0])
        low = np.minimum(open_, close) * np.exp(-0.5 * vol * wicks[1])
        volume = self._notional / close * np.exp(0.3 * noise) * (1 + 2 * np.abs(returns) / self._sigma)
        return open_, high, low, close, volume, regimes

    def _regimes(self, draws: Floats, flips: Floats) -> tuple[NDArray[np.int_], Floats]:
        regimes = np.empty(_BLOCK, dtype=np.int_)
        signs = np.empty(_BLOCK)
        regime, sign = self._regime, self._sign
        # A Markov chain is sequential; one scalar step a bar is cheap next to the vector work.
        for k, (u, flip) in enumerate(zip(draws.tolist(), flips.tolist(), strict=True)):
            following = next(i for i, edge in enumerate(_TRANSITIONS[regime]) if u < edge)
            if following == _TREND and regime != _TREND:
                sign = 1.0 if flip < 0.5 else -1.0
            regime = following
            regimes[k], signs[k] = regime, sign
        self._regime, self._sign = regime, sign
        return regimes, signs
