"""Helpers shared by the ``app`` subcommands: exit status 2 on bad input, the --home option."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import click

__all__ = ["EXIT_BAD_INPUT", "bad_input_exits", "fail", "home_option", "parse_speed"]

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
