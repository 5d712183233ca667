"""``app tui``: the operator's terminal UI over the same paper runtime as ``app run --paper``."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import click

from app.cli.common import enter_paper_run, paper_run_options

__all__ = ["tui"]


@click.command()
@paper_run_options("Seconds between status refreshes.")
def tui(options: Any) -> None:
    """The operator's terminal: Paper and Live panes, tables, kill keys (q quits, ? lists the keys)."""
    from app.bootstrap.tui import allocation_steps

    with contextlib.ExitStack() as stack:
        paper_run = enter_paper_run(stack, options, lambda status: None, "app tui")
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
            notes=paper_run.notes,
        )
        app.run()
    if app.failure is not None:
        click.echo(f"the services stopped with an error: {app.failure!r}", err=True)
        sys.exit(1)
