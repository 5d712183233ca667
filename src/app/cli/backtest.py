"""``app backtest SPEC [--data FILE|DIR]``: one spec through the backtester, with JSON and HTML reports.

Without ``--data`` the bars come from the home's bar cache of the spec's market (``<home>/cache/spot`` for
a spot spec, ``.../linear`` for a futures spec, ``.../forex``, ``.../options``), resampled from a shorter
cached timeframe when the spec's is not cached. Bad input (spec, config, data that lacks the spec's symbol
or timeframe, nothing cached for it, a bad --from/--to) exits with status 2 before anything is written.
With ``--gate``, a failing promotion gate exits with status 1.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from app.cli.common import bad_input_exits, fail, home_option

__all__ = ["backtest"]

EXIT_GATE_FAILED = 1
_SUMMARY = (
    ("trades", "{:.0f}"),
    ("net_profit", "{:,.2f}"),
    ("final_equity", "{:,.2f}"),
    ("profit_factor", "{:.2f}"),
    ("sharpe", "{:.2f}"),
    ("sortino", "{:.2f}"),
    ("max_drawdown", "{:.2%}"),
    ("cvar_95", "{:.4%}"),
    ("win_rate", "{:.1%}"),
    ("exposure", "{:.1%}"),
)


def _moment(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail([f"{option}: expected an ISO-8601 date or time (2018-01-15, 2018-01-15T12:00Z), got {value!r}"])
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _summary(metrics: dict[str, Any]) -> str:
    parts = []
    for key, style in _SUMMARY:
        value = metrics.get(key)
        parts.append(f"{key} {'n/a' if value is None else style.format(value)}")
    return "  ".join(parts)


@click.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    help="Bars: a file, or a folder of files. Default: the home's bar cache of the spec's market"
    " (<home>/cache/spot for spot specs, <home>/cache/linear for futures specs).",
)
@click.option("--from", "start", help="First bar time to use (ISO-8601; UTC unless it says otherwise).")
@click.option("--to", "end", help="Bars from this time on are left out (ISO-8601).")
@click.option(
    "--json", "json_out", type=click.Path(path_type=Path, dir_okay=False), help="Also write the JSON here."
)
@click.option(
    "--html", "html_out", type=click.Path(path_type=Path, dir_okay=False), help="Also write the HTML here."
)
@click.option("--walkforward", is_flag=True, help="Purged k-fold walk-forward (folds from the config).")
@click.option("--stress", is_flag=True, help="Monte Carlo, parameter, cost and latency shocks, regimes.")
@click.option(
    "--gate", is_flag=True, help="Promotion gate (runs walk-forward, stress and overfitting checks)."
)
@click.option(
    "--funding",
    type=click.Path(path_type=Path),
    help="Funding rates (futures); default: found beside the data.",
)
@click.option(
    "--cash",
    type=click.FloatRange(min=0, min_open=True),
    default=10_000.0,
    show_default=True,
    help="Starting cash in the symbol's quote currency.",
)
@click.option(
    "--engine",
    type=click.Choice(["event", "fast"]),
    default="event",
    show_default=True,
    help="event: the domain fill model bar by bar; fast: the compiled array path (same trades).",
)
@click.option(
    "--trials", type=click.IntRange(min=1), help="Candidates tried to find this spec (Deflated Sharpe)."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the Monte Carlo runs.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="Config YAML file.")
@home_option
def backtest(
    spec: Path,
    data: Path | None,
    start: str | None,
    end: str | None,
    json_out: Path | None,
    html_out: Path | None,
    walkforward: bool,
    stress: bool,
    gate: bool,
    funding: Path | None,
    cash: float,
    engine: str,
    trials: int | None,
    seed: int,
    config_path: Path | None,
    home: Path | None,
) -> None:
    """Backtest a strategy SPEC on historical bars and write its validation report.

    The bars come from --data, else from the home's bar cache of the spec's market: spot specs read spot
    bars, futures specs linear perpetual bars, forex and options specs their own (fill it with
    `app data import --market M` or `app data download --category C`); a timeframe not cached is resampled
    from a shorter cached one.

    Sharpe and Sortino are annualised per bar: crypto trades 365 days a year, forex 260 days of 24 hours,
    options 252 sessions.
    """
    from app.bootstrap.backtest import BacktestRequest, load_backtest_inputs
    from app.services.validation import BacktestOptions, validate
    from app.services.validation.report_builder import build, render_html, write_json

    request = BacktestRequest(
        spec=spec,
        data=data,
        start=_moment(start, "--from"),
        end=_moment(end, "--to"),
        funding=funding,
        home=home,
        config=config_path,
    )
    with bad_input_exits():
        inputs = load_backtest_inputs(request)
    for warning in inputs.warnings:
        click.echo(f"warning: {warning}", err=True)
    bars = inputs.data
    options = BacktestOptions(cash=cash, engine="fast" if engine == "fast" else "event")
    with click.progressbar(length=len(bars), label="backtest", file=sys.stderr) as bar:
        done = [0]

        def progress(count: int, total: int) -> None:
            bar.update(count - done[0])
            done[0] = count

        def stage(name: str) -> None:
            # The bar's line stays open on a terminal: start the first stage on a line of its own.
            click.echo(("\n" if sys.stderr.isatty() and not staged else "") + name, err=True)
            staged.append(name)

        staged: list[str] = []
        with bad_input_exits():
            run = validate(
                inputs.spec,
                bars,
                config=inputs.config.validation,
                options=options,
                run_walkforward=walkforward,
                run_stress=stress,
                run_gate=gate,
                trials=trials,
                seed=seed,
                warnings=inputs.warnings,
                progress=progress,
                stage=stage,
            )
    report = run.report()
    paths = build(inputs.spec.id, report, inputs.home)
    if json_out is not None:
        write_json(report, json_out)
    if html_out is not None:
        html_out.parent.mkdir(parents=True, exist_ok=True)
        html_out.write_text(render_html(report), encoding="utf-8")
    first, last = report["data"]["first"], report["data"]["last"]
    click.echo(
        f"backtest {inputs.spec.id}: {bars.symbol} {bars.timeframe}, {len(bars)} bars {first} .. {last}"
    )
    click.echo(f"data: {inputs.origin}")
    click.echo(_summary(report["metrics"]))
    if run.walkforward is not None:
        click.echo("walk-forward: " + json.dumps(report["walkforward"]["aggregate"]))
    if run.gate is not None:
        click.echo(f"gate: {'PASSED' if run.gate.passed else 'FAILED'}")
        for reason in run.gate.reasons:
            click.echo(f"  - {reason}")
    click.echo(f"report: {paths.json} and {paths.html}")
    if run.gate is not None and not run.gate.passed:
        sys.exit(EXIT_GATE_FAILED)
