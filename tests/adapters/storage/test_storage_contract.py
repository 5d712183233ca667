"""One contract for every Storage: the SQLite adapter (a real file) and the in-memory fake behave alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.adapters.storage.sqlite import SqliteStorage
from app.domain.values import (
    AccountSnapshot,
    Asset,
    ClosedTrade,
    Fill,
    Liquidity,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Position,
    Side,
    TimeInForce,
)
from app.ports.errors import StorageError
from app.ports.storage import Storage
from tests.fakes.memory_storage import MemoryStorage

T0 = datetime(2024, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)


class Boom(Exception):
    pass


def fail_inside_a_transaction(store: Storage, work: Callable[[], object]) -> None:
    with store.transaction():
        work()
        raise Boom


def exactly(value: object) -> tuple[str, ...]:
    """Field reprs: unlike ==, tells Decimal("1.5") from Decimal("1.500") and UTC from other zones."""
    return tuple(repr(v) for v in attrs.astuple(value, recurse=False))


def open_store(kind: str, tmp_path: Path) -> Storage:
    if kind == "sqlite":
        return SqliteStorage.open(tmp_path / "home" / "paper.db")
    return MemoryStorage()


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    s = open_store(request.param, tmp_path)
    yield s
    s.close()


def an_intent(cid: str = "demo-00000001", **changes: object) -> OrderIntent:
    intent = OrderIntent(
        client_order_id=cid,
        strategy_id="sma-cross-demo",
        asset=Asset.SPOT,
        symbol="ETHBTC",
        side=Side.BUY,
        qty=Decimal("1.500"),
        created_at=T0,
    )
    return attrs.evolve(intent, **changes)


def an_order(cid: str = "demo-00000001", **changes: object) -> Order:
    order = Order(
        client_order_id=cid,
        strategy_id="sma-cross-demo",
        asset=Asset.SPOT,
        symbol="ETHBTC",
        side=Side.BUY,
        qty=Decimal("1.500"),
        order_type=OrderType.MARKET,
        status=OrderStatus.SUBMITTED,
        created_at=T0,
        updated_at=T0 + timedelta(seconds=1),
    )
    return attrs.evolve(order, **changes)


def a_fill(fill_id: str = "f-1", cid: str = "demo-00000001", **changes: object) -> Fill:
    fill = Fill(
        fill_id=fill_id,
        client_order_id=cid,
        asset=Asset.SPOT,
        symbol="ETHBTC",
        side=Side.BUY,
        qty=Decimal("0.75"),
        price=Decimal("0.05231"),
        fee=Decimal("0.0000392325"),
        fee_currency="BTC",
        ts=T0,
    )
    return attrs.evolve(fill, **changes)


def a_position(symbol: str = "ETHBTC", asset: Asset = Asset.SPOT, **changes: object) -> Position:
    position = Position(
        asset=asset, symbol=symbol, qty=Decimal("1.5"), avg_price=Decimal("0.0523"), opened_at=T0
    )
    return attrs.evolve(position, **changes)


def a_trade(**changes: object) -> ClosedTrade:
    trade = ClosedTrade(
        strategy_id="sma-cross-demo",
        asset=Asset.SPOT,
        symbol="ETHBTC",
        side=Side.BUY,
        qty=Decimal("1.5"),
        entry_time=T0,
        exit_time=T0 + timedelta(hours=2),
        entry_price=Decimal("0.0523"),
        exit_price=Decimal("0.0531"),
        fees=Decimal("0.0001578"),
        pnl=Decimal("0.0010422"),
        exit_reason="signal",
    )
    return attrs.evolve(trade, **changes)


def an_account(asset: Asset = Asset.SPOT, **changes: object) -> AccountSnapshot:
    account = AccountSnapshot(
        asset=asset,
        currency="USD",
        cash=Decimal("1000.00"),
        equity=Decimal("1012.34"),
        realized_pnl=Decimal("12.34"),
        ts=T0,
    )
    return attrs.evolve(account, **changes)


# -- the protocol ----------------------------------------------------------------------------------


def test_the_store_satisfies_the_storage_protocol(store: Storage) -> None:
    assert isinstance(store, Storage)


# -- intents and orders ------------------------------------------------------------------------------


def test_an_intent_with_every_field_set_reads_back_as_written(store: Storage) -> None:
    intent = an_intent(
        side=Side.SELL,
        order_type=OrderType.STOP_LIMIT,
        price=Decimal("0.05200"),
        stop_price=Decimal("0.0521"),
        time_in_force=TimeInForce.IOC,
        reduce_only=True,
        stop_loss=Decimal("0.0540"),
        take_profit=Decimal("0.0490"),
        note="exit on cross",
    )
    store.record_intent(intent)
    back = store.intent(intent.client_order_id)
    assert back == intent
    assert exactly(back) == exactly(intent)


def test_an_intent_with_default_fields_reads_back_with_its_nones(store: Storage) -> None:
    intent = an_intent()
    store.record_intent(intent)
    back = store.intent(intent.client_order_id)
    assert back == intent
    assert back is not None
    assert (back.price, back.stop_price, back.stop_loss, back.take_profit) == (None,) * 4


def test_a_recorded_intent_becomes_a_new_order(store: Storage) -> None:
    store.record_intent(an_intent(price=Decimal("0.05"), reduce_only=True))
    assert exactly(store.get_order("demo-00000001")) == exactly(
        Order(
            client_order_id="demo-00000001",
            strategy_id="sma-cross-demo",
            asset=Asset.SPOT,
            symbol="ETHBTC",
            side=Side.BUY,
            qty=Decimal("1.500"),
            order_type=OrderType.MARKET,
            status=OrderStatus.NEW,
            created_at=T0,
            updated_at=T0,
            price=Decimal("0.05"),
            reduce_only=True,
        )
    )


def test_recording_a_client_id_twice_is_refused(store: Storage) -> None:
    store.record_intent(an_intent(note="first"))
    with pytest.raises(StorageError, match="demo-00000001"):
        store.record_intent(an_intent(note="second"))


def test_a_refused_duplicate_intent_leaves_the_first_untouched(store: Storage) -> None:
    store.record_intent(an_intent(note="first"))
    with pytest.raises(StorageError):
        store.record_intent(an_intent(note="second", qty=Decimal(9)))
    assert store.intent("demo-00000001") == an_intent(note="first")
    assert [o.qty for o in store.orders()] == [Decimal("1.500")]


def test_an_intent_for_an_order_saved_without_one_is_refused(store: Storage) -> None:
    store.save_order(an_order())
    with pytest.raises(StorageError):
        store.record_intent(an_intent())
    assert store.intent("demo-00000001") is None


def test_an_intent_without_a_creation_time_is_refused(store: Storage) -> None:
    with pytest.raises(StorageError, match="created_at"):
        store.record_intent(an_intent(created_at=None))
    assert store.orders() == []


def _batch() -> list[OrderIntent]:
    return [
        an_intent("a", note="first", price=Decimal("0.05")),
        an_intent("b", side=Side.SELL, stop_loss=None, reduce_only=True),
        an_intent("c", qty=Decimal("0.001"), created_at=T0 + timedelta(seconds=1)),
    ]


def test_intents_recorded_together_are_recorded_as_one_by_one(store: Storage, tmp_path: Path) -> None:
    kind = "sqlite" if isinstance(store, SqliteStorage) else "memory"
    reference = open_store(kind, tmp_path / "reference")
    try:
        for one in (reference, store):
            one.save_order(an_order("before"))
        for intent in _batch():
            reference.record_intent(intent)
        store.record_intents(_batch())
        assert [exactly(o) for o in store.orders()] == [exactly(o) for o in reference.orders()]
        assert [store.intent(cid) for cid in "abc"] == _batch()
        assert [store.intent(cid) for cid in "abc"] == [reference.intent(cid) for cid in "abc"]
        assert [o.client_order_id for o in store.orders(open_only=True)] == ["before", "a", "b", "c"]
    finally:
        reference.close()


@pytest.mark.parametrize("repeated", ["stored before", "twice in the batch"])
def test_intents_recorded_together_are_all_refused_when_one_id_is_taken(
    store: Storage, repeated: str
) -> None:
    store.record_intent(an_intent("taken", note="first"))
    batch = [*_batch(), an_intent("taken" if repeated == "stored before" else "b", note="second")]
    with pytest.raises(StorageError, match="'taken'" if repeated == "stored before" else "'b'"):
        store.record_intents(batch)
    assert [o.client_order_id for o in store.orders()] == ["taken"]
    assert [store.intent(cid) for cid in "abc"] == [None, None, None]
    assert store.intent("taken") == an_intent("taken", note="first")
    store.record_intents(_batch())  # the refused batch's ids and rows are free again
    assert [o.client_order_id for o in store.orders()] == ["taken", "a", "b", "c"]


def test_a_batch_refused_inside_a_transaction_leaves_the_rest_to_commit(store: Storage) -> None:
    store.save_order(an_order("taken"))
    with store.transaction():
        store.set_meta("after", "yes")
        with pytest.raises(StorageError):
            store.record_intents([*_batch(), an_intent("taken")])
        store.record_intent(an_intent("fresh"))
    assert [o.client_order_id for o in store.orders()] == ["taken", "fresh"]
    assert [store.intent(cid) for cid in ("a", "taken", "fresh")] == [None, None, an_intent("fresh")]
    assert store.get_meta("after") == "yes"


def test_a_batch_with_an_intent_without_a_creation_time_is_refused_whole(store: Storage) -> None:
    with pytest.raises(StorageError, match="created_at"):
        store.record_intents([*_batch(), an_intent("d", created_at=None)])
    assert store.orders() == []


def test_recording_no_intents_changes_nothing(store: Storage) -> None:
    store.record_intents([])
    assert store.orders() == []


def test_saving_an_order_replaces_its_state(store: Storage) -> None:
    store.record_intent(an_intent())
    filled = an_order(
        status=OrderStatus.FILLED,
        broker_order_id="b-77",
        filled_qty=Decimal("1.500"),
        avg_price=Decimal("0.052310"),
        fee=Decimal("0.0000784650"),
        reason="",
    )
    store.save_order(filled)
    assert store.get_order("demo-00000001") == filled
    assert exactly(store.get_order("demo-00000001")) == exactly(filled)


def test_saving_an_order_keeps_the_intent_as_first_written(store: Storage) -> None:
    intent = an_intent(stop_loss=Decimal("0.05"), take_profit=Decimal("0.06"), note="why")
    store.record_intent(intent)
    store.save_order(an_order(qty=Decimal(2), price=Decimal("0.07"), status=OrderStatus.ACCEPTED))
    assert store.intent(intent.client_order_id) == intent


def test_an_order_saved_without_an_intent_has_no_intent(store: Storage) -> None:
    store.save_order(an_order())
    assert store.get_order("demo-00000001") == an_order()
    assert store.intent("demo-00000001") is None


def test_unknown_client_ids_have_no_order_and_no_intent(store: Storage) -> None:
    assert store.get_order("nope") is None
    assert store.intent("nope") is None


def test_orders_come_in_creation_order_even_after_updates(store: Storage) -> None:
    store.record_intent(an_intent("a"))
    store.save_order(an_order("b"))
    store.record_intent(an_intent("c"))
    store.save_order(an_order("a", status=OrderStatus.FILLED))
    assert [o.client_order_id for o in store.orders()] == ["a", "b", "c"]


def test_open_only_leaves_out_orders_in_a_terminal_state(store: Storage) -> None:
    for status in OrderStatus:
        store.save_order(an_order(status.value, status=status))
    open_ids = [o.client_order_id for o in store.orders(open_only=True)]
    assert open_ids == [s.value for s in OrderStatus if not s.is_terminal]
    assert len(store.orders()) == len(OrderStatus)


def test_an_order_leaves_and_rejoins_the_open_ones_with_its_state(store: Storage) -> None:
    store.record_intent(an_intent("a"))
    store.record_intent(an_intent("b"))
    states = [
        (OrderStatus.ACCEPTED, ["a", "b"]),
        (OrderStatus.PARTIALLY_FILLED, ["a", "b"]),
        (OrderStatus.FILLED, ["b"]),
        (OrderStatus.FILLED, ["b"]),
        (OrderStatus.PARTIALLY_FILLED, ["a", "b"]),  # a later correction reopens it: the state decides
        (OrderStatus.CANCELLED, ["b"]),
    ]
    for status, expected in states:
        order = an_order("a", status=status, filled_qty=Decimal("0.5"))
        store.save_order(order)
        assert [o.client_order_id for o in store.orders(open_only=True)] == expected
        assert store.get_order("a") == order
    assert [o.client_order_id for o in store.orders()] == ["a", "b"]


def _saved_each(tmp_path: Path, kind: str, orders: list[Order]) -> list[tuple[str, ...]]:
    """What the store holds after ``save_order`` of each of ``orders`` in turn (the reference)."""
    reference = open_store(kind, tmp_path / "reference")
    try:
        for cid in ("a", "b", "c"):
            reference.record_intent(an_intent(cid))
        reference.save_order(an_order("c", status=OrderStatus.FILLED))
        for order in orders:
            reference.save_order(order)
        return [exactly(o) for o in reference.orders()]
    finally:
        reference.close()


@pytest.mark.parametrize(
    "statuses",
    [
        # the usual batch: answers moving stored orders between open states
        {"a": OrderStatus.ACCEPTED, "b": OrderStatus.ACCEPTED},
        # open states, but one order closed before (reopened) and one not stored yet
        {"a": OrderStatus.ACCEPTED, "c": OrderStatus.PARTIALLY_FILLED, "d": OrderStatus.ACCEPTED},
        # closing one, the same order twice (the later state wins)
        {"a": OrderStatus.ACCEPTED, "b": OrderStatus.CANCELLED, "a ": OrderStatus.PARTIALLY_FILLED},
        {"a": OrderStatus.REJECTED, "a ": OrderStatus.ACCEPTED},
    ],
)
def test_saving_orders_together_is_saving_each_in_turn(
    store: Storage, tmp_path: Path, statuses: dict[str, OrderStatus]
) -> None:
    orders = [
        an_order(cid.strip(), status=status, filled_qty=Decimal(n), broker_order_id=f"b-{n}")
        for n, (cid, status) in enumerate(statuses.items())
    ]
    for cid in ("a", "b", "c"):
        store.record_intent(an_intent(cid))
    store.save_order(an_order("c", status=OrderStatus.FILLED))

    store.save_orders(orders)

    kind = "sqlite" if isinstance(store, SqliteStorage) else "memory"
    assert [exactly(o) for o in store.orders()] == _saved_each(tmp_path, kind, orders)
    assert [o.client_order_id for o in store.orders(open_only=True)] == [
        o.client_order_id for o in store.orders() if not o.status.is_terminal
    ]


def test_orders_saved_together_are_all_refused_when_one_is_bad(store: Storage) -> None:
    store.record_intent(an_intent("a"))
    store.record_intent(an_intent("b"))
    bad = an_order("b", status=OrderStatus.ACCEPTED, updated_at=NAIVE)
    with pytest.raises(StorageError, match="timezone-aware"):
        store.save_orders([an_order("a", status=OrderStatus.ACCEPTED), bad])
    assert {o.status for o in store.orders()} == {OrderStatus.NEW}


def test_saving_no_orders_changes_nothing(store: Storage) -> None:
    store.save_orders([])
    assert store.orders() == []


# -- value round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["0.10", "1E-12", "-0.000", "123456789012345678901234567890.123456789012", "5E+3", "0"],
)
def test_decimals_keep_their_exact_value_and_precision(store: Storage, value: str) -> None:
    store.save_position(a_position(qty=Decimal(value), entry_fees=Decimal(value)))
    (back,) = store.positions()
    assert (str(back.qty), str(back.entry_fees)) == (value, value)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amount=st.decimals(allow_nan=False, allow_infinity=False))
def test_any_finite_decimal_round_trips_exactly(store: Storage, amount: Decimal) -> None:
    store.save_account(an_account(cash=amount))
    (back,) = store.accounts()
    assert str(back.cash) == str(amount)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    when=st.datetimes(
        min_value=datetime(1970, 1, 2),  # noqa: DTZ001 (hypothesis bounds are naive by design)
        max_value=datetime(2200, 1, 1),  # noqa: DTZ001
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
    )
)
def test_any_aware_datetime_comes_back_as_the_same_instant_in_utc(store: Storage, when: datetime) -> None:
    store.save_position(a_position(opened_at=when))
    (back,) = store.positions()
    assert back.opened_at == when
    assert back.opened_at.tzinfo == UTC


def test_a_datetime_in_another_zone_is_returned_in_utc(store: Storage) -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    store.add_fill(a_fill(ts=datetime(2024, 3, 1, 18, 0, 45, 123456, tzinfo=ist)))
    (back,) = store.fills()
    assert back.ts.isoformat() == "2024-03-01T12:30:45.123456+00:00"


NAIVE = datetime(2024, 3, 1, 12, 0)  # noqa: DTZ001 (the point of the tests below)

NAIVE_WRITES: dict[str, Callable[[Storage], object]] = {
    "intent": lambda s: s.record_intent(an_intent(created_at=NAIVE)),
    "order": lambda s: s.save_order(an_order(updated_at=NAIVE)),
    "fill": lambda s: s.add_fill(a_fill(ts=NAIVE)),
    "position": lambda s: s.save_position(a_position(opened_at=NAIVE)),
    "trade": lambda s: s.add_trade(a_trade(exit_time=NAIVE)),
    "account": lambda s: s.save_account(an_account(ts=NAIVE)),
    "event": lambda s: s.append_event(NAIVE, "tick", {}),
    "event field": lambda s: s.append_event(T0, "tick", {"at": NAIVE}),
}


@pytest.mark.parametrize("write", NAIVE_WRITES.values(), ids=NAIVE_WRITES.keys())
def test_a_naive_datetime_is_refused(store: Storage, write: Callable[[Storage], object]) -> None:
    with pytest.raises(StorageError, match="timezone-aware"):
        write(store)


def test_a_naive_datetime_is_refused_right_after_the_same_wall_time_in_utc(store: Storage) -> None:
    store.append_event(NAIVE.replace(tzinfo=UTC), "tick", {})
    with pytest.raises(StorageError, match="timezone-aware"):
        store.append_event(NAIVE, "tick", {})


def test_one_instant_written_from_two_zones_reads_back_alike(store: Storage) -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    store.add_fill(a_fill("f-1", ts=T0))
    store.add_fill(a_fill("f-2", ts=T0.astimezone(ist)))
    assert [repr(f.ts) for f in store.fills()] == [repr(T0), repr(T0)]


# -- fills ---------------------------------------------------------------------------------------------


def test_a_fill_reads_back_as_written(store: Storage) -> None:
    fill = a_fill(liquidity=Liquidity.MAKER, side=Side.SELL)
    assert store.add_fill(fill) is True
    assert [exactly(f) for f in store.fills()] == [exactly(fill)]


def test_a_fill_recorded_twice_is_ignored_the_second_time(store: Storage) -> None:
    store.add_fill(a_fill())
    assert store.add_fill(a_fill(qty=Decimal(99))) is False
    assert store.fills() == [a_fill()]


def test_fills_can_be_listed_for_one_order_in_the_order_recorded(store: Storage) -> None:
    store.add_fill(a_fill("f-2", "a"))
    store.add_fill(a_fill("f-1", "b"))
    store.add_fill(a_fill("f-0", "a"))
    assert [f.fill_id for f in store.fills("a")] == ["f-2", "f-0"]
    assert [f.fill_id for f in store.fills()] == ["f-2", "f-1", "f-0"]
    assert store.fills("unknown") == []


# -- positions, trades, accounts --------------------------------------------------------------------


def test_saving_a_position_again_replaces_it(store: Storage) -> None:
    store.save_position(a_position(qty=Decimal(1)))
    replaced = a_position(qty=Decimal(-2), stop_loss=Decimal("0.06"), take_profit=Decimal("0.04"))
    store.save_position(replaced)
    assert [exactly(p) for p in store.positions()] == [exactly(replaced)]


def test_positions_are_listed_by_asset_then_symbol(store: Storage) -> None:
    store.save_position(a_position("XRPUSDT", Asset.SPOT))
    store.save_position(a_position("BTCUSDT", Asset.SPOT))
    store.save_position(a_position("EURUSD", Asset.FOREX))
    listed = [(p.asset, p.symbol) for p in store.positions()]
    assert listed == [(Asset.FOREX, "EURUSD"), (Asset.SPOT, "BTCUSDT"), (Asset.SPOT, "XRPUSDT")]


def test_deleting_a_position_removes_only_that_one(store: Storage) -> None:
    store.save_position(a_position("ETHBTC"))
    store.save_position(a_position("ETHBTC", Asset.FUTURES))
    store.delete_position(Asset.SPOT, "ETHBTC")
    assert store.positions() == [a_position("ETHBTC", Asset.FUTURES)]


def test_deleting_a_missing_position_changes_nothing(store: Storage) -> None:
    store.save_position(a_position())
    store.delete_position(Asset.SPOT, "BTCUSDT")
    assert store.positions() == [a_position()]


def test_trades_are_kept_in_the_order_added_including_identical_ones(store: Storage) -> None:
    store.add_trade(a_trade(exit_reason="stop_loss"))
    store.add_trade(a_trade())
    store.add_trade(a_trade())
    expected = [a_trade(exit_reason="stop_loss"), a_trade(), a_trade()]
    assert [exactly(t) for t in store.trades()] == [exactly(t) for t in expected]


def test_a_position_and_a_trade_keep_their_funding_exactly(store: Storage) -> None:
    position = a_position("XRPUSDT", Asset.FUTURES, entry_fees=Decimal("0.25"), funding=Decimal("-0.0470"))
    trade = a_trade(asset=Asset.FUTURES, symbol="XRPUSDT", funding=Decimal("0.0120"), pnl=Decimal("-1.5"))
    store.save_position(position)
    store.add_trade(trade)

    assert [exactly(p) for p in store.positions()] == [exactly(position)]
    assert [exactly(t) for t in store.trades()] == [exactly(trade)]


def test_positions_and_trades_without_funding_read_back_with_zero(store: Storage) -> None:
    store.save_position(a_position())
    store.add_trade(a_trade())

    assert [p.funding for p in store.positions()] == [Decimal(0)]
    assert [t.funding for t in store.trades()] == [Decimal(0)]


def test_saving_an_account_replaces_that_assets_snapshot(store: Storage) -> None:
    store.save_account(an_account(Asset.SPOT))
    store.save_account(an_account(Asset.FUTURES))
    latest = an_account(Asset.SPOT, cash=Decimal("990.5"), ts=T0 + timedelta(minutes=5))
    store.save_account(latest)
    expected = [an_account(Asset.FUTURES), latest]
    assert [exactly(a) for a in store.accounts()] == [exactly(a) for a in expected]


# -- journal and meta ----------------------------------------------------------------------------------


def test_events_come_back_in_order_with_their_fields(store: Storage) -> None:
    first = store.append_event(T0, "session_started", {"epoch": 1, "tags": ["a", "b"]})
    second = store.append_event(T0 + timedelta(seconds=1), "order_denied", {"reason": "cash"})
    assert first < second
    assert list(store.events()) == [
        (first, T0, "session_started", {"epoch": 1, "tags": ["a", "b"]}),
        (second, T0 + timedelta(seconds=1), "order_denied", {"reason": "cash"}),
    ]


def test_events_appended_together_come_back_as_appended_one_by_one(store: Storage) -> None:
    first = store.append_event(T0, "before", {"n": 0})
    store.append_events(
        [
            (T0 + timedelta(seconds=1), "order_sent", {"qty": Decimal("1.50"), "side": Side.BUY}),
            (T0, "order_sent", {"n": 2, "tags": ["x"]}),
        ]
    )
    last = store.append_event(T0, "after", {"n": 3})
    events = list(store.events())
    assert [(e[1], e[2], e[3]) for e in events] == [
        (T0, "before", {"n": 0}),
        (T0 + timedelta(seconds=1), "order_sent", {"qty": "1.50", "side": "buy"}),
        (T0, "order_sent", {"n": 2, "tags": ["x"]}),
        (T0, "after", {"n": 3}),
    ]
    assert first < events[1][0] < events[2][0] < last


def test_events_appended_together_are_all_refused_when_one_is_bad(store: Storage) -> None:
    with pytest.raises(StorageError, match="cannot be stored as JSON"):
        store.append_events([(T0, "ok", {"n": 1}), (T0, "bad", {"x": object()})])
    store.append_events([])
    assert list(store.events()) == []


def test_events_can_be_filtered_by_kind(store: Storage) -> None:
    store.append_event(T0, "a", {"n": 1})
    store.append_event(T0, "b", {"n": 2})
    store.append_event(T0, "a", {"n": 3})
    assert [e[3]["n"] for e in store.events(kind="a")] == [1, 3]


def test_events_can_be_read_from_after_a_sequence_number(store: Storage) -> None:
    seqs = [store.append_event(T0, "a" if n % 2 else "b", {"n": n}) for n in range(6)]
    assert [e[3]["n"] for e in store.events(after_seq=seqs[2])] == [3, 4, 5]
    assert [e[3]["n"] for e in store.events(kind="a", after_seq=seqs[2])] == [3, 5]


def test_many_events_all_come_back_in_order(store: Storage) -> None:
    for n in range(2_345):
        store.append_event(T0, "tick", {"n": n})
    assert [e[3]["n"] for e in store.events()] == list(range(2_345))


def test_money_times_and_enums_in_event_fields_are_stored_as_strings(store: Storage) -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    store.append_event(
        T0,
        "filled",
        {
            "price": Decimal("0.0500"),
            "at": datetime(2024, 3, 1, 18, 0, 45, 123456, tzinfo=ist),
            "side": Side.BUY,
            "nested": {"fee": Decimal("1E-8")},
        },
    )
    (event,) = store.events()
    assert event[3] == {
        "price": "0.0500",
        "at": "2024-03-01T12:30:45.123456+00:00",
        "side": "buy",
        "nested": {"fee": "1E-8"},
    }


def test_an_event_field_json_cannot_hold_is_refused(store: Storage) -> None:
    with pytest.raises(StorageError, match="object"):
        store.append_event(T0, "bad", {"thing": object()})
    assert list(store.events()) == []


def test_several_meta_values_are_set_together_and_roll_back_together(store: Storage) -> None:
    store.set_meta("a", "0")
    store.set_metas({"a": "1", "b": "2"})
    assert (store.get_meta("a"), store.get_meta("b")) == ("1", "2")
    with pytest.raises(Boom):
        fail_inside_a_transaction(store, lambda: store.set_metas({"a": "9", "c": "3"}))
    assert (store.get_meta("a"), store.get_meta("b"), store.get_meta("c")) == ("1", "2", None)
    store.set_metas({})
    assert store.get_meta("a") == "1"


def test_meta_values_are_stored_replaced_and_missing_keys_are_none(store: Storage) -> None:
    assert store.get_meta("seed") is None
    store.set_meta("seed", "42")
    store.set_meta("seed", "43")
    store.set_meta("mode", "paper")
    assert (store.get_meta("seed"), store.get_meta("mode")) == ("43", "paper")


# -- order sequence --------------------------------------------------------------------------------------


def test_order_sequence_numbers_strictly_increase(store: Storage) -> None:
    seqs = [store.next_order_seq() for _ in range(50)]
    assert seqs == sorted(set(seqs))
    assert seqs[0] >= 1


def test_an_order_sequence_number_is_not_reused_after_a_rollback(store: Storage) -> None:
    taken: list[int] = []
    with pytest.raises(Boom):
        fail_inside_a_transaction(store, lambda: taken.append(store.next_order_seq()))
    assert store.next_order_seq() > taken[0]


def test_a_batch_of_sequence_numbers_is_consecutive_and_never_handed_out_again(store: Storage) -> None:
    single = store.next_order_seq()
    batch = store.next_order_seqs(5)
    assert list(batch) == list(range(single + 1, single + 6))
    assert store.next_order_seqs(0) == range(0)
    assert store.next_order_seq() == batch[-1] + 1


def test_a_batch_of_sequence_numbers_taken_in_a_rolled_back_transaction_is_not_reused(store: Storage) -> None:
    taken: list[range] = []
    with pytest.raises(Boom):
        fail_inside_a_transaction(store, lambda: taken.append(store.next_order_seqs(3)))
    after = store.next_order_seqs(2)
    assert after.start > taken[0][-1]


def test_a_negative_count_of_sequence_numbers_is_refused(store: Storage) -> None:
    with pytest.raises(StorageError):
        store.next_order_seqs(-1)


# -- transactions ------------------------------------------------------------------------------------------


def write_everything(store: Storage, tag: str) -> None:
    store.record_intent(an_intent(f"cid-{tag}"))
    store.save_order(an_order(f"cid-{tag}", status=OrderStatus.FILLED))
    store.add_fill(a_fill(f"fill-{tag}", f"cid-{tag}"))
    store.save_position(a_position(f"SYM{tag}"))
    store.add_trade(a_trade(exit_reason=tag))
    store.save_account(an_account(cash=Decimal(len(tag))))
    store.append_event(T0, "tagged", {"tag": tag})
    store.set_meta("tag", tag)


def snapshot(store: Storage) -> tuple[object, ...]:
    return (
        list(store.orders()),
        [store.intent(o.client_order_id) for o in store.orders()],
        list(store.fills()),
        list(store.positions()),
        list(store.trades()),
        list(store.accounts()),
        list(store.events()),
        store.get_meta("tag"),
    )


def test_a_transaction_commits_all_its_writes(store: Storage) -> None:
    with store.transaction():
        write_everything(store, "x")
    assert store.get_order("cid-x") is not None
    assert [f.fill_id for f in store.fills()] == ["fill-x"]
    assert store.get_meta("tag") == "x"


def test_a_transaction_that_raises_writes_nothing(store: Storage) -> None:
    write_everything(store, "before")
    before = snapshot(store)

    def lost() -> None:
        write_everything(store, "lost")
        store.delete_position(Asset.SPOT, "SYMbefore")

    with pytest.raises(Boom):
        fail_inside_a_transaction(store, lost)
    assert snapshot(store) == before


def test_an_inner_transaction_that_raises_undoes_only_its_own_writes(store: Storage) -> None:
    with store.transaction():
        write_everything(store, "outer")
        with pytest.raises(Boom):
            fail_inside_a_transaction(store, lambda: write_everything(store, "inner"))
    assert [o.client_order_id for o in store.orders()] == ["cid-outer"]
    assert [e[3]["tag"] for e in store.events()] == ["outer"]
    assert store.get_meta("tag") == "outer"


def test_an_outer_transaction_that_raises_undoes_its_committed_inner_one(store: Storage) -> None:

    def committed_inner() -> None:
        with store.transaction():
            write_everything(store, "inner")

    with pytest.raises(Boom):
        fail_inside_a_transaction(store, committed_inner)
    assert snapshot(store) == ([], [], [], [], [], [], [], None)


def test_a_refused_intent_inside_a_transaction_leaves_the_rest_to_commit(store: Storage) -> None:
    store.record_intent(an_intent("dup"))
    with store.transaction():
        store.set_meta("after", "yes")
        with pytest.raises(StorageError):
            store.record_intent(an_intent("dup"))
        store.record_intent(an_intent("fresh"))
    assert [o.client_order_id for o in store.orders()] == ["dup", "fresh"]
    assert store.get_meta("after") == "yes"


def test_an_intent_refused_inside_a_transaction_for_an_existing_order_leaves_no_trace(store: Storage) -> None:
    store.save_order(an_order("taken"))
    with store.transaction():
        store.set_meta("after", "yes")
        with pytest.raises(StorageError):
            store.record_intent(an_intent("taken"))
        store.record_intent(an_intent("fresh"))
    assert store.intent("taken") is None
    assert store.intent("fresh") == an_intent("fresh")
    assert [o.client_order_id for o in store.orders()] == ["taken", "fresh"]
    assert store.get_meta("after") == "yes"


def test_writes_outside_a_transaction_stay_when_a_later_one_fails(store: Storage) -> None:
    store.set_meta("kept", "1")
    with pytest.raises(Boom):
        fail_inside_a_transaction(store, lambda: store.set_meta("kept", "2"))
    assert store.get_meta("kept") == "1"


# -- closing ---------------------------------------------------------------------------------------------


def test_a_closed_store_refuses_to_be_used(store: Storage) -> None:
    store.close()
    with pytest.raises(StorageError):
        store.get_meta("any")


def test_closing_twice_is_harmless(store: Storage) -> None:
    store.close()
    store.close()


def test_a_deferred_transaction_is_read_back_at_once_and_survives_a_later_rollback(store: Storage) -> None:
    store.record_intent(an_intent())
    with store.transaction(defer_commit=True):
        store.save_order(an_order(status=OrderStatus.ACCEPTED))
    assert store.get_order("demo-00000001").status is OrderStatus.ACCEPTED  # type: ignore[union-attr]
    with pytest.raises(Boom):
        fail_inside_a_transaction(store, lambda: store.save_order(an_order(status=OrderStatus.CANCELLED)))
    store.flush()
    assert store.get_order("demo-00000001").status is OrderStatus.ACCEPTED  # type: ignore[union-attr]
