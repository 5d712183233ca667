"""Helpers shared by the ``app`` subcommands: exit status 2 on bad input, the --home option."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

__all__ = [
    "EXIT_BAD_INPUT",
    "bad_input_exits",
    "enter_paper_run",
    "fail",
    "home_option",
    "paper_run_options",
    "parse_speed",
]

EXIT_BAD_INPUT = 2


def fail(lines: list[str]) -> NoReturn:
    for line in lines:
        click.echo(line, err=True)
    sys.exit(EXIT_BAD_INPUT)


@contextmanager
def bad_input_exits() -> Iterator[None]:
    """Turn the project's input errors into messages and exit status 2."""
    from app.domain.errors import ValidationFailed
    from app.ports.errors import DataError, StorageError

    try:
        yield
    except ValidationFailed as e:
        fail(
            [f"error: {e.source} is invalid:"]
            + [f"{where}: {reason}" if where else reason for where, reason in e.problems]
        )
    except (DataError, StorageError) as e:
        fail([f"error: {e}"])


def parse_speed(value: str | None) -> tuple[float | None, bool]:
    if value is None:
        return None, False
    if value == "max":
        return None, True
    try:
        speed = float(value)
    except ValueError:
        speed = -1.0
    if speed <= 0:
        fail([f"--speed: expected 'max' or a positive number, got {value!r}"])
    return speed, True


home_option = click.option(
    "--home",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="APP_HOME",
    help="State folder (database, logs, reports). Default: $APP_HOME or the platform's data dir.",
)

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="Config YAML file (its storage.home and feeds.bybit settings). Default: the built-in defaults.",
)


def paper_run_options(status_help: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The options shared by ``app run`` and ``app tui``; the command receives one ``options`` argument
    (a ``PaperRunOptions``). ``--live`` is refused with the reason, a bad ``--speed`` exits 2."""

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(command)
        def wrapper(
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
            if not paper:
                fail(
                    [
                        "--live: live trading needs credentials, a promoted strategy and the operator's"
                        " confirmation; it is not available in this build. Use --paper."
                    ]
                )
            speed_value, speed_given = parse_speed(speed)
            from app.bootstrap import PaperRunOptions

            command(
                PaperRunOptions(
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
            )

        options = [
            click.option(
                "--paper/--live", default=True, help="Paper trading on the simulated exchange (default)."
            ),
            click.option(
                "--feed",
                type=click.Choice(["synthetic", "replay", "bybit"]),
                help="Market data feed (default: config). bybit: live public data, needs network.",
            ),
            click.option(
                "--data", type=click.Path(path_type=Path), help="Replay data: a file or a folder of files."
            ),
            click.option(
                "--spec", "specs", multiple=True, type=click.Path(path_type=Path), help="Strategy spec YAML."
            ),
            click.option("--speed", help="'max' or N times real time (a 5m bar lasts 300/N s)."),
            click.option(
                "--bars",
                type=click.IntRange(min=1),
                help="Stop once the run has processed this many bars (a restarted run counts those before).",
            ),
            home_option,
            click.option(
                "--config", "config_path", type=click.Path(path_type=Path), help="Config YAML file."
            ),
            click.option("--status-every", type=click.FloatRange(min=0.05), help=status_help),
        ]
        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorate


def enter_paper_run(stack: ExitStack, options: Any, on_status: Callable[..., None], purpose: str) -> Any:
    """Build the paper run under the home's lock inside ``stack``; bad input or a locked home exit 2."""
    from app.bootstrap.heap import settled_heap
    from app.bootstrap.lock import HomeLocked, locked_paper_run

    try:
        with bad_input_exits():
            run = stack.enter_context(locked_paper_run(options, on_status, purpose=purpose))
    except HomeLocked as e:
        fail([f"error: {e}"])
    stack.enter_context(settled_heap())  # built: what start-up made lives as long as the run
    return run
