"""pnl_reconciler and perpetual funding: each settlement a venue reports is journaled once by its id, with
what explains it, in the transaction of its batch, and booked into the budget as realised P&L."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
import trio

from app.adapters.brokers.sim import SimBroker, load_funding_rates
from app.domain.budget import Bucket, Budget
from app.domain.values import Asset, Fill, FundingPayment, Side
from app.ports.broker import BrokerEvent
from app.services.budget_manager import BudgetManager
from app.services.market_clock import MarketClock
from app.services.pnl_reconciler import PnlReconciler
from app.services.sl_tp_manager import SlTpManager
from tests.adapters.brokers.sim_kit import FUTURES, fine_rules, flat, intent, read_candles, sim
from tests.fakes.memory_storage import MemoryStorage

FUT = Asset.FUTURES
T8 = datetime(2024, 1, 1, 8, tzinfo=UTC)


def reconciler_for(broker, storage: MemoryStorage, budget: BudgetManager | None = None) -> PnlReconciler:
    brokers = {FUT: broker}
    return PnlReconciler(
        brokers=brokers,
        storage=storage,
        clock=MarketClock(T8),
        sl_tp=SlTpManager(brokers=brokers, storage=storage),
        budget=budget,
    )


def funding_entries(storage: MemoryStorage) -> list[dict]:
    return [dict(fields) for _, _, _, fields in storage.events(kind="funding")]


def test_a_payment_reported_twice_is_journaled_once_and_booked_once():
    storage = MemoryStorage()
    budget = BudgetManager(Budget((Bucket(FUT, D(1000)),)), storage=storage, clock=MarketClock(T8))
    broker = sim(asset=FUT, margin=True)
    reconciler = reconciler_for(broker, storage, budget)

    async def scenario():
        await broker.on_candle(flat(0, 100))
        await broker.place_order(intent("a", Side.BUY, "10", asset=FUT))
        await broker.on_candle(flat(1, 100))
        await reconciler.process_events()
        broker.faults.duplicate_next_event()
        broker.on_funding("BTCUSDT", T8, D("0.001"))
        await reconciler.process_events()

    trio.run(scenario)

    [entry] = funding_entries(storage)
    assert entry == {
        "id": "BTCUSDT@2024-01-01T08:00:00+00:00",
        "asset": "futures",
        "symbol": "BTCUSDT",
        "ts": "2024-01-01T08:00:00.000000+00:00",
        "rate": "0.001",
        "position_qty": "10",
        "mark": "100",
        "amount": "1.0000000000000000",
        "currency": "USDT",
        "value": "1.0000000000000000",
    }
    assert broker.faults.injected == ["duplicate"]
    assert budget.budget.bucket(FUT).realized_pnl == D(-1)


def test_payments_a_restored_venue_reports_again_while_warming_up_are_not_journaled_again():
    rates = load_funding_rates(FUTURES / "XRPUSDT_8h_funding.csv")
    candles = read_candles(FUTURES / "XRPUSDT_1h.csv", "XRPUSDT")
    cut = 60

    def venue() -> SimBroker:
        return sim(
            cash="10000", asset=FUT, margin=True, instruments=fine_rules, funding_rates={"XRPUSDT": rates}
        )

    storage = MemoryStorage()

    async def scenario():
        whole, before = venue(), venue()
        first = reconciler_for(before, storage)
        for broker in (whole, before):
            await broker.on_candle(candles[0])
            await broker.place_order(intent("entry", Side.BUY, "1000", "XRPUSDT", asset=FUT))
        for candle in candles[1:cut]:
            await whole.on_candle(candle)
            await before.on_candle(candle)
            await first.process_events()
        journaled = len(funding_entries(storage))
        after = venue()  # the restart: a fresh venue restored from the journal, a fresh reconciler
        after.restore(storage.orders(), storage.fills(), storage.positions(), intents=storage.intent)
        second = reconciler_for(after, storage)
        for candle in candles[:cut]:
            after.observe(candle)
        reported_again = [e for e in await after.drain_events() if isinstance(e, FundingPayment)]
        await second.process_events()
        unchanged = len(funding_entries(storage))
        after.faults.duplicate_next_event()  # and nothing reported again by a duplicated event either
        for broker in (whole, after):
            await broker.on_candle(candles[cut])
        for candle in candles[cut + 1 :]:
            await whole.on_candle(candle)
            await after.on_candle(candle)
            await second.process_events()
        return journaled, reported_again, unchanged, whole.funding_payments()

    journaled, reported_again, unchanged, truth = trio.run(scenario)

    assert journaled >= 3
    assert len(reported_again) == journaled  # the warm-up re-charged (and reported) every one of them
    assert unchanged == journaled
    assert [e["id"] for e in funding_entries(storage)] == [p.funding_id for p in truth]
    # The position held throughout carries every payment once: none counted again after the restart.
    [held] = storage.positions()
    assert held.funding == -sum((p.amount for p in truth), D(0))


class ScriptedBroker:
    """Reports the given batches; ``rate`` fails once for each currency in ``failing``."""

    def __init__(self, batches: Sequence[Sequence[BrokerEvent]], failing: set[str]) -> None:
        self._batches = list(batches)
        self._failing = set(failing)

    async def drain_events(self) -> Sequence[BrokerEvent]:
        return self._batches.pop(0) if self._batches else []

    async def fills(self) -> Sequence[Fill]:
        return []  # no executions: the journal holds no position for the payments to be booked into

    async def rate(self, currency: str) -> D | None:
        if currency in self._failing:
            self._failing.discard(currency)
            msg = f"no connection to value {currency}"
            raise ConnectionError(msg)
        return D(1)


def settlement(hour: int, currency: str = "USDT") -> FundingPayment:
    ts = datetime(2024, 1, 1, hour, tzinfo=UTC)
    return FundingPayment(FUT, "BTCUSDT", ts, D("0.0001"), D(100), D(10), D("0.1"), currency)


def test_a_batch_that_fails_journals_none_of_its_payments_and_they_count_when_reported_again():
    storage = MemoryStorage()
    batch = [settlement(0), settlement(8, currency="USDC")]
    broker = ScriptedBroker([batch, batch], failing={"USDC"})
    reconciler = reconciler_for(broker, storage)

    with pytest.raises(ConnectionError):
        trio.run(reconciler.process_events)
    rolled_back = funding_entries(storage)
    trio.run(reconciler.process_events)

    assert rolled_back == []
    assert [e["id"] for e in funding_entries(storage)] == [p.funding_id for p in batch]
