"""Merge benchmark figures into bench/results.json (shared, tiny)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results.json")


def record(results: list[dict[str, Any]]) -> None:
    """Replace entries with the same names in bench/results.json, append the rest."""
    existing: list[dict[str, Any]] = []
    if RESULTS.exists():
        try:
            loaded = json.loads(RESULTS.read_text(encoding="utf-8"))
            existing = loaded if isinstance(loaded, list) else []
        except json.JSONDecodeError:
            existing = []
    names = {r["name"] for r in results}
    merged = [r for r in existing if r.get("name") not in names] + results
    RESULTS.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
