"""Orders per second and p50/p99 latency through order_router's pipeline
(registry -> risk -> budget -> exposure -> write-ahead intent committed -> sim broker -> answer saved in a
deferred transaction that commits with the next write), with SQLite persistence on (WAL,
synchronous=NORMAL, a real file) and off (the in-memory store), measured in the same run; the ratio is what
durability costs. Each run is timed on a settled heap, as ``app run`` and ``app tui`` run
(app.bootstrap.heap). A batch of 1 is ``place_order``, one commit per order: how the runtime places orders,
since it acts on one symbol's bar at a time and strategies of a symbol share its netted position (only one
of them enters it on a bar). Larger batches are ``place_orders`` with several strategies' orders decided
together (one commit per batch), the router's path for orders decided at once. Several batch sizes are
measured (``--batch 1,5,10``). An order's latency is its whole batch's: none is answered before the batch is,
so a larger batch trades latency for throughput.

As in a run, the venue gets the next minute's bar after each call, outside the timed call: the entries fill
into one netted position, so each check sees an account with a position in it and no order still working
(an entry still working counts against the limits as the position it will be, see
``services/working_entries.py``). Orders per second are over the time spent in the timed calls, and CPU per
order is the process time spent in them.

Run: .venv/bin/python bench/order_pipeline.py [--orders N] [--batch 1,5,10] [--rounds R]
Target (issue 4): >= 5,000 orders/s and p99 <= 2 ms with persistence on; the verdict is given per batch size.
On a shared machine compare only figures of one run; ``--rounds`` alternates the runs R times and reports
each figure's median. CPU per order (process time) moves less than the wall clock when other work competes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.memory_storage import MemoryStorage  # noqa: E402

from app.adapters.brokers.sim import SimBroker, SimConfig  # noqa: E402
from app.adapters.storage.sqlite import SqliteStorage  # noqa: E402
from app.bootstrap.heap import settled_heap  # noqa: E402
from app.domain.symbols import generic_instrument  # noqa: E402
from app.domain.values import Asset, Candle, Side  # noqa: E402
from app.ports.storage import Storage  # noqa: E402
from app.services.budget_manager import BudgetManager  # noqa: E402
from app.services.config_schema import AppConfig  # noqa: E402
from app.services.exposure_manager import ExposureManager  # noqa: E402
from app.services.market_clock import MarketClock  # noqa: E402
from app.services.order_requests import OrderRequest, RouteResult  # noqa: E402
from app.services.order_router import OrderRouter  # noqa: E402
from app.services.risk_manager import RiskManager  # noqa: E402
from app.services.rules_config import (  # noqa: E402
    budget_from,
    clusters_from,
    exposure_limits_from,
    risk_limits_from,
)
from app.services.strategy_registry import StrategyRegistry  # noqa: E402

T0 = datetime(2024, 1, 1, tzinfo=UTC)


# The bucket is made large enough that the position the benchmark's entries build up never binds a limit.
BENCH_CONFIG = {"assets": {"spot": {"budget": {"allocation": 10**9}}}}


class Bench(NamedTuple):
    router: OrderRouter
    broker: SimBroker
    clock: MarketClock


def build(storage: Storage, strategies: int) -> Bench:
    config = AppConfig.model_validate(BENCH_CONFIG)
    clock = MarketClock(T0)
    broker = SimBroker(
        SimConfig(
            asset=Asset.SPOT,
            currency="USD",
            starting_cash=Decimal(10**9),
            instruments=lambda s: generic_instrument(s, Asset.SPOT),
        )
    )
    trio.run(broker.on_candle, bar(T0 - timedelta(minutes=1)))
    registry = StrategyRegistry(storage, clock)
    for n in range(strategies):
        registry.create(f"bench{n}", Asset.SPOT, reason="benchmark")
    router = OrderRouter(
        brokers={Asset.SPOT: broker},
        storage=storage,
        clock=clock,
        risk=RiskManager({Asset.SPOT: risk_limits_from(config, Asset.SPOT)}),
        budget=BudgetManager(budget_from(config, [Asset.SPOT]), storage=storage, clock=clock),
        exposure=ExposureManager(exposure_limits_from(config), clusters_from(config)),
        registry=registry,
    )
    return Bench(router, broker, clock)


def bar(opened: datetime) -> Candle:
    return Candle("BTCUSDT", "1m", opened, 100, 100, 100, 100, 1e12)


class Run(NamedTuple):
    rate: float  # orders per second of wall clock spent in the timed calls
    p50: float  # seconds
    p99: float  # seconds
    cpu: float  # process CPU seconds per order: less sensitive than the wall clock to other processes


def measure(storage: Storage, orders: int, batch: int) -> Run:
    """``batch`` 1: one ``place_order`` at a time; else ``place_orders`` of ``batch`` strategies' orders.

    After each call the next minute's bar reaches the venue, outside the timed call: the entries fill (an
    entry still working counts against the limits, as a filled one does) and the clock moves on, as in a run.
    """
    router, broker, clock = build(storage, batch)
    requests = [
        OrderRequest(f"bench{n}", Asset.SPOT, "BTCUSDT", Side.BUY, Decimal("0.01"), Decimal(100), Decimal(99))
        for n in range(batch)
    ]
    latencies: list[float] = []
    cpu = 0.0

    async def timed(call: Callable[[], Awaitable[list[RouteResult]]]) -> None:
        nonlocal cpu
        start, start_cpu = time.perf_counter(), time.process_time()
        results = await call()
        cpu += time.process_time() - start_cpu
        latencies.extend([time.perf_counter() - start] * len(results))
        refused(results)
        opened = clock.now()
        await broker.on_candle(bar(opened))
        clock.advance_to(opened + timedelta(minutes=1))

    async def one_by_one() -> None:
        for _ in range(orders):
            await timed(lambda: one(requests[0]))

    async def one(request: OrderRequest) -> list[RouteResult]:
        return [await router.place_order(request)]

    async def in_batches() -> None:
        for _ in range(orders // batch):
            await timed(lambda: router.place_orders(requests))

    # Timed as the app runs orders: on a heap settled once the run is built (app.cli enters settled_heap).
    with settled_heap():
        trio.run(in_batches if batch > 1 else one_by_one)
    placed = len(latencies)
    busy = sum(latencies) / batch  # each batch's time once
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[int(placed * 0.99) - 1]
    return Run(placed / busy, p50, p99, cpu / placed)


def refused(results: list[RouteResult]) -> None:
    for result in results:
        if not result.accepted:
            msg = f"benchmark order refused: {result.decision}"
            raise RuntimeError(msg)


def measure_on(orders: int, batch: int) -> Run:
    with tempfile.TemporaryDirectory() as tmp, SqliteStorage.open(Path(tmp) / "bench.db") as store:
        return measure(store, orders, batch)


def median_run(runs: list[Run]) -> Run:
    """Each figure's median over the rounds (a busy machine slows some rounds, not all)."""
    return Run(*(statistics.median(r[i] for r in runs) for i in range(len(Run._fields))))


def line(name: str, run: Run) -> str:
    return (
        f"{name}: {run.rate:9.0f} orders/s  p50 {run.p50 * 1000:6.3f} ms  p99 {run.p99 * 1000:6.3f} ms"
        f"  cpu {run.cpu * 1e6:5.0f} us/order"
    )


def batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        msg = f"expected batch sizes >= 1 separated by commas, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument(
        "--batch",
        type=batch_sizes,
        default=[1, 5, 10],
        help="orders per place_orders call (strategies acting on one bar), several separated by commas",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternate the runs this many times and report the medians"
    )
    args = parser.parse_args()
    modes = [("single" if batch == 1 else f"batch of {batch}", batch) for batch in args.batch]
    runs: dict[tuple[str, str], list[Run]] = {}
    for round_no in range(1, args.rounds + 1):
        for mode, batch in modes:
            runs.setdefault((mode, "off"), []).append(measure(MemoryStorage(), args.orders, batch))
            runs.setdefault((mode, "on"), []).append(measure_on(args.orders, batch))
        if args.rounds > 1:
            print(f"round {round_no}")
            for (mode, persistence), done in runs.items():
                print("  " + line(f"{mode:>12} persistence {persistence:3}", done[-1]))
    if args.rounds > 1:
        print(f"median of {args.rounds} rounds")
    verdicts = []
    for mode, _ in modes:
        off, on = median_run(runs[mode, "off"]), median_run(runs[mode, "on"])
        print(line(f"{mode:>12} persistence off", off))
        print(line(f"{mode:>12} persistence on ", on))
        print(
            f"{mode:>12} durability costs {off.rate / on.rate:.2f}x throughput (on/off = {on.rate / off.rate:.2f})"
        )
        met = on.rate >= 5000 and on.p99 <= 0.002
        verdicts.append(f"{mode} {'met' if met else 'NOT met'}")
    print(f"target >= 5,000 orders/s and p99 <= 2 ms with persistence: {', '.join(verdicts)}")


if __name__ == "__main__":
    main()
