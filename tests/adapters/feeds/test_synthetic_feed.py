"""SyntheticFeed: deterministic per seed, correlated in clusters, plausible bars, resumable and paced."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import aclosing
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from app.adapters.feeds.synthetic import SyntheticFeed
from app.domain.values import Candle
from app.ports import MarketData

START = datetime(2024, 1, 1, tzinfo=UTC)
CRYPTO = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")


def _collect(feed: SyntheticFeed, after: datetime | None = None, limit: int | None = None) -> list[Candle]:
    async def main() -> list[Candle]:
        candles = []
        async with aclosing(feed.stream(after=after)) as stream:
            async for candle in stream:
                candles.append(candle)
                if limit is not None and len(candles) >= limit:
                    break
        return candles

    return trio.run(main)


def _feed(
    symbols: Sequence[str] = CRYPTO,
    *,
    seed: int = 7,
    bars: int | None = 300,
    timeframe: str = "1m",
    speed: float | None = None,
) -> SyntheticFeed:
    return SyntheticFeed(symbols, seed=seed, start=START, bars=bars, timeframe=timeframe, speed=speed)


def _series(candles: list[Candle], symbol: str, field: str) -> np.ndarray:
    return np.array([getattr(c, field) for c in candles if c.symbol == symbol])


def test_synthetic_feed_is_a_market_data_port() -> None:
    assert isinstance(_feed(), MarketData)


def test_the_same_seed_gives_identical_candles() -> None:
    assert _collect(_feed(seed=11)) == _collect(_feed(seed=11))


def test_a_different_seed_gives_different_candles() -> None:
    first, second = _collect(_feed(seed=11)), _collect(_feed(seed=12))

    assert [c.close for c in first] != [c.close for c in second]


def test_each_bar_carries_every_symbol_in_order_at_evenly_spaced_times() -> None:
    candles = _collect(_feed(bars=3, timeframe="5m"))

    assert [(c.ts - START, c.symbol) for c in candles] == [
        (timedelta(minutes=5 * k), symbol) for k in range(3) for symbol in sorted(CRYPTO)
    ]
    assert {c.timeframe for c in candles} == {"5m"}


def test_open_is_the_previous_close() -> None:
    candles = _collect(_feed())

    closes, opens = _series(candles, "ETHUSDT", "close"), _series(candles, "ETHUSDT", "open")

    np.testing.assert_array_equal(opens[1:], closes[:-1])


def test_after_resumes_exactly_where_a_full_run_continues() -> None:
    everything = _collect(_feed(bars=700))
    cut = everything[4 * 600 - 1].ts  # past the generator's first blocks

    assert _collect(_feed(bars=700), after=cut) == everything[4 * 600 :]


def test_without_a_bar_limit_the_feed_keeps_going() -> None:
    candles = _collect(_feed(bars=None), limit=4 * 2000)

    assert candles[-1].ts == START + timedelta(minutes=1999)


def test_symbols_in_a_cluster_move_together_more_than_across_clusters() -> None:
    feed = _feed(bars=3000)
    candles = _collect(feed)
    returns = {s: np.diff(np.log(_series(candles, s, "close"))) for s in feed.symbols()}
    clusters = feed.clusters()

    within: list[float] = []
    across: list[float] = []
    for i, a in enumerate(feed.symbols()):
        for b in feed.symbols()[i + 1 :]:
            correlation = np.corrcoef(returns[a], returns[b])[0, 1]
            (within if clusters[a] == clusters[b] else across).append(correlation)

    assert within
    assert across
    assert min(within) > max(across) + 0.2


def test_volume_rises_with_the_size_of_the_move() -> None:
    candles = _collect(_feed(bars=3000))
    closes, opens = _series(candles, "BTCUSDT", "close"), _series(candles, "BTCUSDT", "open")
    volumes = _series(candles, "BTCUSDT", "volume")

    assert np.corrcoef(np.abs(np.log(closes / opens)), volumes)[0, 1] > 0.3


def test_volatility_switches_between_calm_and_wild_regimes() -> None:
    closes = _series(_collect(_feed(("BTCUSDT",), bars=5000)), "BTCUSDT", "close")
    windows = np.abs(np.diff(np.log(closes)))[:4900].reshape(-1, 100).std(axis=1)

    assert windows.max() > 2.5 * windows.min()


def test_starting_prices_are_plausible_for_the_currency() -> None:
    first = {c.symbol: c.open for c in _collect(_feed(("BTCUSDT", "ETHUSDT", "EURUSD"), bars=1))}

    assert first["BTCUSDT"] == pytest.approx(30_000, rel=0.2)
    assert first["ETHUSDT"] == pytest.approx(2_000, rel=0.2)
    assert first["EURUSD"] == pytest.approx(1.08, rel=0.2)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**63 - 1))
def test_bars_are_consistent_for_any_seed(seed: int) -> None:
    candles = _collect(_feed(("BTCUSDT", "ETHBTC", "EURUSD"), seed=seed, bars=300))

    assert all(c.low <= min(c.open, c.close) and max(c.open, c.close) <= c.high for c in candles)
    assert all(c.low > 0 and c.volume > 0 for c in candles)


def test_paced_feed_takes_bars_times_interval_over_speed_of_virtual_time() -> None:
    bars, speed = 50, 30.0
    feed = _feed(bars=bars, timeframe="5m", speed=speed)

    async def main() -> tuple[int, float]:
        began = trio.current_time()
        count = len([candle async for candle in feed.stream()])
        return count, trio.current_time() - began

    count, elapsed = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))

    assert count == bars * len(CRYPTO)
    assert elapsed == pytest.approx(bars * 300 / speed)


@pytest.mark.parametrize("symbols", [[], ["BTCUSDT", "BTCUSDT"], [""]], ids=["none", "twice", "blank"])
def test_symbols_must_be_distinct_names(symbols: list[str]) -> None:
    with pytest.raises(ValueError, match="distinct non-empty"):
        _feed(symbols)


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SyntheticFeed(CRYPTO, start=datetime(2024, 1, 1))  # noqa: DTZ001 - the naive time is the point


def test_a_paced_feed_delivers_what_it_catches_up_on_at_once_then_paces_again() -> None:
    bars, speed, caught_up = 50, 30.0, 20
    feed = _feed(bars=bars, timeframe="5m", speed=speed)
    through = START + timedelta(minutes=5 * (caught_up - 1))  # the open time of the 20th bar

    async def main() -> tuple[list[Candle], float]:
        began = trio.current_time()
        candles = [candle async for candle in feed.stream(catch_up_through=through)]
        return candles, trio.current_time() - began

    candles, elapsed = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))

    assert candles == _collect(_feed(bars=bars, timeframe="5m"))  # the same bars, only sooner
    assert elapsed == pytest.approx((bars - caught_up) * 300 / speed)
