"""Orders per second and p50/p99 latency through order_router's pipeline
(registry -> risk -> budget -> exposure -> write-ahead intent committed -> sim broker -> answer saved in a
deferred transaction that commits with the next order's intent: one commit per order),
with SQLite persistence on (WAL, synchronous=NORMAL, a real file) and off (the in-memory store),
measured in the same run; the ratio is what durability costs.

Run: .venv/bin/python bench/order_pipeline.py [--orders N] [--rounds R]
Target (issue 4): >= 5,000 orders/s and p99 <= 2 ms with persistence on.
On a shared machine compare only figures of one run; ``--rounds`` alternates off and on R times and reports
each figure's median. CPU per order (process time) moves less than the wall clock when other work competes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
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
from app.domain.symbols import generic_instrument  # noqa: E402
from app.domain.values import Asset, Candle, Side  # noqa: E402
from app.ports.storage import Storage  # noqa: E402
from app.services.budget_manager import BudgetManager  # noqa: E402
from app.services.config_manager import load_config  # noqa: E402
from app.services.exposure_manager import ExposureManager  # noqa: E402
from app.services.market_clock import MarketClock  # noqa: E402
from app.services.order_requests import OrderRequest  # noqa: E402
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


def build(storage: Storage) -> OrderRouter:
    config = load_config(None)
    clock = MarketClock(T0)
    broker = SimBroker(
        SimConfig(
            asset=Asset.SPOT,
            currency="USD",
            starting_cash=Decimal(10**9),
            instruments=lambda s: generic_instrument(s, Asset.SPOT),
        )
    )
    trio.run(broker.on_candle, Candle("BTCUSDT", "1m", T0 - timedelta(minutes=1), 100, 100, 100, 100, 1e12))
    registry = StrategyRegistry(storage, clock)
    registry.create("bench", Asset.SPOT, reason="benchmark")
    return OrderRouter(
        brokers={Asset.SPOT: broker},
        storage=storage,
        clock=clock,
        risk=RiskManager({Asset.SPOT: risk_limits_from(config, Asset.SPOT)}),
        budget=BudgetManager(budget_from(config, [Asset.SPOT]), storage=storage, clock=clock),
        exposure=ExposureManager(exposure_limits_from(config), clusters_from(config)),
        registry=registry,
    )


class Run(NamedTuple):
    rate: float  # orders per second (wall clock)
    p50: float  # seconds
    p99: float  # seconds
    cpu: float  # process CPU seconds per order: less sensitive than the wall clock to other processes


def measure(storage: Storage, orders: int) -> Run:
    router = build(storage)
    request = OrderRequest(
        "bench", Asset.SPOT, "BTCUSDT", Side.BUY, Decimal("0.01"), Decimal(100), Decimal(99)
    )
    latencies: list[float] = []

    async def run() -> None:
        for _ in range(orders):
            start = time.perf_counter()
            result = await router.place_order(request)
            latencies.append(time.perf_counter() - start)
            if not result.accepted:
                msg = f"benchmark order refused: {result.decision}"
                raise RuntimeError(msg)

    cpu = time.process_time()
    wall = time.perf_counter()
    trio.run(run)
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    return Run(orders / wall, p50, p99, cpu / orders)


def measure_on(orders: int) -> Run:
    with tempfile.TemporaryDirectory() as tmp, SqliteStorage.open(Path(tmp) / "bench.db") as store:
        return measure(store, orders)


def median_run(runs: list[Run]) -> Run:
    """Each figure's median over the rounds (a busy machine slows some rounds, not all)."""
    return Run(*(statistics.median(r[i] for r in runs) for i in range(len(Run._fields))))


def line(name: str, run: Run) -> str:
    return (
        f"{name}: {run.rate:9.0f} orders/s  p50 {run.p50 * 1000:6.3f} ms  p99 {run.p99 * 1000:6.3f} ms"
        f"  cpu {run.cpu * 1e6:5.0f} us/order"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternate off/on this many times and report the medians"
    )
    args = parser.parse_args()
    offs: list[Run] = []
    ons: list[Run] = []
    for round_no in range(1, args.rounds + 1):
        offs.append(measure(MemoryStorage(), args.orders))
        ons.append(measure_on(args.orders))
        if args.rounds > 1:
            print(f"round {round_no}")
            print("  " + line("persistence off", offs[-1]))
            print("  " + line("persistence on ", ons[-1]))
    off, on = median_run(offs), median_run(ons)
    if args.rounds > 1:
        print(f"median of {args.rounds} rounds")
    for name, run in (("persistence off", off), ("persistence on ", on)):
        print(line(name, run))
    print(f"durability costs: {off.rate / on.rate:.2f}x throughput (on/off = {on.rate / off.rate:.2f})")
    target = on.rate >= 5000 and on.p99 <= 0.002
    print(f"target >= 5,000 orders/s and p99 <= 2 ms with persistence: {'met' if target else 'NOT met'}")


if __name__ == "__main__":
    main()
