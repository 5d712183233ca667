"""How the screen follows the services: events, a resynchronisation when it fell behind, tick-to-screen."""

from __future__ import annotations

from decimal import Decimal

from tests.tui.conftest import screen_text


def test_the_state_shown_matches_the_store_after_a_replay(harness):
    app = harness.app(bars=600)

    harness.run(app, lambda pilot: _noop())

    storage = harness.wired.storage
    assert app.state.trades == list(storage.trades())
    assert app.state.positions == tuple(storage.positions())
    assert app.state.bars == 600
    assert app.state.dropped == 0


async def _noop() -> None:
    return None


def test_a_screen_that_fell_behind_resynchronises_from_a_snapshot(harness):
    app = harness.app(bars=600, event_capacity=4)

    harness.run(app, lambda pilot: _noop())

    storage = harness.wired.storage
    assert app.state.dropped > 0
    assert app.state.trades == list(storage.trades())
    assert app.state.positions == tuple(storage.positions())
    assert app.state.accounts[storage.accounts()[0].asset] == storage.accounts()[0]


def test_the_equity_shown_is_the_brokers_valuation_to_the_cent(harness):
    app = harness.app(bars=300)

    async def steps(pilot):
        return screen_text(app)

    text = harness.run(app, steps)
    [account] = harness.wired.storage.accounts()

    assert f"equity {account.equity.quantize(Decimal('0.01'))}" in " ".join(text.split())
    assert f"trades {len(harness.wired.storage.trades())}" in text


def test_each_drawn_bar_records_its_tick_to_screen_delay(harness):
    app = harness.app(bars=300)

    harness.run(app, lambda pilot: _noop())

    assert app.latencies_ms
    assert all(ms >= 0 for ms in app.latencies_ms)
