"""``app data``: the bar cache: import files into it, list it, download bars from Bybit into it.

The cache has one root per market (``<home>/cache/spot``, ``.../linear``, ...): the same symbol name in two
markets (spot and perpetual ``BTCUSDT``) is two series. Every command names the market it writes or lists.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from app.cli.common import bad_input_exits, config_option, fail, home_option

__all__ = ["data", "parse_utc"]


def parse_utc(text: str, option: str) -> datetime:
    """A date or ISO-8601 time; one without a zone is UTC. Bad text exits with status 2."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        fail([f"{option}: expected a date or an ISO-8601 time (2024-01-31, 2024-01-31T12:00Z), got {text!r}"])
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# Kept in step with app.bootstrap.bar_cache.MARKETS (a test checks): importing bootstrap here would load
# the adapters for `app --help`.
MARKETS = ("spot", "linear", "inverse", "forex", "options")


@click.group("data")
def data() -> None:
    """The bar cache (<home>/cache/<market>): import files, list it, download from Bybit."""


@data.command("import")
@click.argument("src", type=click.Path(path_type=Path))
@click.option(
    "--market",
    type=click.Choice(MARKETS),
    default="spot",
    show_default=True,
    help="The market the bars are from: spot, linear (USDT perpetuals), inverse, forex or options.",
)
@home_option
@config_option
def import_(src: Path, market: str, home: Path | None, config_path: Path | None) -> None:
    """Normalise SRC (a data file or a folder of them) into the cache of --market, reporting each
    symbol's repairs.

    The bars are stored as --market's (default: spot): import perpetual bars with --market linear, or a
    backtest of a spot spec would read them as spot prices. CSV, Parquet, Feather, freqtrade
    (PAIR-TIMEFRAME.feather/.json) and trades files are read; rows are repaired or dropped by the replay
    reader's rules. A file that cannot be read is named and skipped (the others are imported; the exit
    status is then 2). A folder's funding, mark and index files are left out (and listed).
    """
    from app.bootstrap.data import data_files, open_cache
    from app.ports.errors import DataError

    with bad_input_exits():
        files, left_out = data_files(src)
        cache = open_cache(home, market, config_path)
        lines: list[str] = []
        failed: list[str] = []
        with click.progressbar(
            files, label=f"importing {len(files)} file(s)", item_show_func=lambda p: p.name if p else None
        ) as progress:
            for path in progress:
                try:
                    lines.extend(f"{market} {report.summary()}" for report in cache.import_file(path))
                except DataError as e:
                    failed.append(f"error: {e}")
    for line in lines:
        click.echo(line)
    for why in left_out:
        click.echo(f"left out: {why}")
    click.echo(f"cache: {cache.root} (market {market})")
    if failed:
        fail([*failed, f"{len(failed)} of {len(files)} file(s) not imported"])


@data.command("list")
@home_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_(home: Path | None, config_path: Path | None, as_json: bool) -> None:
    """Every cached series: market, symbol and timeframe with its number of bars and span (bar open times,
    UTC)."""
    from app.bootstrap.data import open_caches

    with bad_input_exits():
        folder, caches = open_caches(home, config_path)
        entries = [(market, e) for market, cache in caches for e in cache.entries()]
    if as_json:
        rows = [
            {
                "market": market,
                "symbol": e.symbol,
                "timeframe": e.timeframe,
                "bars": e.rows,
                "first": e.first_ts.isoformat(),
                "last": e.last_ts.isoformat(),
            }
            for market, e in entries
        ]
        click.echo(json.dumps({"cache": str(folder), "series": rows}, indent=2))
        return
    if not entries:
        click.echo(
            f"the cache in {folder} is empty: fill it with `app data import SRC` or `app data download`"
        )
        return
    click.echo(f"cache: {folder}")
    click.echo(f"{'market':<8} {'symbol':<14} {'timeframe':<9} {'bars':>10}  first .. last (UTC)")
    for market, e in entries:
        span = f"{e.first_ts:%Y-%m-%d %H:%M} .. {e.last_ts:%Y-%m-%d %H:%M}"
        click.echo(f"{market:<8} {e.symbol:<14} {e.timeframe:<9} {e.rows:>10}  {span}")


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
    help="Bybit product category; the bars are cached in the market of that name.",
)
@click.option("--endpoint", help="Bybit REST base URL (default: pybit's api.bybit.com).")
@home_option
@config_option
def download(
    symbols: tuple[str, ...],
    feed: str,
    timeframe: str,
    since: str,
    until: str | None,
    category: str,
    endpoint: str | None,
    home: Path | None,
    config_path: Path | None,
) -> None:
    """Download closed bars of SYMBOLS (BTCUSDT ETHUSDT, or comma-separated) into the cache of --category's
    market (<home>/cache/spot, .../linear, .../inverse).

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
    request = DownloadRequest(names, timeframe, start, end, category, endpoint, home, config_path)

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
        click.echo(f"{category} {report.summary()}")
