"""Finds and reads a strategy's latest validation report (JSON, written by the validation services under
``<home>/reports/validation/<strategy_id>/``), with the HTML report beside it. Reading only: the verdict and
its reasons are the promotion gate's, shown as written."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ValidationReport", "latest_report", "report_dir"]


@dataclass(frozen=True)
class ValidationReport:
    path: Path
    strategy_id: str
    metrics: dict[str, Any]
    passed: bool | None
    reasons: list[str]
    warnings: list[str]
    html: Path | None
    problems: list[str] = field(default_factory=list)


def report_dir(home: Path, strategy_id: str) -> Path:
    return home / "reports" / "validation" / strategy_id


def latest_report(home: Path, strategy_id: str) -> ValidationReport | None:
    """The newest ``*.json`` report of ``strategy_id`` (by modification time, then name), or None."""
    folder = report_dir(home, strategy_id)
    if not folder.is_dir():
        return None
    found = sorted(folder.glob("*.json"), key=lambda p: (p.stat().st_mtime, p.name))
    if not found:
        return None
    path = found[-1]
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return ValidationReport(path, strategy_id, {}, None, [], [], None, [f"cannot read {path.name}: {e}"])
    if not isinstance(body, dict):
        return ValidationReport(path, strategy_id, {}, None, [], [], None, [f"{path.name} is not an object"])
    gate = _mapping(body.get("gate"))
    metrics = _mapping(body.get("metrics"))
    passed = gate.get("passed") if isinstance(gate.get("passed"), bool) else None
    return ValidationReport(
        path=path,
        strategy_id=str(body.get("strategy_id", strategy_id)),
        metrics=dict(metrics),
        passed=passed,
        reasons=[str(r) for r in gate.get("reasons", []) or []],
        warnings=[str(w) for w in body.get("warnings", []) or []],
        html=_html_for(path, body),
    )


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _html_for(path: Path, body: dict[str, Any]) -> Path | None:
    named = body.get("html")
    if isinstance(named, str) and named:
        candidate = Path(named)
        return candidate if candidate.is_absolute() else path.parent / candidate
    sibling = path.with_suffix(".html")
    return sibling if sibling.exists() else None
