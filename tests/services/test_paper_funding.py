"""Perpetual funding in a paper run: every payment the venue charges is journaled once, shown by `app status`,
and explains the cash `app status --rebuild` rebuilds, across restarts too."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal as D
from pathlib import Path

from click.testing import CliRunner

from app.adapters.storage.sqlite import SqliteStorage
from app.cli import main
from app.domain.values import Asset
from app.services.reports import rebuild_report, status_report
from tests.services.perp_replay import perp_folder, perp_spec, run_paper


def journal(home: Path) -> tuple[list[dict], dict, dict]:
    with SqliteStorage.open(home / "paper.db", readonly=True) as store:
        funding = [dict(fields) for _, _, _, fields in store.events(kind="funding")]
        return funding, status_report(store), rebuild_report(store)


def test_each_funding_payment_of_a_perpetual_is_journaled_once_and_explains_the_cash(tmp_path):
    data = perp_folder(tmp_path)

    venues = run_paper(tmp_path / "home", data, perp_spec())
    funding, status, rebuilt = journal(tmp_path / "home")

    charged = venues[Asset.FUTURES].funding_payments()
    assert len(charged) >= 4  # the run holds a position across several of the 8-hourly times
    assert [f["id"] for f in funding] == [p.funding_id for p in charged]
    assert [D(f["amount"]) for f in funding] == [p.amount for p in charged]
    first, payment = funding[0], charged[0]
    assert first["id"] == f"XRPUSDT@{payment.ts.isoformat()}"
    assert (D(first["rate"]), D(first["position_qty"]), D(first["mark"]), first["currency"]) == (
        payment.rate,
        payment.position_qty,
        payment.mark,
        "USDT",
    )
    assert D(first["amount"]) == (payment.position_qty * payment.mark * payment.rate).quantize(D("1e-16"))
    [row] = status["assets"]
    paid = sum((p.amount for p in charged if p.amount > 0), D(0))
    received = -sum((p.amount for p in charged if p.amount < 0), D(0))
    assert paid > 0  # longs paid the positive rates
    assert received > 0  # and shorts received them
    assert (row["funding_paid"], row["funding_received"], row["funding_payments"]) == (
        str(paid.quantize(D("0.01"))),
        str(received.quantize(D("0.01"))),
        len(charged),
    )
    assert rebuilt["consistent"], rebuilt["problems"]
    [cash] = rebuilt["cash"]
    assert cash["checked"]
    assert rebuilt["funding"] == len(charged)


def test_without_its_funding_entries_the_journal_could_not_explain_the_cash(tmp_path):
    run_paper(tmp_path / "home", perp_folder(tmp_path), perp_spec())
    with SqliteStorage.open(tmp_path / "home" / "paper.db") as store:
        store._conn.execute("DELETE FROM events WHERE kind = 'funding'")  # what the journal held before

        rebuilt = rebuild_report(store)

    assert not rebuilt["consistent"]
    assert any(p.startswith("cash futures: rebuilt") for p in rebuilt["problems"])


def test_a_run_stopped_and_resumed_journals_the_funding_of_an_uninterrupted_run(tmp_path):
    data = perp_folder(tmp_path)
    run_paper(tmp_path / "whole", data, perp_spec())
    for part in range(1, 5):  # four parts of 500 bars; each restart restores the venue and warms it up
        run_paper(tmp_path / "parts", data, perp_spec(), bars=500 * part)  # max_bars bounds the whole run

    whole, parts = journal(tmp_path / "whole"), journal(tmp_path / "parts")

    assert parts[0] == whole[0]
    assert len({f["id"] for f in parts[0]}) == len(parts[0])
    assert parts[1] == whole[1]
    assert parts[2]["consistent"], parts[2]["problems"]
    assert parts[2]["cash"][0]["checked"]


def test_app_finds_the_funding_file_beside_the_replayed_bars_and_shows_what_was_paid(tmp_path):
    data = perp_folder(tmp_path)
    spec = tmp_path / "perp.json"
    spec.write_text(json.dumps(perp_spec().model_dump(mode="json", exclude_unset=True)))
    home = str(tmp_path / "home")
    runner = CliRunner()

    ran = runner.invoke(
        main, ["run", "--paper", "--feed", "replay", "--data", str(data), "--spec", str(spec), "--home", home]
    )
    shown = runner.invoke(main, ["status", "--home", home])
    checked = runner.invoke(main, ["status", "--home", home, "--rebuild"])

    assert ran.exit_code == 0, ran.output
    assert "funding paid" in shown.output
    assert checked.exit_code == 0, checked.output
    assert "funding payments) matches the stored state" in checked.output


def test_app_trades_shows_each_payment_in_the_trade_that_held_it_or_on_the_open_position(tmp_path):
    home = tmp_path / "home"
    venues = run_paper(home, perp_folder(tmp_path), perp_spec())
    charged = venues[Asset.FUTURES].funding_payments()
    runner = CliRunner()

    trades = json.loads(runner.invoke(main, ["trades", "--home", str(home), "--json"]).output)["trades"]
    status = json.loads(runner.invoke(main, ["status", "--home", str(home), "--json"]).output)

    funded = 0
    for trade in trades:
        entry, exit_ = datetime.fromisoformat(trade["entry_time"]), datetime.fromisoformat(trade["exit_time"])
        # Settled on it: the funding times from its entry fill (a fill at the time counts) to its exit fill.
        held = [p.amount for p in charged if entry <= p.ts < exit_]
        assert D(trade["funding"]) == -sum(held, D(0)), trade
        funded += len(held)
        fees, funding = D(trade["fees"]), D(trade["funding"])
        price_pnl = (D(trade["exit_price"]) - D(trade["entry_price"])) * D(trade["qty"])
        direction = 1 if trade["side"] == "buy" else -1
        assert D(trade["pnl"]) == direction * price_pnl - fees + funding
    [position] = status["positions"]  # the last entry is still open, with what it was settled since
    opened = datetime.fromisoformat(position["opened_at"])
    since = [p.amount for p in charged if p.ts >= opened]
    assert D(position["funding"]) == -sum(since, D(0))
    assert funded + len(since) == len(charged)  # every payment is in exactly one trade or the position
    assert funded >= 3
