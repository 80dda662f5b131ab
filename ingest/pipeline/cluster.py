"""Stage: dedupe and cluster pending articles into stories.

Claims articles with ``cluster_status='pending'`` in id order, decides duplicate/story for
each with :class:`ingest.dedupe.Clusterer` on the SQL state, writes the results and
marks them done — one transaction per batch. A batch that fails rolls back whole, so a
retried task starts where the last committed batch ended; a finished article is never
decided again, so running the stage twice changes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ingest.config import Settings, get_settings
from ingest.dedupe import Clusterer, ClusterParams, Doc
from ingest.dedupe.clusterer import with_window
from ingest.store import cluster_state
from ingest.store.db import transaction


@dataclass
class ClusterSummary:
    """What one call did."""

    articles: int = 0
    duplicates: int = 0
    new_stories: int = 0
    joined: int = 0
    skipped: int = 0
    busy: bool = False  # another worker held the clustering lock (wait=False only)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def cluster_params(settings: Settings) -> ClusterParams:
    """Clustering parameters from settings (the story window)."""
    return with_window(ClusterParams(), settings.story_window_hours)


def cluster_pending(
    db_url: str, limit: int = 200, settings: Settings | None = None, *, wait: bool = True
) -> ClusterSummary:
    """Cluster up to ``limit`` pending articles in one transaction; returns counts.

    Clustering has one writer at a time (see :func:`cluster_state.lock_clustering`).
    ``wait=False`` returns at once with ``busy=True`` when another worker is clustering
    (it will take these articles too), so the caller can do other work meanwhile.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    params = cluster_params(settings or get_settings())
    summary = ClusterSummary()
    with transaction(db_url) as session:
        if not cluster_state.lock_clustering(session, wait=wait):
            summary.busy = True
            return summary
        articles = cluster_state.claim_pending_articles(session, limit)
        state = cluster_state.SqlClusterState(session, pending_ids=[a.id for a in articles])
        clusterer = Clusterer(state, params)
        docs: list[Doc] = []
        for article in articles:
            if article.extraction_status != "ok" or not (article.title or article.text):
                cluster_state.skip_article(session, article.id)
                summary.skipped += 1
                continue
            docs.append(
                Doc(
                    article_id=article.id,
                    title=article.title or "",
                    text=article.text or "",
                    time=article.published or article.first_seen_at,
                    source=article.source,
                )
            )
        clusterer.prepare(docs)  # one read-ahead for the batch instead of several per doc
        for doc in docs:
            decision = clusterer.process(doc)
            summary.articles += 1
            if decision.duplicate_of is not None:
                summary.duplicates += 1
            elif decision.new_story:
                summary.new_stories += 1
            else:
                summary.joined += 1
        state.flush()
    return summary


def cluster_all_pending(
    db_url: str, batch: int = 200, settings: Settings | None = None
) -> ClusterSummary:
    """Run :func:`cluster_pending` until nothing is pending; returns the total."""
    total = ClusterSummary()
    while True:
        step = cluster_pending(db_url, batch, settings)
        for name, value in step.as_dict().items():
            if name == "busy":
                continue
            setattr(total, name, getattr(total, name) + int(value))  # type: ignore[call-overload]
        if step.articles + step.skipped == 0:
            return total
