"""``app universe``: the ranked crypto universe with each symbol's 24h turnover."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from app.cli.common import bad_input_exits, fail
from app.cli.data import parse_utc

if TYPE_CHECKING:
    from app.services.symbol_universe import Universe

__all__ = ["universe"]

TURNOVER_NOTE = (
    "turnover_24h: sum of close x volume over the bars of the last 24h, in the symbol's quote currency"
)


@click.command("universe")
@click.option("--data", type=click.Path(path_type=Path), help="Replay data (file or folder). Default: Bybit.")
@click.option("--at", "at_text", help="Rank as of this UTC time (with --data). Default: the end of the data.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--category",
    type=click.Choice(["spot", "linear"]),
    default="spot",
    show_default=True,
    help="Bybit category.",
)
@click.option("--endpoint", help="Bybit REST base URL (default: pybit's api.bybit.com).")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="Config YAML (quote rates).")
def universe(
    data: Path | None,
    at_text: str | None,
    as_json: bool,
    category: str,
    endpoint: str | None,
    config_path: Path | None,
) -> None:
    """Rank symbols by 24h turnover: a stable core and a rotating tail (20-40, fewer if fewer qualify).

    From replay files with --data, else from Bybit's 24h tickers (needs network).
    """
    from app.bootstrap.data import bybit_universe, replay_universe
    from app.ports.errors import BrokerUnavailable

    at = parse_utc(at_text, "--at") if at_text else None
    if at is not None and data is None:
        fail(["--at needs --data: Bybit's tickers only tell the last 24 hours"])
    with bad_input_exits():
        try:
            if data is not None:
                ranked = replay_universe(data, at, config_path)
            else:
                ranked = bybit_universe(category, endpoint, config_path)
        except BrokerUnavailable as e:
            fail(
                [f"error: {e}", "`app universe` without --data needs network access to Bybit (api.bybit.com)"]
            )
    source = f"replay {data}" if data else f"bybit {category}"
    report = _report(ranked, source)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(
        f"universe at {report['at']} from {source}: {len(ranked.members)} symbols, "
        f"ranked by 24h turnover in {ranked.ranked_by}"
    )
    for m in report["symbols"]:
        turnover = f"{m['turnover_24h']:>20,.4f} {m['quote']}"
        click.echo(f"{m['rank']:>4} {m['symbol']:<14} {m['role']:<4} {turnover}{_usd(m)}")
    if ranked.excluded:
        click.echo(f"left out ({len(ranked.excluded)}):")
        for symbol, reason in ranked.excluded:
            click.echo(f"     {symbol:<14} {reason}")


def _usd(member: dict[str, Any]) -> str:
    """The USD value beside a turnover in another currency (at the config's fallback rate)."""
    if member["turnover_usd"] is None or member["quote"] in ("USD", "USDT", "USDC"):
        return ""
    return f"  (~{member['turnover_usd']:,.0f} USD)"


def _report(ranked: Universe, source: str) -> dict[str, Any]:
    return {
        "at": ranked.at.isoformat(),
        "source": source,
        "ranked_by": ranked.ranked_by,
        "note": TURNOVER_NOTE,
        "symbols": [
            {
                "rank": m.rank,
                "symbol": m.symbol,
                "base": m.base,
                "quote": m.quote,
                "role": m.role,
                "turnover_24h": m.turnover_24h,
                "turnover_usd": m.turnover_usd,
            }
            for m in ranked.members
        ],
        "excluded": [{"symbol": symbol, "reason": reason} for symbol, reason in ranked.excluded],
    }
