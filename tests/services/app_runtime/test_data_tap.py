"""The runtime's market-data tap: data_manager sees every bar, and stale data flags the strategies on it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path

import trio
import trio.testing

from app.adapters.feeds.replay import ReplayFeed
from app.domain.registry import StrategyFlag
from app.domain.resample import datetime_to_ns
from app.domain.values import Candle
from app.services.data_manager import DataManager
from tests.services.app_runtime.wiring import ETHBTC, Wired, paper_runtime

SYMBOL = "ETHBTC"
BAR_S = 300.0  # the data is 5m bars


def tap() -> DataManager:
    data = DataManager(history=100, stale_after=3)
    data.subscribe([SYMBOL], ["5m"])
    return data


class GatedFeed:
    """The replay, holding back every bar after the first ``before`` until ``gate`` is set."""

    def __init__(self, before: int) -> None:
        self._replay = ReplayFeed(ETHBTC)
        self._before = before
        self.stalled = trio.Event()
        self.gate = trio.Event()

    def symbols(self) -> Sequence[str]:
        return self._replay.symbols()

    def timeframe(self, symbol: str) -> str:
        return self._replay.timeframe(symbol)

    async def stream(
        self, *, after: datetime | None = None, catch_up_through: datetime | None = None
    ) -> AsyncIterator[Candle]:
        sent = 0
        async with contextlib.aclosing(
            self._replay.stream(after=after, catch_up_through=catch_up_through)
        ) as candles:
            async for candle in candles:
                if sent == self._before:
                    self.stalled.set()
                    await self.gate.wait()
                yield candle
                sent += 1


def stale_flag(wired: Wired, strategy_id: str) -> bool:
    (record,) = [r for r in wired.registry.records() if r.strategy_id == strategy_id]
    return StrategyFlag.DATA_STALE in record.flags


def test_after_a_run_the_data_manager_holds_the_bars_the_runtime_processed(tmp_path: Path) -> None:
    data = tap()
    wired = paper_runtime(tmp_path, bars=50, data_manager=data)
    processed: list[Candle] = []

    async def scenario() -> None:
        async with contextlib.aclosing(ReplayFeed(ETHBTC).stream()) as candles:
            async for candle in candles:
                processed.append(candle)
                if len(processed) == 50:
                    break
        await wired.runtime.run()

    trio.run(scenario)
    held = data.get_ohlc(SYMBOL, "5m", 1000)
    assert list(held.ts) == [datetime_to_ns(c.ts) for c in processed]
    assert list(held.close) == [c.close for c in processed]


def test_bars_replayed_as_warm_up_after_a_restart_reach_the_data_manager_too(tmp_path: Path) -> None:
    first = paper_runtime(tmp_path, bars=20)
    trio.run(first.runtime.run)
    first.storage.close()
    data = tap()
    restarted = paper_runtime(tmp_path, bars=25, data_manager=data)  # max_bars bounds the run: 5 more
    trio.run(restarted.runtime.run)
    assert len(data.get_ohlc(SYMBOL, "5m", 1000)) == 25


def test_a_symbol_gone_stale_flags_its_strategy_and_its_next_bar_clears_the_flag(tmp_path: Path) -> None:
    feed = GatedFeed(before=5)
    wired = paper_runtime(tmp_path, bars=8, feed=feed, data_manager=tap())
    (strategy_id,) = [r.strategy_id for r in wired.registry.records()]
    seen: list[bool] = []

    async def scenario() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wired.runtime.run)
            await feed.stalled.wait()
            seen.append(stale_flag(wired, strategy_id))
            await trio.sleep(3 * BAR_S + 1)  # the mock clock's time: silent past the limit
            seen.append(stale_flag(wired, strategy_id))
            feed.gate.set()
        seen.append(stale_flag(wired, strategy_id))

    trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))
    assert seen == [False, True, False]


def test_a_silent_symbol_goes_stale_without_flagging_strategies_on_a_symbol_still_trading(
    tmp_path: Path,
) -> None:
    data = tap()
    data.subscribe(["BTCUSDT"], ["5m"])  # followed, but the feed never brings a bar of it
    wired = paper_runtime(tmp_path, bars=6, speed=1.0, data_manager=data)  # a bar every 300s of mock time
    (strategy_id,) = [r.strategy_id for r in wired.registry.records()]

    trio.run(wired.runtime.run, clock=trio.testing.MockClock(autojump_threshold=0))
    assert data.stale_symbols() == {"BTCUSDT"}
    assert not stale_flag(wired, strategy_id)
