"""symbol_universe: ranking by 24h turnover, filters, stable core and rotating tail, timer, spike detector."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.resample import BarBatch, datetime_to_ns
from app.domain.values import Asset
from app.ports.errors import DataError
from app.services.symbol_universe import (
    Candidate,
    MarketSnapshot,
    SpikeDetector,
    SymbolUniverse,
    Universe,
    UniverseConfig,
    candidates_from_bars,
    select_universe,
)

AT = datetime(2024, 3, 1, tzinfo=UTC)
MONTH = timedelta(days=30)


def coin(name: str, turnover: float, *, quote: str = "USDT", history: timedelta | None = MONTH) -> Candidate:
    return Candidate(f"{name}{quote}", name, quote, turnover, history)


def snapshot(*candidates: Candidate) -> MarketSnapshot:
    return MarketSnapshot(AT, candidates)


def market(count: int, *, top: float = 1e9) -> list[Candidate]:
    """``count`` coins C00, C01, ... with turnover falling by 5% a rank from ``top``."""
    return [coin(f"C{i:02d}", top * 0.95**i) for i in range(count)]


def test_symbols_are_ranked_by_24h_turnover_into_a_core_of_20_and_a_tail_of_10() -> None:
    ranked = select_universe(snapshot(*reversed(market(50))), UniverseConfig())

    assert ranked.symbols() == tuple(f"C{i:02d}USDT" for i in range(30))
    assert ranked.core() == ranked.symbols()[:20]
    assert [m.rank for m in ranked.members] == list(range(1, 31))
    assert ranked.ranked_by == "USDT"


def test_fewer_symbols_are_kept_when_fewer_pass_the_filters() -> None:
    ranked = select_universe(snapshot(*market(6)), UniverseConfig())

    assert len(ranked.members) == 6
    assert {m.role for m in ranked.members} == {"core"}


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        (coin("BTC", 1e9, quote="BTC"), "quote BTC is not one of USDT"),
        (coin("USDC", 1e9), "stablecoin pair"),
        (coin("NEW", 1e9, history=timedelta(days=2)), "2 days of history, below 7"),
        (coin("TINY", 10.0), "24h turnover below 1000 USDT"),
        (coin("SCAM", 1e9), "excluded by configuration"),
    ],
)
def test_each_filter_refuses_a_symbol_with_its_reason(candidate: Candidate, reason: str) -> None:
    rules = UniverseConfig(min_turnover=1000, excluded=frozenset({"SCAMUSDT"}))

    ranked = select_universe(snapshot(candidate, coin("ETH", 5e8)), rules)

    assert ranked.symbols() == ("ETHUSDT",)
    assert ranked.excluded == ((candidate.symbol, reason),)


def test_a_symbol_whose_history_is_unknown_is_not_refused_for_it() -> None:
    ranked = select_universe(snapshot(coin("ETH", 5e8, history=None)), UniverseConfig())

    assert ranked.symbols() == ("ETHUSDT",)


def test_mixed_quote_currencies_rank_by_usd_value_and_a_quote_without_a_rate_is_refused() -> None:
    rules = UniverseConfig(quote_currencies=(), quote_rates={"USDT": 1.0, "BTC": 30_000.0})
    candidates = [coin("ETH", 1e6, quote="BTC"), coin("SOL", 2e9), coin("ADA", 1e9, quote="EUR")]

    ranked = select_universe(snapshot(*candidates), rules)

    assert ranked.ranked_by == "USD"
    assert ranked.symbols() == ("ETHBTC", "SOLUSDT")
    assert ranked.members[0].turnover_usd == pytest.approx(3e10)
    assert ranked.excluded == (("ADAEUR", "no USD rate for EUR to rank mixed quotes"),)


def test_a_core_member_that_slips_but_stays_near_the_cut_keeps_its_core_place() -> None:
    before = select_universe(snapshot(*market(50)), UniverseConfig())
    slipped = [c if c.symbol != "C00USDT" else coin("C00", 0.3e9) for c in market(50)]

    after = select_universe(snapshot(*slipped, coin("HOT", 2e9)), UniverseConfig(), before)

    cut = 1e9 * 0.95**19  # the 20th best once HOT has arrived: C19
    assert 0.5 * cut <= 0.3e9 < cut
    assert next(m.rank for m in after.members if m.symbol == "C00USDT") > 20
    assert "C00USDT" in after.core()
    assert "HOTUSDT" not in after.core()
    assert "HOTUSDT" in after.symbols()


def test_a_core_member_that_falls_well_below_the_cut_loses_its_place() -> None:
    before = select_universe(snapshot(*market(50)), UniverseConfig())
    collapsed = [c if c.symbol != "C00USDT" else coin("C00", 1e6) for c in market(50)]

    after = select_universe(snapshot(*collapsed), UniverseConfig(), before)

    assert "C00USDT" not in after.core()
    assert after.core() == tuple(f"C{i:02d}USDT" for i in range(1, 21))


def test_the_tail_rotates_to_whoever_ranks_next() -> None:
    before = select_universe(snapshot(*market(50)), UniverseConfig())
    shuffled = [coin(c.base, c.turnover_24h * (3.0 if c.symbol == "C45USDT" else 1.0)) for c in market(50)]

    after = select_universe(snapshot(*shuffled), UniverseConfig(), before)

    assert "C45USDT" in after.symbols()
    assert "C29USDT" not in after.symbols()


@pytest.mark.parametrize(("core", "tail"), [(10, 5), (30, 15), (0, 25)])
def test_a_universe_outside_20_to_40_symbols_is_refused(core: int, tail: int) -> None:
    with pytest.raises(ValueError, match="20-40"):
        UniverseConfig(core_size=core, tail_size=tail)


@settings(max_examples=50, deadline=None)
@given(turnovers=st.lists(st.floats(0, 1e12, allow_nan=False), max_size=80, unique=True))
def test_with_no_previous_universe_members_are_the_best_turnovers_best_first(turnovers: list[float]) -> None:
    candidates = [coin(f"X{i}", t) for i, t in enumerate(turnovers)]

    ranked = select_universe(snapshot(*candidates), UniverseConfig())

    assert len(ranked.members) == min(len(candidates), 30)
    assert [m.turnover_24h for m in ranked.members] == sorted(turnovers, reverse=True)[:30]


def five_minute_bars(symbol: str, closes: list[float], volumes: list[float], start: datetime) -> BarBatch:
    ts = datetime_to_ns(start) + np.arange(len(closes), dtype=np.int64) * 300 * 10**9
    return BarBatch(symbol, "5m", ts, closes, closes, closes, closes, volumes)


def test_turnover_from_bars_sums_close_times_volume_over_the_bars_that_closed_in_the_last_24h() -> None:
    start = AT - timedelta(days=2)
    bars = five_minute_bars("ETHBTC", [2.0] * 576, [1.0] * 288 + [3.0] * 288, start)

    [candidate] = candidates_from_bars([bars], AT - timedelta(hours=12)).candidates
    [at_end] = candidates_from_bars([bars]).candidates

    assert candidate.turnover_24h == pytest.approx(2.0 * (144 * 1.0 + 144 * 3.0))
    assert at_end.turnover_24h == pytest.approx(2.0 * 3.0 * 288)
    assert (at_end.base, at_end.quote, at_end.history) == ("ETH", "BTC", timedelta(days=2))


def test_without_a_time_the_snapshot_is_taken_at_the_latest_close_of_any_symbol() -> None:
    early = five_minute_bars("LTCBTC", [1.0] * 10, [1.0] * 10, AT)
    late = five_minute_bars("ETHBTC", [1.0] * 12, [1.0] * 12, AT)

    assert candidates_from_bars([early, late]).at == AT + timedelta(minutes=60)


class CountingSource:
    def __init__(self, fail_on: set[int] | None = None) -> None:
        self.calls = 0
        self._fail_on = fail_on or set()

    async def snapshot(self) -> MarketSnapshot:
        self.calls += 1
        if self.calls in self._fail_on:
            raise DataError("bybit tickers: server error HTTP 503")
        return snapshot(*market(25, top=1e9 * self.calls))


def test_the_universe_is_refreshed_on_a_timer_and_a_failed_refresh_keeps_the_last_one() -> None:
    source = CountingSource(fail_on={2})
    universe = SymbolUniverse({Asset.SPOT: source}, UniverseConfig(refresh_every=timedelta(minutes=30)))
    seen: list[tuple[str, ...]] = []

    async def scenario() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(universe.run)
            # Look one second after each refresh (t = 0, 30, 60, 90 min), never at the same instant as one.
            await trio.sleep(1)
            for _ in range(3):
                seen.append(universe.get_symbols(Asset.SPOT))
                await trio.sleep(30 * 60)
            nursery.cancel_scope.cancel()

    trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))

    assert source.calls == 4
    assert universe.failures == 1
    assert seen[0] == seen[1] == tuple(f"C{i:02d}USDT" for i in range(25))
    assert universe.universe(Asset.SPOT) is not None


def test_assets_that_are_not_ranked_answer_from_their_static_list() -> None:
    universe = SymbolUniverse({}, static={Asset.FOREX: ["EURUSD", "USDJPY"]})

    assert universe.get_symbols(Asset.FOREX) == ("EURUSD", "USDJPY")
    assert universe.get_symbols(Asset.OPTIONS) == ()


def test_refreshing_ranks_each_crypto_asset_by_its_own_source() -> None:
    universe = SymbolUniverse({Asset.SPOT: CountingSource(), Asset.FUTURES: CountingSource()})

    fresh = trio.run(universe.refresh_crypto_universe)

    assert set(fresh) == {Asset.SPOT, Asset.FUTURES}
    assert all(isinstance(u, Universe) for u in fresh.values())
    assert universe.get_symbols(Asset.FUTURES)[0] == "C00USDT"


def feed_detector(detector: SpikeDetector, closes: list[float], volumes: list[float]) -> list[object]:
    start = AT
    found = []
    for k, (close, volume) in enumerate(zip(closes, volumes, strict=True)):
        found.append(detector.update("BTCUSDT", start + timedelta(minutes=5 * k), close, volume))
    return found


def quiet(n: int, seed: int = 1) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    closes = (100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))).tolist()
    volumes = rng.lognormal(3, 0.2, n).tolist()
    return closes, volumes


def test_a_big_move_on_big_volume_emits_an_opportunity() -> None:
    closes, volumes = quiet(100)
    closes.append(closes[-1] * 1.03)
    volumes.append(volumes[-1] * 20)

    found = feed_detector(SpikeDetector(Asset.SPOT), closes, volumes)

    spike = found[-1]
    assert [f for f in found[:-1] if f is not None] == []
    assert spike is not None
    assert (spike.asset, spike.symbol) == (Asset.SPOT, "BTCUSDT")
    assert spike.timestamp == AT + timedelta(minutes=500)
    assert spike.signal_strength == 1.0
    assert spike.features["return_z"] > 3
    assert spike.features["volume_z"] > 3


def test_a_fall_gives_a_negative_signal() -> None:
    closes, volumes = quiet(100)
    closes.append(closes[-1] * 0.99)
    volumes.append(volumes[-1] * 5)

    spike = feed_detector(SpikeDetector(), closes, volumes)[-1]

    assert spike is not None
    assert -1.0 <= spike.signal_strength < 0


def test_a_big_move_on_ordinary_volume_is_not_a_spike() -> None:
    closes, volumes = quiet(100)
    closes.append(closes[-1] * 1.03)
    volumes.append(float(np.median(volumes)))

    assert feed_detector(SpikeDetector(), closes, volumes)[-1] is None


def test_nothing_is_scored_before_the_minimum_history() -> None:
    closes, volumes = quiet(10)
    closes.append(closes[-1] * 1.2)
    volumes.append(volumes[-1] * 50)

    assert feed_detector(SpikeDetector(min_bars=30), closes, volumes)[-1] is None
