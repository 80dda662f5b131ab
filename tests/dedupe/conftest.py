"""Fixtures for the dedupe tests: small deterministic streams from BASIL."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

BASIL = Path("/work/shared/data/clustering-dev/basil.jsonl")


def _basil_stream(events: int = 8) -> list[dict[str, Any]]:
    """The first ``events`` BASIL events (3 outlets each) plus exact and wire copies, in
    stream order; each record carries its gold ``cluster``."""
    if not BASIL.exists():
        pytest.skip(f"{BASIL} not available")
    rows = [json.loads(line) for line in BASIL.read_text(encoding="utf-8").splitlines()]
    rows.sort(key=lambda r: (r["date"], r["id"]))
    clusters: list[str] = []
    for r in rows:
        if r["cluster"] not in clusters:
            clusters.append(r["cluster"])
    keep = set(clusters[:events])
    out: list[dict[str, Any]] = []
    for r in rows:
        if r["cluster"] not in keep:
            continue
        doc = {
            "id": r["id"],
            "title": r["title"],
            "text": r["text"],
            "source": r["source"].lower(),
            "published": f"{r['date']}T12:00:00+00:00",
            "cluster": r["cluster"],
        }
        out.append(doc)
        if r["id"].endswith("_1"):
            out.append(
                {
                    **doc,
                    "id": r["id"] + "_copy",
                    "source": "mirror",
                    "published": f"{r['date']}T15:00:00+00:00",
                }
            )
            out.append(
                {
                    **doc,
                    "id": r["id"] + "_wire",
                    "source": "wire",
                    "text": "WASHINGTON (AP) — " + doc["text"],
                    "published": f"{r['date']}T16:00:00+00:00",
                }
            )
    out.sort(key=lambda d: (d["published"], d["id"]))
    return out


@pytest.fixture
def basil_stream() -> Callable[[int], list[dict[str, Any]]]:
    """A factory: ``basil_stream(events)`` -> records (skips if BASIL is absent)."""
    return _basil_stream
