"""What the TUI costs the trading loop: the same replay headless (as ``app run``) and under the operator app.

Both run the real paper wiring (``build_paper_run``: sim broker, ETHBTC 5m replay, sma_cross, SQLite in a
temporary home) as a trio guest on an asyncio loop. Measured:
- throughput: bars per second at max speed;
- loop latency: how late a trio task that sleeps 5 ms wakes up (the trading loop's responsiveness);
- tick-to-screen: from a bar's publication to the screen refresh that shows it (UI), or to a subscriber
  receiving it (headless with a subscriber, the floor).
The UI runs under Textual's headless driver (``run_test``, 120x40): everything is composed and rendered,
only the terminal write is skipped. Ratios are against the headless run measured in the same process.
Run: .venv/bin/python bench/tui_latency.py
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from app.bootstrap import PaperRunOptions, build_paper_run
from app.services.runtime_events import BarProcessed
from app.services.trio_host import TrioGuest
from app.tui import OperatorApp

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "crypto_spot_5m" / "ETHBTC.csv"
SPEC = ROOT / "config" / "specs" / "sma_cross.yaml"
FAST_BARS = 3000
PACED_BARS = 400
PACED_SPEED = 20_000.0  # a 5m bar every 15 ms
PROBE_S = 0.005


class Probe:
    """A trio task that sleeps PROBE_S again and again and records how late it wakes."""

    def __init__(self) -> None:
        self.lags_ms: list[float] = []
        self.running = True

    async def run(self) -> None:
        while self.running:
            start = time.perf_counter()
            await trio.sleep(PROBE_S)
            self.lags_ms.append((time.perf_counter() - start - PROBE_S) * 1000)


def build(home: Path, bars: int, speed: float | None):
    options = PaperRunOptions(
        feed="replay", data=DATA, specs=(SPEC,), bars=bars, home=home, speed=speed, speed_given=True,
        status_interval=3600,
    )  # fmt: skip
    return build_paper_run(options, lambda status: None)


def headless(bars: int, speed: float | None, *, subscribe: bool) -> dict[str, Any]:
    run = build(Path(tempfile.mkdtemp()), bars, speed)
    probe, delays, elapsed = Probe(), [], [0.0]

    async def services() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(probe.run)
            if subscribe:
                subscription = run.runtime.events.subscribe(100_000)

                async def watch() -> None:
                    while True:
                        for _, event in await subscription.receive_batch():
                            if isinstance(event, BarProcessed):
                                delays.append((time.perf_counter_ns() - event.published_ns) / 1e6)

                nursery.start_soon(watch)
            start = time.perf_counter()
            await run.runtime.run()
            elapsed[0] = time.perf_counter() - start
            nursery.cancel_scope.cancel()

    async def host() -> None:
        guest: TrioGuest[None] = TrioGuest(services)
        guest.start()
        await guest.wait()

    asyncio.run(host())
    run.close()
    return {"bars/s": bars / elapsed[0], "lag": probe.lags_ms, "delay": delays}


def with_ui(bars: int, speed: float | None) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp())
    run = build(home, bars, speed)
    app = OperatorApp(run.runtime, home=home, who="bench")
    probe = Probe()
    elapsed = [0.0]

    async def main() -> None:
        async with app.run_test(size=(120, 40)):
            await app.services_ready.wait()
            app.bridge.submit("probe", probe.run)
            start = time.perf_counter()
            await asyncio.wait_for(app.run_finished.wait(), 600)
            elapsed[0] = time.perf_counter() - start
            probe.running = False

    asyncio.run(main())
    run.close()
    return {"bars/s": bars / elapsed[0], "lag": probe.lags_ms, "delay": list(app.latencies_ms)}


def pct(values: object, q: float) -> float:
    data = sorted(values) if isinstance(values, list) else []
    if not data:
        return float("nan")
    return data[min(len(data) - 1, int(q * len(data)))]


def row(name: str, fast: dict[str, Any], paced: dict[str, Any]) -> str:
    return (
        f"{name:<22}{fast['bars/s']:>9.0f}   {pct(fast['lag'], 0.5):>7.2f} {pct(fast['lag'], 0.99):>7.2f}   "
        f"{pct(paced['lag'], 0.5):>7.2f} {pct(paced['lag'], 0.99):>7.2f}   "
        f"{pct(paced['delay'], 0.5):>7.1f} {pct(paced['delay'], 0.99):>7.1f}"
    )


def main() -> None:
    runs = {
        "headless": (
            headless(FAST_BARS, None, subscribe=False),
            headless(PACED_BARS, PACED_SPEED, subscribe=False),
        ),
        "headless + subscriber": (
            headless(FAST_BARS, None, subscribe=True),
            headless(PACED_BARS, PACED_SPEED, subscribe=True),
        ),
        "UI (120x40)": (with_ui(FAST_BARS, None), with_ui(PACED_BARS, PACED_SPEED)),
    }
    print(f"ETHBTC 5m, sma_cross: {FAST_BARS} bars at max speed; {PACED_BARS} bars paced at one per 15 ms")
    print(
        f"{'':<22}{'max speed':>9}   {'loop lag ms':>15}   {'paced: lag ms':>15}   {'tick-to-screen ms':>15}"
    )
    print(
        f"{'mode':<22}{'bars/s':>9}   {'p50':>7} {'p99':>7}   {'p50':>7} {'p99':>7}   {'p50':>7} {'p99':>7}"
    )
    for name, (fast, paced) in runs.items():
        print(row(name, fast, paced))
    (base_fast, base_paced), (ui_fast, ui_paced) = runs["headless"], runs["UI (120x40)"]
    print(
        f"ratios UI/headless: throughput x{ui_fast['bars/s'] / base_fast['bars/s']:.2f}, "
        f"loop lag p99 at max speed x{pct(ui_fast['lag'], 0.99) / pct(base_fast['lag'], 0.99):.1f}, "
        f"paced x{pct(ui_paced['lag'], 0.99) / pct(base_paced['lag'], 0.99):.1f}; "
        f"paced tick-to-screen p50 {pct(ui_paced['delay'], 0.5):.0f} ms, p99 {pct(ui_paced['delay'], 0.99):.0f} ms"
    )


if __name__ == "__main__":
    main()
