"""SyntheticMarket (perpetual with mark and funding, forex pair, options underlying with IV) and the
SyntheticFeed additions it builds on (blocks, per-symbol overrides)."""

from __future__ import annotations

import itertools
from contextlib import aclosing
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import trio
import trio.testing

from app.adapters.feeds.synthetic import MarketBar, SyntheticFeed, SyntheticMarket
from app.domain.values import Asset, Candle
from app.ports import MarketData

START = datetime(2024, 1, 1, tzinfo=UTC)


def collect(market: SyntheticMarket, after: datetime | None = None) -> list[MarketBar]:
    async def main() -> list[MarketBar]:
        async with aclosing(market.bars(after=after)) as bars:
            return [bar async for bar in bars]

    return trio.run(main)


def market(bars: int = 2000, seed: int = 7, timeframe: str = "5m") -> SyntheticMarket:
    return SyntheticMarket(start=START, bars=bars, seed=seed, timeframe=timeframe)


def closes(bars: list[MarketBar], symbol: str) -> np.ndarray:
    return np.array([c.close for bar in bars for c in bar.candles if c.symbol == symbol])


def test_the_market_is_a_market_data_port_with_an_asset_class_per_symbol() -> None:
    feed = market()

    assert isinstance(feed, MarketData)
    assert feed.assets() == {
        "BTCUSDT": Asset.SPOT,
        "ETHUSDT": Asset.SPOT,
        "SOLUSDT": Asset.SPOT,
        "XRPUSDT": Asset.SPOT,
        "BTCPERP": Asset.FUTURES,
        "EURUSD": Asset.FOREX,
        "SPY": Asset.OPTIONS,
    }


def test_the_same_seed_gives_the_same_market_and_another_seed_another() -> None:
    first, again, other = (
        collect(market(300, seed=1)),
        collect(market(300, seed=1)),
        collect(market(300, seed=2)),
    )

    assert first == again
    assert [b.perpetuals for b in first] != [b.perpetuals for b in other]


def test_after_resumes_exactly_where_a_full_run_continues() -> None:
    everything = collect(market(700))

    assert collect(market(700), after=everything[599].ts) == everything[600:]


def test_each_bar_carries_every_symbol_in_order_and_the_stream_flattens_them() -> None:
    feed = market(3)

    async def candles() -> list[Candle]:
        return [c async for c in feed.stream()]

    bars = collect(market(3))
    assert [c.symbol for c in bars[0].candles] == list(feed.symbols())
    assert trio.run(candles) == [c for bar in bars for c in bar.candles]


def test_the_perpetual_trades_within_a_few_basis_points_of_its_index() -> None:
    bars = collect(market())
    states = [b.perpetuals[0] for b in bars]

    premium = np.array([s.last / s.index - 1 for s in states])
    assert np.abs(premium).max() < 0.005
    np.testing.assert_allclose([s.index for s in states], closes(bars, "BTCUSDT"))
    np.testing.assert_allclose([s.last for s in states], closes(bars, "BTCPERP"))


def test_the_perpetuals_candles_open_at_the_previous_close_and_contain_it() -> None:
    bars = collect(market())
    candles = [c for b in bars for c in b.candles if c.symbol == "BTCPERP"]

    assert all(b.open == a.close for a, b in itertools.pairwise(candles))
    assert all(c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high for c in candles)


def test_the_mark_price_follows_the_index_more_smoothly_than_the_last_price() -> None:
    states = [b.perpetuals[0] for b in collect(market(timeframe="1m"))]

    mark_gap = np.array([s.mark / s.index - 1 for s in states])
    last_gap = np.array([s.last / s.index - 1 for s in states])
    assert np.abs(mark_gap).max() < 0.005
    assert np.std(np.diff(mark_gap)) < 0.7 * np.std(np.diff(last_gap))


def test_funding_settles_at_0_8_and_16_utc_within_the_cap() -> None:
    states = [b.perpetuals[0] for b in collect(market(2000))]
    settled = [s for s in states if s.settled]

    assert {s.ts.hour for s in settled} == {0, 8, 16}
    assert all(s.ts.minute == 0 for s in settled)
    assert len(settled) == (states[-1].ts - START) // timedelta(hours=8)
    assert all(abs(s.funding_rate) <= 0.0075 for s in states)
    assert all(s.next_funding - s.ts <= timedelta(hours=8) and s.next_funding.hour % 8 == 0 for s in states)


def test_funding_is_higher_after_rallies_than_after_sell_offs() -> None:
    bars = collect(market(20_000, seed=3))
    index = {b.perpetuals[0].ts: b.perpetuals[0].index for b in bars}
    settled = [b.perpetuals[0] for b in bars if b.perpetuals[0].settled][1:]

    moves = np.array([np.log(s.index / index[s.ts - timedelta(hours=8)]) for s in settled])
    rates = np.array([s.funding_rate for s in settled])
    order = np.argsort(moves)
    third = len(order) // 3

    assert len(set(rates.tolist())) > 10
    assert rates[order[-third:]].mean() > rates[order[:third]].mean() + 0.5e-4


def test_the_forex_pair_moves_about_a_tenth_as_much_as_bitcoin() -> None:
    bars = collect(market(3000))

    ratio = np.std(np.diff(np.log(closes(bars, "EURUSD")))) / np.std(np.diff(np.log(closes(bars, "BTCUSDT"))))

    assert ratio == pytest.approx(0.08 / 0.7, rel=0.25)


def test_the_options_underlyings_implied_volatility_is_plausible_and_rises_when_it_falls() -> None:
    bars = collect(market(5000, timeframe="1m"))
    iv = np.array([b.options[0].iv for b in bars])
    spy = closes(bars, "SPY")

    assert spy[0] == pytest.approx(450, rel=0.05)
    assert iv.min() > 0.1
    assert iv.max() < 0.6
    assert np.corrcoef(np.diff(np.log(iv)), np.diff(np.log(spy)))[0, 1] < -0.4


def test_a_paced_market_takes_bars_times_interval_over_speed_of_virtual_time() -> None:
    feed = SyntheticMarket(start=START, bars=40, timeframe="5m", speed=60.0)

    async def main() -> tuple[int, float]:
        began = trio.current_time()
        count = len([bar async for bar in feed.bars()])
        return count, trio.current_time() - began

    count, elapsed = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))

    assert (count, elapsed) == (40, pytest.approx(40 * 300 / 60))


def test_a_paced_market_delivers_what_it_catches_up_on_at_once_then_paces_again() -> None:
    feed = SyntheticMarket(start=START, bars=40, timeframe="5m", speed=60.0)
    through = START + timedelta(minutes=5 * 29)  # the open time of the 30th bar

    async def main() -> tuple[int, float]:
        began = trio.current_time()
        count = len([bar async for bar in feed.bars(catch_up_through=through)])
        return count, trio.current_time() - began

    count, elapsed = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))

    assert (count, elapsed) == (40, pytest.approx(10 * 300 / 60))


def test_a_perpetual_on_a_symbol_that_is_not_a_crypto_pair_is_refused() -> None:
    with pytest.raises(ValueError, match="underlying must be one of the crypto pairs"):
        SyntheticMarket(start=START, perpetuals={"ETHPERP": "ETHBTC"})


def test_the_feeds_blocks_hold_exactly_what_it_streams() -> None:
    feed = SyntheticFeed(["BTCUSDT", "EURUSD"], start=START, bars=300)

    async def candles() -> list[Candle]:
        return [c async for c in feed.stream()]

    streamed = trio.run(candles)
    blocks = list(feed.blocks())
    assert sum(len(b.close) for b in blocks) == 300
    np.testing.assert_array_equal(np.vstack([b.close for b in blocks]).ravel(), [c.close for c in streamed])
    assert set(np.concatenate([b.regimes for b in blocks]).tolist()) <= {0, 1, 2}


def test_the_feed_takes_given_prices_volatilities_and_clusters() -> None:
    feed = SyntheticFeed(
        ["SPY", "BTCUSDT"],
        start=START,
        bars=1,
        prices={"SPY": 450.0},
        volatility={"SPY": 0.18},
        clusters={"SPY": 3},
    )

    [block] = feed.blocks()
    assert block.open[0, feed.symbols().index("SPY")] == pytest.approx(450.0)
    assert feed.annual_volatility("SPY") == 0.18
    assert feed.clusters() == {"BTCUSDT": 0, "SPY": 3}
