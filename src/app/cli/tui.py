"""``app tui``: the operator's terminal UI over the same paper runtime as ``app run --paper``."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import click

from app.cli.common import bad_input_exits, fail, home_option, parse_speed

__all__ = ["tui"]


@click.command()
@click.option("--paper/--live", default=True, help="Paper trading on the simulated exchange (default).")
@click.option(
    "--feed", type=click.Choice(["synthetic", "replay"]), help="Market data feed (default: config)."
)
@click.option("--data", type=click.Path(path_type=Path), help="Replay data: a file or a folder of files.")
@click.option("--spec", "specs", multiple=True, type=click.Path(path_type=Path), help="Strategy spec YAML.")
@click.option("--speed", help="'max' or N times real time (a 5m bar lasts 300/N s).")
@click.option("--bars", type=click.IntRange(min=1), help="Stop after this many bars.")
@home_option
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="Config YAML file.")
@click.option("--status-every", type=click.FloatRange(min=0.05), help="Seconds between status refreshes.")
def tui(
    paper: bool,
    feed: str | None,
    data: Path | None,
    specs: tuple[Path, ...],
    speed: str | None,
    bars: int | None,
    home: Path | None,
    config_path: Path | None,
    status_every: float | None,
) -> None:
    """The operator's terminal: Paper and Live panes, tables, kill keys (q quits, ? lists the keys)."""
    if not paper:
        fail(
            [
                "--live: live trading needs credentials, a promoted strategy and the operator's confirmation;"
                " it is not available in this build. Use --paper."
            ]
        )
    speed_value, speed_given = parse_speed(speed)
    from app.bootstrap import PaperRunOptions
    from app.bootstrap.lock import HomeLocked, locked_paper_run
    from app.bootstrap.tui import allocation_steps

    options = PaperRunOptions(
        feed=feed,
        data=data,
        specs=specs,
        speed=speed_value,
        speed_given=speed_given,
        bars=bars,
        home=home,
        config=config_path,
        status_interval=status_every,
    )
    with contextlib.ExitStack() as stack:
        try:
            with bad_input_exits():
                building = locked_paper_run(options, lambda status: None, purpose="app tui")
                paper_run = stack.enter_context(building)
        except HomeLocked as e:
            fail([f"error: {e}"])
        from app.tui import OperatorApp

        # Textual sizes itself with shutil.get_terminal_size(), which trusts COLUMNS/LINES over the terminal;
        # a multiplexer sets them when the pane starts and they go stale when it is resized.
        for stale in ("COLUMNS", "LINES"):
            os.environ.pop(stale, None)

        app = OperatorApp(
            paper_run.runtime,
            home=paper_run.home,
            allocation_steps=allocation_steps(paper_run),
            handle_signals=True,
        )
        app.run()
    if app.failure is not None:
        click.echo(f"the services stopped with an error: {app.failure!r}", err=True)
        sys.exit(1)
