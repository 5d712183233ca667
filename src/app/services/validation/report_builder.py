"""report_builder: a validation report as JSON and as one self-contained HTML page.

Files go to ``<home>/reports/validation/<strategy_id>/report.{json,html}``. The page needs no network: charts
are inline SVG drawn here (equity, drawdown, Monte Carlo histograms), styles are inline, there is no script.
Sections: gate decision with reasons, metrics, equity and drawdown, monthly returns, walk-forward folds,
stress tests, overfitting guards, warnings, and the trade list (the first ``TRADE_ROWS`` trades).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any, final

import attrs

__all__ = ["TRADE_ROWS", "ReportPaths", "build", "render_html", "write_json"]

TRADE_ROWS = 1000
_W, _H, _PAD = 900, 220, 44
_TRADE_HEADERS = ("entry", "exit", "side", "entry price", "exit price", "qty", "fees", "P&L", "exit reason")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12px;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 7px;
text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}.pass{color:#17752f;font-weight:bold}
.fail{color:#b3261e;font-weight:bold}svg{background:#fcfcfc;border:1px solid #eee}.muted{color:#777}
"""


@final
@attrs.frozen
class ReportPaths:
    json: Path
    html: Path


def write_json(report: Mapping[str, Any], path: Path) -> Path:
    """Write ``report`` as strict JSON (no NaN/Infinity: the report holds null there)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, allow_nan=False), encoding="utf-8")
    return path


def build(strategy_id: str, report: Mapping[str, Any], home: Path) -> ReportPaths:
    """Write the JSON and HTML reports under ``home``; returns their paths."""
    folder = home / "reports" / "validation" / strategy_id
    folder.mkdir(parents=True, exist_ok=True)
    html_path = folder / "report.html"
    html_path.write_text(render_html(report), encoding="utf-8")
    return ReportPaths(write_json(report, folder / "report.json"), html_path)


def _num(value: Any, kind: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return escape(str(value))
    if kind == "pct":
        return f"{value:.2%}"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{value:,.0f}"
    return f"{value:,.6g}" if abs(value) < 1e-3 else f"{value:,.4f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    head = "".join(
        f'<th class="l">{escape(h)}</th>' if i < left else f"<th>{escape(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td class="l">{c}</td>' if i < left else f"<td>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _scale(values: Sequence[float], lo: float, hi: float, size: float, invert: bool) -> list[float]:
    span = (hi - lo) or 1.0
    return [(hi - v) / span * size if invert else (v - lo) / span * size for v in values]


def _line_chart(labels: Sequence[str], values: Sequence[float], color: str, *, area: bool = False) -> str:
    points = [v for v in values if v is not None]
    if len(points) < 2:
        return '<p class="muted">not enough points to draw</p>'
    lo, hi = min(points), max(points)
    if area:
        hi = max(hi, 0.0)
    width, height = _W - 2 * _PAD, _H - 2 * _PAD
    xs = [_PAD + i * width / (len(values) - 1) for i in range(len(values))]
    ys = [_PAD + y for y in _scale([v if v is not None else lo for v in values], lo, hi, height, True)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    shape = f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{path}"/>'
    if area:
        top = _PAD + _scale([0.0], lo, hi, height, True)[0]
        outline = f"{xs[0]:.1f},{top:.1f} {path} {xs[-1]:.1f},{top:.1f}"
        shape = f'<polygon fill="{color}" fill-opacity="0.35" points="{outline}"/>'
    axis = (
        f'<text x="4" y="{_PAD + 4}" font-size="11">{_num(hi)}</text>'
        f'<text x="4" y="{_PAD + height}" font-size="11">{_num(lo)}</text>'
        f'<text x="{_PAD}" y="{_H - 8}" font-size="11">{escape(labels[0][:10])}</text>'
        f'<text x="{_W - _PAD}" y="{_H - 8}" font-size="11" text-anchor="end">'
        f"{escape(labels[-1][:10])}</text>"
    )
    return f'<svg width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" role="img">{shape}{axis}</svg>'


def _histogram(title: str, hist: Mapping[str, Sequence[float]], kind: str = "") -> str:
    counts, edges = list(hist["counts"]), list(hist["edges"])
    width, height, top = 420, 160, 20
    peak = max(counts) or 1.0
    bar = (width - 20) / len(counts)
    bars = "".join(
        f'<rect x="{10 + i * bar:.1f}" y="{top + height * (1 - c / peak):.1f}" width="{bar - 1:.1f}" '
        f'height="{height * c / peak:.1f}" fill="#4a78c2"/>'
        for i, c in enumerate(counts)
    )
    labels = (
        f'<text x="10" y="{top + height + 14}" font-size="11">{_num(edges[0], kind)}</text>'
        f'<text x="{width - 10}" y="{top + height + 14}" font-size="11" text-anchor="end">'
        f"{_num(edges[-1], kind)}</text>"
        f'<text x="10" y="14" font-size="12">{escape(title)}</text>'
    )
    return f'<svg width="{width}" height="{height + 40}" role="img">{bars}{labels}</svg>'


def _gate(gate: Mapping[str, Any] | None) -> str:
    if gate is None:
        return '<p class="muted">not run (use --gate)</p>'
    verdict = '<p class="pass">PASSED</p>' if gate["passed"] else '<p class="fail">FAILED</p>'
    reasons = "".join(f"<li>{escape(r)}</li>" for r in gate["reasons"])
    rows = [
        [
            escape(c["metric"]),
            _num(c["measured"]),
            f"{'>=' if c['kind'] == 'min' else '<= (size)'} {_num(c['threshold'])}",
            '<span class="pass">pass</span>' if c["passed"] else '<span class="fail">fail</span>',
        ]
        for c in gate["checks"]
    ]
    return (
        verdict
        + (f"<ul>{reasons}</ul>" if reasons else "")
        + _table(["criterion", "measured", "threshold", ""], rows)
    )


def _monthly(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return '<p class="muted">no bars</p>'
    years: dict[int, dict[int, float]] = {}
    for row in rows:
        years.setdefault(row["year"], {})[row["month"]] = row["return"]
    body = []
    for year, months in sorted(years.items()):
        cells = [str(year)]
        for month in range(1, 13):
            value = months.get(month)
            if value is None:
                cells.append("")
                continue
            shade = min(abs(value) * 400, 90)
            colour = f"hsl({120 if value >= 0 else 0},60%,{100 - shade / 2:.0f}%)"
            cells.append(f'<span style="background:{colour};padding:2px 4px">{value:.2%}</span>')
        body.append(cells)
    return _table(["year", *_MONTHS], body)


def _walkforward(wf: Mapping[str, Any] | None) -> str:
    if wf is None:
        return '<p class="muted">not run (use --walkforward)</p>'
    rows = [
        [
            str(f["index"]),
            escape(f["start_time"][:16]),
            escape(f["end_time"][:16]),
            _num(f["train_bars"]),
            escape(f["spec_id"]),
            _num(f["in_sample_sharpe"]),
            _num(f["metrics"]["trades"]),
            _num(f["metrics"]["net_profit"]),
            _num(f["metrics"]["sharpe"]),
            _num(f["metrics"]["max_drawdown"], "pct"),
        ]
        for f in wf["folds"]
    ]
    headers = [
        "fold",
        "from",
        "to",
        "train bars",
        "spec",
        "IS Sharpe",
        "trades",
        "net profit",
        "OOS Sharpe",
        "max DD",
    ]
    aggregate = _table(["aggregate", "value"], [[escape(k), _num(v)] for k, v in wf["aggregate"].items()])
    return f"<p>scheme: {escape(wf['scheme'])}</p>" + _table(headers, rows, left=3) + aggregate


def _stress(stress: Mapping[str, Any] | None) -> str:
    if stress is None:
        return '<p class="muted">not run (use --stress)</p>'
    parts = []
    for key in ("monte_carlo", "bootstrap"):
        mc = stress[key]
        parts.append(f"<h3>Monte Carlo: {escape(mc['method'])} ({mc['n_sims']} runs, seed {mc['seed']})</h3>")
        rows = [
            [escape(q), _num(mc["final_equity"][q]), _num(mc["max_drawdown"][q], "pct")]
            for q in mc["final_equity"]
        ]
        parts.append(_table(["percentile", "final equity", "max drawdown"], rows))
        parts.append(_histogram("final equity", mc["final_equity_histogram"]))
        parts.append(_histogram("max drawdown", mc["max_drawdown_histogram"], "pct"))
    for key, title in (
        ("param_shocks", "Parameter shocks"),
        ("cost_shocks", "Cost shocks"),
        ("latency_shocks", "Latency shocks"),
    ):
        rows = [
            [escape(r["shock"]), escape(r["error"]), "", "", "", ""]
            if "error" in r
            else [
                escape(r["shock"]),
                _num(r["trades"]),
                _num(r["net_profit"]),
                _num(r["sharpe"]),
                _num(r["max_drawdown"], "pct"),
                _num(r["profit_factor"]),
            ]
            for r in stress[key]
        ]
        parts.append(f"<h3>{title}</h3>")
        parts.append(
            _table(["shock", "trades", "net profit", "Sharpe", "max DD", "PF"], rows)
            if rows
            else '<p class="muted">none</p>'
        )
    regimes = [
        [
            escape(r["regime"]),
            _num(r["bars"]),
            _num(r["share"], "pct"),
            _num(r["return"], "pct"),
            _num(r["sharpe"]),
            _num(r["trades"]),
            _num(r["pnl"]),
            _num(r["win_rate"], "pct"),
        ]
        for r in stress["regimes"]
    ]
    parts.append("<h3>Regimes</h3>")
    parts.append(
        _table(["regime", "bars", "share", "return", "Sharpe", "trades", "P&L", "win rate"], regimes)
    )
    return "".join(parts)


def _overfitting(over: Mapping[str, Any] | None) -> str:
    if over is None:
        return '<p class="muted">not run (use --gate)</p>'
    dsr = over["deflated_sharpe"]
    pbo = over["pbo"]
    rows = [
        ["configurations compared", _num(over["configurations"])],
        ["deflated Sharpe ratio (probability)", _num(dsr["probability"])],
        ["trials counted", _num(dsr["trials"])],
        ["per-bar Sharpe / expected best of trials", f"{_num(dsr['sharpe'])} / {_num(dsr['benchmark'])}"],
        ["PBO (CSCV)", _num(pbo["probability"]) if pbo else "n/a (needs two or more configurations)"],
    ]
    return _table(["guard", "value"], rows)


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one HTML page with inline SVG charts and no external resources."""
    spec, metrics = report["spec"], report["metrics"]
    curve = report["equity_curve"]
    equity = curve["equity"]
    peaks: list[float] = []
    drawdown: list[float] = []
    for value in equity:
        peaks.append(max(value, peaks[-1] if peaks else report["cash"]))
        drawdown.append(value / peaks[-1] - 1.0 if peaks[-1] > 0 else 0.0)
    pct = {"max_drawdown", "cvar_95", "win_rate", "exposure", "total_return", "cagr"}
    metric_rows = [[escape(k), _num(v, "pct" if k in pct else "")] for k, v in metrics.items()]
    trades = report["trades"]
    trade_rows = [
        [
            escape(t["entry_time"][:19]),
            escape(t["exit_time"][:19]),
            escape(t["side"]),
            _num(t["entry_price"]),
            _num(t["exit_price"]),
            _num(t["qty"]),
            _num(t["fees"]),
            _num(t["pnl"]),
            escape(t["exit_reason"]),
        ]
        for t in trades[:TRADE_ROWS]
    ]
    more = (
        f'<p class="muted">{len(trades) - TRADE_ROWS} more trades in the JSON report</p>'
        if len(trades) > TRADE_ROWS
        else ""
    )
    warnings = "".join(f"<li>{escape(w)}</li>" for w in report["warnings"]) or "<li>none</li>"
    title = f"Validation report: {report['strategy_id']}"
    data = report["data"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title><style>{_CSS}</style></head><body>
<h1>{escape(title)}</h1>
<p>{escape(spec["asset"])} {escape(spec["symbol"])} {escape(spec["timeframe"])}, {data["bars"]} bars from
{escape(data["first"])} to {escape(data["last"])}; starting cash {_num(report["cash"])}.
{escape(spec["description"])}</p>
<h2>Promotion gate</h2>{_gate(report["gate"])}
<h2>Metrics</h2>{_table(["metric", "value"], metric_rows)}
<h2>Equity</h2>{_line_chart(curve["ts"], equity, "#2b6cb0")}
<h2>Drawdown</h2>{_line_chart(curve["ts"], drawdown, "#c53030", area=True)}
<h2>Monthly returns</h2>{_monthly(report["monthly_returns"])}
<h2>Walk-forward</h2>{_walkforward(report["walkforward"])}
<h2>Stress tests</h2>{_stress(report["stress"])}
<h2>Overfitting guards</h2>{_overfitting(report["overfitting"])}
<h2>Warnings</h2><ul>{warnings}</ul>
<h2>Trades ({len(trades)})</h2>
{_table(_TRADE_HEADERS, trade_rows, left=3)}
{more}
</body></html>
"""
