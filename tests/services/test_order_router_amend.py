"""order_router.amend_order against the sim broker and a real SQLite journal: written ahead, answers saved,
refusals leave the order as it was, ambiguity settled by fetching, and the amended terms survive a crash."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
import trio

from app.adapters.brokers.sim import SimBroker, SimConfig
from app.adapters.storage.sqlite import SqliteStorage
from app.domain.values import Asset, Candle, Instrument, Order, OrderIntent, OrderStatus, OrderType, Side
from app.ports.errors import BrokerRejected, OrderOutcomeUnknown
from app.services.budget_manager import BudgetManager
from app.services.config_manager import load_config
from app.services.exposure_manager import ExposureManager
from app.services.market_clock import MarketClock
from app.services.order_requests import OrderRequest
from app.services.order_router import OrderRouter
from app.services.pnl_reconciler import PnlReconciler
from app.services.risk_manager import RiskManager
from app.services.rules_config import budget_from, clusters_from, exposure_limits_from, risk_limits_from
from app.services.sl_tp_manager import SlTpManager

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SYMBOL = "XYZUSDT"
SRC = Path(__file__).resolve().parents[2] / "src" / "app"


def _instrument(symbol: str) -> Instrument:
    return Instrument(symbol, Asset.SPOT, "XYZ", "USDT", D("0.01"), D("0.001"), D("0.001"))


def _sim(latency: timedelta) -> SimBroker:
    config = SimConfig(
        asset=Asset.SPOT, currency="USD", starting_cash=D(1000), instruments=_instrument, latency=latency
    )
    return SimBroker(config)


def _bar(i: int, o: float, h: float, low: float, c: float) -> Candle:
    return Candle(SYMBOL, "1m", T0 + timedelta(minutes=i), o, h, low, c, 1e9)


class Unreliable:
    """The sim broker whose amendment answers never arrive: ``error`` is raised after the venue applied the
    amendment (``applied``) or before it saw it. Counts amend calls and order fetches."""

    def __init__(self, inner: SimBroker, error: Exception, *, applied: bool) -> None:
        self._inner, self.error, self.applied = inner, error, applied
        self.amend_calls = self.fetches = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def amend_order(self, symbol: str, client_order_id: str, **terms: Any) -> Order:
        self.amend_calls += 1
        if self.applied:
            await self._inner.amend_order(symbol, client_order_id, **terms)
        raise self.error

    async def get_order(self, client_order_id: str) -> Order | None:
        self.fetches += 1
        return await self._inner.get_order(client_order_id)


class Rig:
    """order_router and pnl_reconciler over one sim broker (optionally wrapped) and a SQLite file."""

    def __init__(self, path: Path, *, latency: timedelta = timedelta(0), wrap: Any = None) -> None:
        config = load_config(None)
        self.path = path
        self.storage = SqliteStorage.open(path)
        self.clock = MarketClock(T0)
        self.sim = _sim(latency)
        self.broker = wrap(self.sim) if wrap is not None else self.sim
        brokers = {Asset.SPOT: self.broker}
        self.router = OrderRouter(
            brokers=brokers,
            storage=self.storage,
            clock=self.clock,
            risk=RiskManager({Asset.SPOT: risk_limits_from(config, Asset.SPOT)}),
            budget=BudgetManager(budget_from(config, [Asset.SPOT]), storage=self.storage, clock=self.clock),
            exposure=ExposureManager(exposure_limits_from(config), clusters_from(config)),
        )
        sl_tp = SlTpManager(brokers=brokers, storage=self.storage)
        self.reconciler = PnlReconciler(brokers=brokers, storage=self.storage, clock=self.clock, sl_tp=sl_tp)
        self.bars: list[Candle] = []

    async def bar(self, candle: Candle) -> None:
        """One bar through the venue, then its events into the journal (as the runtime does)."""
        await self.sim.on_candle(candle)
        self.bars.append(candle)
        self.clock.advance_to(candle.close_time)
        await self.reconciler.process_events()

    async def working(self, cid: str, **kw: Any) -> Order:
        """A working order journaled the way order_router journals its orders: intent first, then the answer."""
        terms = {"order_type": OrderType.LIMIT, "price": D(97), **kw}
        intent = OrderIntent(
            cid, "s1", Asset.SPOT, SYMBOL, Side.BUY, D(1), created_at=self.clock.now(), **terms
        )
        with self.storage.transaction():
            self.storage.record_intent(intent)
        order = await self.sim.place_order(intent)
        self.storage.save_order(order)
        return order

    def kinds(self) -> list[str]:
        return [kind for _, _, kind, _ in self.storage.events() if "amend" in kind]

    def event(self, kind: str) -> dict[str, Any]:
        return dict(next(fields for _, _, k, fields in self.storage.events(kind=kind)))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "paper.db"


def test_an_amendment_is_written_ahead_and_the_answer_saved(db):
    rig = Rig(db)

    async def go():
        await rig.bar(_bar(0, 100, 100, 100, 100))
        await rig.working("c1")
        return await rig.router.amend_order(Asset.SPOT, SYMBOL, "c1", price=D(99), reason="chase the bid")

    answer = trio.run(go)
    rig.storage.close()

    with SqliteStorage.open(db) as reopened:
        rig.storage = reopened
        assert rig.kinds() == ["amend_requested", "order_amended"]
        requested = rig.event("amend_requested")
        assert reopened.get_order("c1") == answer
    assert answer.price == D(99)
    assert requested == {"client_order_id": "c1", "symbol": SYMBOL, "price": "99", "reason": "chase the bid"}


def test_the_write_ahead_entry_is_durable_even_when_the_broker_call_blows_up(db):
    rig = Rig(db, wrap=lambda sim: Unreliable(sim, RuntimeError("connection reset by peer"), applied=False))

    async def go():
        await rig.bar(_bar(0, 100, 100, 100, 100))
        before = await rig.working("c1")
        with pytest.raises(RuntimeError, match="connection reset"):
            await rig.router.amend_order(Asset.SPOT, SYMBOL, "c1", qty=D("0.5"))
        return before

    before = trio.run(go)
    rig.storage.close()  # as if the process died here

    with SqliteStorage.open(db) as reopened:
        rig.storage = reopened
        assert rig.kinds() == ["amend_requested"]
        assert rig.event("amend_requested")["qty"] == "0.5"
        assert reopened.get_order("c1") == before


def test_an_ambiguous_amendment_is_settled_by_fetching_the_order_never_by_amending_again(db):
    rig = Rig(db, wrap=lambda sim: Unreliable(sim, OrderOutcomeUnknown("read timed out"), applied=True))

    async def go():
        await rig.bar(_bar(0, 100, 100, 100, 100))
        await rig.working("c1")
        return await rig.router.amend_order(Asset.SPOT, SYMBOL, "c1", price=D(98))

    answer = trio.run(go)

    assert (rig.broker.amend_calls, rig.broker.fetches) == (1, 1)
    assert answer.price == D(98)
    assert rig.storage.get_order("c1") == answer
    assert rig.kinds() == ["amend_requested", "order_amended"]
    assert rig.event("order_amended")["error"] == "read timed out"


def test_an_ambiguous_amendment_the_order_does_not_show_is_journaled_as_unknown(db):
    rig = Rig(db, wrap=lambda sim: Unreliable(sim, OrderOutcomeUnknown("read timed out"), applied=False))

    async def go():
        await rig.bar(_bar(0, 100, 100, 100, 100))
        before = await rig.working("c1")
        return before, await rig.router.amend_order(Asset.SPOT, SYMBOL, "c1", price=D(98))

    before, answer = trio.run(go)

    assert rig.broker.amend_calls == 1
    assert answer == before  # the order as the broker has it: still at 97
    assert rig.kinds() == ["amend_requested", "amend_unknown"]


def test_a_rejected_amendment_leaves_the_order_as_it_was(db):
    rig = Rig(db)

    async def go():
        await rig.bar(_bar(0, 100, 100, 100, 100))
        before = await rig.working("c1")
        with pytest.raises(BrokerRejected) as refused:
            await rig.router.amend_order(Asset.SPOT, SYMBOL, "c1", price=D("98.005"))
        return before, refused.value

    before, error = trio.run(go)

    assert error.code == "invalid_amendment"
    assert "not a multiple of the tick 0.01" in str(error)
    assert rig.storage.get_order("c1") == before
    assert rig.kinds() == ["amend_requested", "amend_rejected"]
    assert rig.event("amend_rejected")["code"] == "invalid_amendment"


def test_amending_a_filled_order_is_refused_with_a_clear_reason(db):
    rig = Rig(
        db, wrap=lambda sim: Unreliable(sim, AssertionError("the broker must not be asked"), applied=False)
    )

    async def go():
        await rig.bar(_bar(0, 100, 100, 100, 100))
        await rig.working("c1")
        await rig.bar(_bar(1, 100, 100, 96, 97))  # fills at 97; the reconciler journals it
        with pytest.raises(BrokerRejected) as refused:
            await rig.router.amend_order(Asset.SPOT, SYMBOL, "c1", price=D(96))
        return refused.value

    error = trio.run(go)

    assert str(error) == "cannot amend c1: it is filled: nothing is left to amend"
    assert error.code == "order_final"
    assert rig.broker.amend_calls == 0
    assert rig.storage.get_order("c1").status is OrderStatus.FILLED
    assert rig.kinds() == ["amend_rejected"]


def test_an_entry_repriced_past_the_risk_rules_is_refused_without_asking_the_broker(db):
    rig = Rig(
        db, wrap=lambda sim: Unreliable(sim, AssertionError("the broker must not be asked"), applied=False)
    )

    async def go():
        await rig.bar(_bar(0, 100, 100, 100, 100))
        before = await rig.working("c1", price=D(97))
        # 1 unit at 1,500: one position's notional would be 1.5x the 1,000 equity (the spot band allows 1x)
        with pytest.raises(BrokerRejected) as refused:
            await rig.router.amend_order(Asset.SPOT, SYMBOL, "c1", price=D(1500))
        return before, refused.value

    before, error = trio.run(go)

    assert error.code == "above_allowed"
    assert "at 1500 the order pipeline allows 0.666 of the 1 left to fill" in str(error)
    assert rig.broker.amend_calls == 0
    assert rig.storage.get_order("c1") == before
    assert rig.kinds() == ["amend_rejected"]
    assert not list(rig.storage.events(kind="order_reduced"))  # a check, not an order


def test_a_repriced_entry_within_the_rules_is_amended(db):
    rig = Rig(db)

    async def go():
        await rig.bar(_bar(0, 100, 100, 100, 100))
        await rig.working("c1", price=D(97))
        return await rig.router.amend_order(Asset.SPOT, SYMBOL, "c1", price=D(990))

    # 1 unit at 990 is within every cap of the 1,000 account
    assert trio.run(go).price == D(990)
    assert rig.kinds() == ["amend_requested", "order_amended"]


def test_an_order_that_filled_at_the_broker_unbeknown_to_the_journal_is_refused_there(db):
    rig = Rig(db)

    async def go():
        await rig.bar(_bar(0, 100, 100, 100, 100))
        before = await rig.working("c1")
        await rig.sim.on_candle(_bar(1, 100, 100, 96, 97))  # filled, events not journaled yet
        with pytest.raises(BrokerRejected) as refused:
            await rig.router.amend_order(Asset.SPOT, SYMBOL, "c1", qty=D("0.5"))
        return before, refused.value

    before, error = trio.run(go)

    assert (error.code, str(error)) == ("order_final", "order c1 is filled: nothing is left to amend")
    assert rig.storage.get_order("c1") == before  # the fill arrives through the reconciler, not here
    assert rig.kinds() == ["amend_requested", "amend_rejected"]


def test_an_entry_can_shrink_but_not_grow_past_what_the_pipeline_approved(db):
    rig = Rig(db, latency=timedelta(minutes=5))  # the market entry is still on its way to the book

    async def go():
        await rig.bar(_bar(0, 100, 100, 100, 100))
        request = OrderRequest("s1", Asset.SPOT, SYMBOL, Side.BUY, D(2), D(100), stop_loss=D(95))
        placed = (await rig.router.place_order(request)).order
        with pytest.raises(BrokerRejected) as refused:
            await rig.router.amend_order(Asset.SPOT, SYMBOL, placed.client_order_id, qty=D(3))
        smaller = await rig.router.amend_order(Asset.SPOT, SYMBOL, placed.client_order_id, qty=D(1))
        return placed, refused.value, smaller

    placed, error, smaller = trio.run(go)

    assert placed.qty == D(2)
    assert error.code == "above_approved"
    assert "the new quantity 3 is above the 2.000 the order pipeline approved" in str(error)
    assert "amend pending until" in smaller.reason  # the latency applies to amendments too
    assert rig.storage.get_order(placed.client_order_id) == smaller


@pytest.mark.parametrize("crash_after", [3, 5])  # the amendment pending / already in force at the crash
def test_amended_terms_survive_a_crash_and_fill_exactly_as_without_it(db, tmp_path, crash_after):
    bars = [_bar(0, 100, 100, 100, 100)] + [_bar(i, 100, 100.5, 99.5, 100) for i in range(1, 5)]
    later = [_bar(5, 100, 103, 99, 102), _bar(6, 100, 101, 99, 100)]
    latency = timedelta(seconds=90)
    uninterrupted = Rig(tmp_path / "twin.db", latency=latency)
    crashed = Rig(db, latency=latency)

    async def go():
        for rig in (uninterrupted, crashed):
            await rig.bar(bars[0])
            await rig.working("c1", order_type=OrderType.STOP_LIMIT, stop_price=D(105), price=D(106))
            await rig.bar(bars[1])
            await rig.router.amend_order(
                Asset.SPOT, SYMBOL, "c1", stop_price=D(102), price=D(103), qty=D("0.5")
            )
            for candle in bars[2:crash_after]:
                await rig.bar(candle)
        crashed.storage.close()  # the process dies; a new one starts from the journal
        store = SqliteStorage.open(db)
        journaled = store.get_order("c1")
        restored = _sim(latency)
        restored.restore(store.orders(), store.fills(), store.positions(), intents=store.intent)
        for candle in bars[:crash_after]:
            restored.observe(candle)
        for candle in bars[crash_after:] + later:
            await uninterrupted.bar(candle)
            await restored.on_candle(candle)
        store.close()
        return (
            journaled,
            [await b.fills() for b in (uninterrupted.sim, restored)],
            [await b.get_order("c1") for b in (uninterrupted.sim, restored)],
        )

    journaled, (fills, resumed_fills), (order, resumed_order) = trio.run(go)

    in_force = "amended at" if crash_after == 5 else "amend pending until"
    assert journaled.reason.startswith(in_force)

    assert [(f.qty, f.price) for f in fills] == [(D("0.5"), D(102))]  # the amended size, trigger and limit
    assert resumed_fills == fills
    assert resumed_order == order


def test_only_order_router_amends_orders():
    """The seed's golden rule: a broker's ``amend_order`` is called by order_router alone (its modules)."""
    order_router = {"order_router.py", "order_amendments.py"}
    callers = []
    for path in SRC.rglob("*.py"):
        if "adapters" in path.parts or path.name in order_router:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "amend_order":
                target = ast.unparse(node.func.value)  # type: ignore[attr-defined]
                if "router" not in target:
                    callers.append(f"{path.relative_to(SRC)}: {ast.unparse(node)}")

    assert callers == []
