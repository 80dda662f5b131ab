"""The demo corpus as the pipeline extracts it, one record per article the feeds list:
the batch interface's shape (``id, title, text, source, published``) plus ``cluster``,
the article's story in the ground truth. For checks of the clusterer on the demo (the
quality bench, tests) without running the pipeline."""

from __future__ import annotations

from typing import Any

from ingest.demo.corpus import load_corpus, render
from ingest.extract.article import extract_article


def extracted_records() -> list[dict[str, Any]]:
    """In the ground truth's order (not publication order)."""
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
                "cluster": expected.story,
            }
        )
    return records
