"""``app data``: the bar cache: import files into it, list it, download bars from Bybit into it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from app.cli.common import bad_input_exits, fail, home_option

__all__ = ["data", "parse_utc"]


def parse_utc(text: str, option: str) -> datetime:
    """A date or ISO-8601 time; one without a zone is UTC. Bad text exits with status 2."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        fail([f"{option}: expected a date or an ISO-8601 time (2024-01-31, 2024-01-31T12:00Z), got {text!r}"])
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.group("data")
def data() -> None:
    """The bar cache (<home>/cache): import files, list it, download from Bybit."""


@data.command("import")
@click.argument("src", type=click.Path(path_type=Path))
@home_option
def import_(src: Path, home: Path | None) -> None:
    """Normalise SRC (a data file or a folder of them) into the cache, reporting each symbol's repairs.

    CSV, Parquet, Feather, freqtrade (PAIR-TIMEFRAME.feather/.json) and trades files are read; rows are
    repaired or dropped by the replay reader's rules. A file that cannot be read is named and skipped
    (the others are imported; the exit status is then 2).
    """
    from app.bootstrap.data import data_files, open_cache
    from app.ports.errors import DataError

    with bad_input_exits():
        files = data_files(src)
        cache = open_cache(home)
        lines: list[str] = []
        failed: list[str] = []
        with click.progressbar(
            files, label=f"importing {len(files)} file(s)", item_show_func=lambda p: p.name if p else None
        ) as progress:
            for path in progress:
                try:
                    lines.extend(report.summary() for report in cache.import_file(path))
                except DataError as e:
                    failed.append(f"error: {e}")
    for line in lines:
        click.echo(line)
    click.echo(f"cache: {cache.root}")
    if failed:
        fail([*failed, f"{len(failed)} of {len(files)} file(s) not imported"])


@data.command("list")
@home_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_(home: Path | None, as_json: bool) -> None:
    """Every cached symbol and timeframe with its number of bars and span (bar open times, UTC)."""
    from app.bootstrap.data import open_cache

    with bad_input_exits():
        cache = open_cache(home)
        entries = cache.entries()
    if as_json:
        rows = [
            {
                "symbol": e.symbol,
                "timeframe": e.timeframe,
                "bars": e.rows,
                "first": e.first_ts.isoformat(),
                "last": e.last_ts.isoformat(),
            }
            for e in entries
        ]
        click.echo(json.dumps({"cache": str(cache.root), "series": rows}, indent=2))
        return
    if not entries:
        click.echo(
            f"the cache in {cache.root} is empty: fill it with `app data import SRC` or `app data download`"
        )
        return
    click.echo(f"{'symbol':<14} {'timeframe':<9} {'bars':>10}  first .. last (UTC)")
    for e in entries:
        span = f"{e.first_ts:%Y-%m-%d %H:%M} .. {e.last_ts:%Y-%m-%d %H:%M}"
        click.echo(f"{e.symbol:<14} {e.timeframe:<9} {e.rows:>10}  {span}")


@data.command("download")
@click.argument("symbols", nargs=-1, required=True)
@click.option("--feed", type=click.Choice(["bybit"]), default="bybit", show_default=True, help="Data source.")
@click.option("--timeframe", default="1m", show_default=True, help="Bar length (1m, 5m, 1h, 1d, ...).")
@click.option("--since", required=True, help="First bar: a date or ISO time (UTC unless it names a zone).")
@click.option("--until", help="End (exclusive) as --since; default: now.")
@click.option(
    "--category",
    type=click.Choice(["spot", "linear", "inverse"]),
    default="spot",
    show_default=True,
    help="Bybit product category.",
)
@click.option("--endpoint", help="Bybit REST base URL (default: pybit's api.bybit.com).")
@home_option
def download(
    symbols: tuple[str, ...],
    feed: str,
    timeframe: str,
    since: str,
    until: str | None,
    category: str,
    endpoint: str | None,
    home: Path | None,
) -> None:
    """Download closed bars of SYMBOLS (BTCUSDT ETHUSDT, or comma-separated) into the cache.

    Needs network access to Bybit's public market data (no keys).
    """
    from app.bootstrap.data import DownloadRequest, download_bars
    from app.domain.timeframes import parse_timeframe
    from app.ports.errors import BrokerUnavailable

    names = tuple(dict.fromkeys(p.strip().upper() for s in symbols for p in s.split(",") if p.strip()))
    try:
        parse_timeframe(timeframe)
    except ValueError as e:
        fail([f"--timeframe: {e}"])
    start = parse_utc(since, "--since")
    end = parse_utc(until, "--until") if until else None
    if end is not None and end <= start:
        fail([f"--until ({end.isoformat()}) must be after --since ({start.isoformat()})"])
    request = DownloadRequest(names, timeframe, start, end, category, endpoint, home)

    def progress(symbol: str, bars: int) -> None:
        click.echo(f"{symbol}: {bars} bars", err=True)

    with bad_input_exits():
        try:
            reports = download_bars(request, progress)
        except BrokerUnavailable as e:
            fail(
                [
                    f"error: {e}",
                    f"`app data download --feed {feed}` needs network access to Bybit's public market data"
                    " (api.bybit.com): check the connection (or --endpoint) and try again",
                ]
            )
    for report in reports:
        click.echo(report.summary())
