"""Run every benchmark in bench/ and print the figures from bench/results.json.

Each benchmark is a standalone script that measures its figure and, in the same run, the
baseline it is compared with (a ratio is what matters on a shared, noisy machine), then
records ``{"name", "value", "unit", "baseline", "target"?, "met"?}`` entries.

Usage: ``python bench/run_all.py [NAME ...]`` (default: every ``bench/*.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
SKIP = {"run_all.py", "_results.py"}


def scripts(names: list[str]) -> list[Path]:
    found = sorted(
        p for p in HERE.glob("*.py") if p.name not in SKIP and not p.name.startswith("_")
    )
    if names:
        found = [p for p in found if p.stem in names]
    return found


def main(argv: list[str]) -> int:
    results = HERE / "results.json"
    if not argv and results.exists():
        results.unlink()  # a full run starts afresh, so stale figures never linger
    failures = []
    for script in scripts(argv):
        print(f"\n=== bench/{script.name}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)
        print(f"=== bench/{script.name}: exit {code} in {time.monotonic() - started:.0f} s")
        if code:
            failures.append(script.name)
    figures = json.loads(results.read_text()) if results.exists() else []
    print(f"\n{'figure':<48} {'value':>12} {'baseline':>12} {'unit':<10} target  met")
    for f in figures:
        value = f.get("value")
        baseline = f.get("baseline")
        target = f.get("target", "")
        met = {True: "yes", False: "NO"}.get(f.get("met"), "")
        print(
            f"{f['name']:<48} {_fmt(value):>12} {_fmt(baseline):>12} {f.get('unit', ''):<10} "
            f"{_fmt(target):<7} {met}"
        )
    print(f"\nwritten: {results}")
    if failures:
        print(f"benchmarks that failed: {', '.join(failures)}")
    return 1 if failures else 0


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
