"""Where a restarted run picks up: ``max_bars`` (``app run --bars``) bounds the run, not one process, and a run
stopped between two symbols' bars of one time trades the rest of them after the restart. Either way the same
command ends where an uninterrupted run ends."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import trio
import trio.testing

from app.domain.values import Candle
from app.learning.strategies.spec import load_spec
from app.services.app_runtime.progress import BARS_KEY, LAST_BAR_KEY
from app.services.app_runtime.runtime import AppRuntime
from tests.conftest import SHARED_DATA
from tests.services.app_runtime.wiring import SPEC, paper_runtime

BARS = 400


def run(home: Path, bars: int) -> dict[str, object]:
    """One process of the run in ``home``, stopping at ``bars`` in all; what it leaves in the store."""
    wired = paper_runtime(home, bars=bars)
    try:
        status = trio.run(wired.runtime.run)
        store = wired.storage
        return {
            "status_bars": status.bars,
            "last_bar": store.get_meta(LAST_BAR_KEY),
            "processed": store.get_meta(BARS_KEY),
            "orders": [(o.client_order_id, o.status, o.filled_qty, o.avg_price) for o in store.orders()],
            "trades": [(t.symbol, t.entry_price, t.exit_price, t.pnl) for t in store.trades()],
            "positions": [(p.symbol, p.qty, p.avg_price) for p in store.positions()],
        }
    finally:
        wired.storage.close()


def test_a_run_stopped_early_and_started_again_with_the_same_limit_ends_where_an_uninterrupted_one_does(
    tmp_path: Path,
) -> None:
    whole = run(tmp_path / "whole", BARS)
    first = run(tmp_path / "parts", BARS // 3)  # as if killed after a third of its bars
    again = run(tmp_path / "parts", BARS)  # the same command as the whole run's

    assert first["status_bars"] == BARS // 3
    assert whole["trades"], "the comparison needs trades"
    assert len(first["trades"]) < len(whole["trades"])
    assert again == whole
    assert again["status_bars"] == BARS
    assert again["processed"] == str(BARS)


def test_a_run_that_has_processed_its_bars_processes_no_more_when_started_again(tmp_path: Path) -> None:
    done = run(tmp_path, 50)
    again = run(tmp_path, 50)

    assert again == done
    assert again["status_bars"] == 50


def test_a_larger_limit_continues_the_run(tmp_path: Path) -> None:
    first = run(tmp_path, 50)
    more = run(tmp_path, 80)

    assert more["status_bars"] == 80
    assert more["processed"] == "80"
    assert more["last_bar"] != first["last_bar"]


def two_symbols(folder: Path) -> Path:
    """ETHBTC and LTCBTC 5m bars of the same times, in one folder."""
    folder.mkdir()
    for symbol in ("ETHBTC", "LTCBTC"):
        (folder / f"{symbol}.csv").symlink_to(SHARED_DATA / "crypto_spot_5m" / f"{symbol}.csv")
    return folder


def test_a_run_stopped_between_two_bars_of_one_time_trades_the_rest_of_them_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = load_spec(SPEC)
    specs = [demo, demo.model_copy(update={"id": "sma-cross-ltcbtc", "symbol": "LTCBTC"})]
    data = two_symbols(tmp_path / "data")
    traded: list[tuple[str, datetime]] = []
    on_candle = AppRuntime.on_candle

    async def recording(runtime: AppRuntime, candle: Candle) -> None:
        traded.append((candle.symbol, candle.ts))
        await on_candle(runtime, candle)

    monkeypatch.setattr(AppRuntime, "on_candle", recording)

    def run_both(home: Path, bars: int) -> list[object]:
        wired = paper_runtime(home, bars=bars, data=data, specs=specs)
        try:
            trio.run(wired.runtime.run)
            store = wired.storage
            return [
                [(o.client_order_id, o.status, o.filled_qty, o.avg_price) for o in store.orders()],
                [(t.symbol, t.exit_time, t.pnl) for t in store.trades()],
                [(p.symbol, p.qty) for p in store.positions()],
            ]
        finally:
            wired.storage.close()

    whole = run_both(tmp_path / "whole", 2 * BARS + 1)
    whole_bars, traded[:] = traded[:], []
    run_both(tmp_path / "parts", BARS + 1)  # stops after ETHBTC's bar of a time, before LTCBTC's
    assert traded[-1][0] == "ETHBTC"
    assert traded[-1][1] == whole_bars[BARS][1] == whole_bars[BARS + 1][1]
    parts = run_both(tmp_path / "parts", 2 * BARS + 1)

    assert traded == whole_bars  # each bar traded once: LTCBTC's of that time after the restart
    assert parts == whole
    assert whole[1], "the comparison needs trades"


def test_a_paced_run_restarted_warms_up_at_once_and_paces_only_the_bars_it_has_not_processed(
    tmp_path: Path,
) -> None:
    def paced(bars: int) -> float:
        """One process of a replay at 60x real time (a 5m bar every 5 s): seconds of (mock) time it took."""
        wired = paper_runtime(tmp_path, bars=bars, speed=60.0)

        async def timed() -> float:
            began = trio.current_time()
            await wired.runtime.run()
            return trio.current_time() - began

        try:
            return trio.run(timed, clock=trio.testing.MockClock(autojump_threshold=0))
        finally:
            wired.storage.close()

    assert paced(200) == pytest.approx(200 * 5.0)
    assert paced(210) == pytest.approx(10 * 5.0)  # not 210 bars' worth: the first 200 are warmed up at once
