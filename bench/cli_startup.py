"""How long `app --help` takes, against a bare interpreter start measured in the same run.

Also lists any heavy library that importing the CLI pulls in (there should be none).
Run: .venv/bin/python bench/cli_startup.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = (
    "torch",
    "lightgbm",
    "sklearn",
    "optuna",
    "textual",
    "pandas",
    "stable_baselines3",
    "pybit",
    "ib_async",
)
RUNS = 7
APP = Path(sys.executable).with_name("app")


def timed(cmd: list[str]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    baseline = timed([sys.executable, "-c", "pass"])
    click_only = timed([sys.executable, "-c", "import click"])
    app_help = timed([str(APP), "--help"])
    probe = f"import sys, app.cli; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    heavy = loaded.stdout.strip()
    print(f"python -c pass     {baseline * 1000:7.1f} ms  (baseline)")
    print(f"python -c 'import click' {click_only * 1000:7.1f} ms  ratio {click_only / baseline:5.2f}x")
    print(f"app --help         {app_help * 1000:7.1f} ms  ratio {app_help / baseline:5.2f}x")
    print(f"heavy modules imported by app.cli: {heavy or 'none'}")
    if heavy:
        sys.exit(1)


if __name__ == "__main__":
    main()
