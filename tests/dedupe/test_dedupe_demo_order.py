"""The demo corpus clustered in publication order (how a live feed delivers it; the demo
run ingests feed by feed): each story of its ground truth comes out whole, the founding
story's follow-ups included, and no two stories merge."""

from __future__ import annotations

from ingest.dedupe.stream import cluster_records
from ingest.demo.records import extracted_records


def test_the_demo_stories_come_out_whole_in_publication_order() -> None:
    records = sorted(extracted_records(), key=lambda r: (r["published"], r["id"]))
    out = {o["id"]: o["story"] for o in cluster_records(records)}
    gold: dict[str, set[str]] = {}
    for r in records:
        gold.setdefault(r["cluster"], set()).add(out[r["id"]])
    assert all(len(stories) == 1 for stories in gold.values()), gold
    assert len({next(iter(s)) for s in gold.values()}) == len(gold)
