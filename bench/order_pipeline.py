"""Orders per second and p50/p99 latency through order_router's pipeline
(registry -> risk -> budget -> exposure -> write-ahead intent -> sim broker -> order state saved),
with SQLite persistence on (WAL, synchronous=NORMAL, a real file) and off (the in-memory store),
measured in the same run; the ratio is what durability costs.

Run: .venv/bin/python bench/order_pipeline.py [--orders N]
Target (issue 4): >= 5,000 orders/s and p99 <= 2 ms with persistence on.
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

import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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
from tests.fakes.memory_storage import MemoryStorage  # noqa: E402

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


def measure(storage: Storage, orders: int) -> tuple[float, float, float]:
    router = build(storage)
    request = OrderRequest("bench", Asset.SPOT, "BTCUSDT", Side.BUY, Decimal("0.01"), Decimal(100), Decimal(99))
    latencies: list[float] = []

    async def run() -> None:
        for _ in range(orders):
            start = time.perf_counter()
            result = await router.place_order(request)
            latencies.append(time.perf_counter() - start)
            if not result.accepted:
                msg = f"benchmark order refused: {result.decision}"
                raise RuntimeError(msg)

    wall = time.perf_counter()
    trio.run(run)
    wall = time.perf_counter() - wall
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    return orders / wall, p50, p99


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=5000)
    args = parser.parse_args()
    off = measure(MemoryStorage(), args.orders)
    with tempfile.TemporaryDirectory() as tmp, SqliteStorage.open(Path(tmp) / "bench.db") as store:
        on = measure(store, args.orders)
    for name, (rate, p50, p99) in (("persistence off", off), ("persistence on ", on)):
        print(f"{name}: {rate:9.0f} orders/s  p50 {p50 * 1000:6.3f} ms  p99 {p99 * 1000:6.3f} ms")
    print(f"durability costs: {off[0] / on[0]:.2f}x throughput (on/off = {on[0] / off[0]:.2f})")
    target = on[0] >= 5000 and on[2] <= 0.002
    print(f"target >= 5,000 orders/s and p99 <= 2 ms with persistence: {'met' if target else 'NOT met'}")


if __name__ == "__main__":
    main()
