"""The ``app`` command. Thin: parse, call bootstrap or services, print.

Heavy modules are imported inside the commands so ``app --help`` stays fast. Bad input (config, spec, data)
prints what is wrong and where, and exits with status 2.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from app.cli.common import bad_input_exits, enter_paper_run, fail, home_option, paper_run_options


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="app")
def main() -> None:
    """Explore, validate and trade strategies under hard risk limits (paper by default)."""


@main.command()
@paper_run_options("Seconds between status lines.")
def run(options: Any) -> None:
    """Run the trading services headless, printing a status line every few seconds."""
    from app.services.app_runtime import RunStatus

    def show(status: RunStatus) -> None:
        click.echo(status.line())

    with contextlib.ExitStack() as stack:
        paper_run = enter_paper_run(stack, options, show, "app run")
        resumed = paper_run.runtime.resume_point()
        where = ""
        if resumed is not None:
            last, processed = resumed
            where = f", resuming after the bar opened {last:%Y-%m-%d %H:%M} UTC ({processed} bars processed)"
        click.echo(
            f"paper run: home {paper_run.home}, {len(paper_run.specs)} strategies{where}, Ctrl-C stops cleanly"
        )
        for note in paper_run.notes:
            click.echo(f"note: {note}")
        _run_headless(paper_run.runtime.run, paper_run.runtime.status, show)


def _run_headless(
    run_fn: Callable[..., Any], status_fn: Callable[..., Any], show: Callable[[Any], None]
) -> None:
    import asyncio
    import signal

    from app.services.trio_host import GuestCancelled, TrioGuest

    async def host() -> None:
        guest: TrioGuest[Any] = TrioGuest(run_fn)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, guest.cancel)
        guest.start(host_uses_signal_set_wakeup_fd=True)
        try:
            await guest.wait()
        except GuestCancelled:
            show(status_fn(finished=True))
            click.echo("stopped on request; state saved")
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    asyncio.run(host())


def _open_existing(home: Path | None) -> Any:
    from app.bootstrap import open_store, resolve_home

    resolved = resolve_home(home)
    if not (resolved / "paper.db").exists():
        fail([f"error: no paper database in {resolved}: run `app run --paper --home {resolved}` first"])
    with bad_input_exits():
        return open_store(resolved, readonly=True)


@main.command()
@home_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--rebuild", is_flag=True, help="Rebuild positions and trades from the journal and compare.")
def status(home: Path | None, as_json: bool, rebuild: bool) -> None:
    """Per asset: cash, equity, open positions and number of trades."""
    from app.services.reports import rebuild_report, status_report

    store = _open_existing(home)
    try:
        report = status_report(store)
        check = rebuild_report(store) if rebuild else None
    finally:
        store.close()
    if check is not None:
        if as_json:
            report["rebuild"] = check
        else:
            verdict = "matches" if check["consistent"] else "DIFFERS from"
            click.echo(
                f"journal rebuild ({check['fills']} fills, {check['funding']} funding payments) {verdict} "
                "the stored state"
            )
            for problem in check["problems"]:
                click.echo(f"  {problem}")
            for cash in check["cash"]:
                if not cash["checked"]:
                    click.echo(f"  {cash['asset']} cash not compared: {cash['note']}")
        if not check["consistent"]:
            if as_json:
                click.echo(json.dumps(report, indent=2))
            sys.exit(1)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    if not report["assets"]:
        click.echo("no account snapshot yet")
    for row in report["assets"]:
        funding = (
            f"  funding paid {row['funding_paid']} received {row['funding_received']}"
            if row["funding_payments"]
            else ""
        )
        click.echo(
            f"{row['asset']:<8} cash {row['cash']:>14} equity {row['equity']:>14} {row['currency']}"
            f"  open {row['open_positions']:>3}  trades {row['trades']:>5}{funding}"
        )


@main.command()
@home_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def trades(home: Path | None, as_json: bool) -> None:
    """Every order (with its client order id and status) and every closed trade."""
    from app.services.reports import trades_report

    store = _open_existing(home)
    try:
        report = trades_report(store)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"orders ({len(report['orders'])})")
    for o in report["orders"]:
        click.echo(
            f"  {o['created_at'][:19]} {o['client_order_id']:<36} {o['symbol']:<10} {o['side']:<4} "
            f"{o['qty']:>14} {o['status']:<17} avg {o['avg_price'] or '-'} {o['reason']}"
        )
    click.echo(f"closed trades ({len(report['trades'])})")
    for t in report["trades"]:
        funding = f" funding {t['funding']}" if Decimal(t["funding"]) else ""
        click.echo(
            f"  {t['entry_time'][:16]} -> {t['exit_time'][:16]} {t['symbol']:<10} {t['side']:<4} "
            f"{t['entry_price']:>12} -> {t['exit_price']:>12} pnl {t['pnl']:>14}{funding} ({t['exit_reason']})"
        )


@main.group()
def config() -> None:
    """Inspect and validate configuration."""


@config.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def config_check(path: Path | None) -> None:
    """Validate a config file (default: the built-in defaults) and print a summary."""
    from app.services.config_manager import load_config, summarize

    with bad_input_exits():
        loaded = load_config(path)
    for line in summarize(loaded):
        click.echo(line)


def _register() -> None:
    """Commands that live in their own modules (each imports its heavy parts lazily)."""
    from app.cli.backtest import backtest
    from app.cli.data import data
    from app.cli.tui import tui
    from app.cli.universe import universe

    main.add_command(backtest)
    main.add_command(data)
    main.add_command(tui)
    main.add_command(universe)


_register()
