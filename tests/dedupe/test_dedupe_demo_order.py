"""The demo corpus clustered in publication order (how a live feed delivers it; the demo
run ingests feed by feed): each story of its ground truth comes out whole, the founding
story's follow-ups included, and no two stories merge."""

from __future__ import annotations

from typing import Any

from ingest.dedupe.stream import cluster_records
from ingest.demo.corpus import load_corpus, render
from ingest.extract.article import extract_article


def _demo_records() -> list[dict[str, Any]]:
    corpus = load_corpus()
    records = []
    for expected in corpus.ground_truth.articles:
        outlet = corpus.outlet(expected.outlet)
        template = outlet.template_for(expected.path)
        if not expected.in_feed or template is None:
            continue
        url = f"http://{outlet.domain}{expected.path}"
        article = extract_article(render(template, f"http://{outlet.domain}"), url)
        records.append(
            {
                "id": f"{expected.outlet}{expected.path}",
                "title": article.title or expected.title,
                "text": article.text or "",
                "source": outlet.domain,
                "published": expected.published.isoformat(),
                "story": expected.story,
            }
        )
    return sorted(records, key=lambda r: (r["published"], r["id"]))


def test_the_demo_stories_come_out_whole_in_publication_order() -> None:
    records = _demo_records()
    out = {o["id"]: o["story"] for o in cluster_records(records)}
    gold: dict[str, set[str]] = {}
    for r in records:
        gold.setdefault(r["story"], set()).add(out[r["id"]])
    assert all(len(stories) == 1 for stories in gold.values()), gold
    assert len({next(iter(s)) for s in gold.values()}) == len(gold)
