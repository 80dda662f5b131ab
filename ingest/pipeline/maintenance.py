"""Stage: housekeeping — retention, raw-HTML pruning, and the feed/topic health report.

The report answers the analyst's question "did my topic go quiet because nothing
happened, or because its sources broke?": for each topic, the feeds that produced its
matches in the last 30 days and which of them are now failing, disabled or silent.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from ingest.store import maintenance_repo as repo
from ingest.store import queries
from ingest.store.db import transaction
from ingest.store.maintenance_repo import RetentionSummary
from ingest.store.types import utcnow


def apply_retention(db_url: str, days: int = 365) -> RetentionSummary:
    """Delete fetch logs, deliveries, entries, articles and stories older than ``days``."""
    if days < 1:
        raise ValueError("retention must be at least one day")
    with transaction(db_url) as session:
        return repo.apply_retention(session, utcnow() - timedelta(days=days))


def prune_raw_pages(db_url: str, days: int = 30) -> dict[str, int]:
    """Drop raw HTML older than ``days`` (re-extraction is possible only before that)."""
    with transaction(db_url) as session:
        return {"pruned": repo.prune_raw_pages(session, utcnow() - timedelta(days=days))}


def feed_health_report(
    db_url: str,
    now: datetime | None = None,
    coverage_days: int = 30,
    silent_after: timedelta = timedelta(hours=48),
) -> dict[str, Any]:
    """Feeds by health, and per-topic source coverage with broken or silent sources.

    The same coverage the Topics page shows (:func:`queries.topic_source_coverage`).
    """
    now = now or utcnow()
    with transaction(db_url) as session:
        feeds = queries.feeds_health(session, now=now)
        coverage = queries.topic_source_coverage(
            session, days=coverage_days, silent_after=silent_after, now=now
        )
    topics: list[dict[str, Any]] = []
    for c in coverage:
        topics.append(
            {
                "topic": c.topic,
                "matches": c.matches,
                "feeds": [
                    {"url": f.url, "source": f.source, "matches": f.matches, "state": f.state}
                    for f in c.feeds
                ],
                "broken_feeds": [f.url for f in c.feeds if f.state in ("failing", "disabled")],
                "silent_feeds": [f.url for f in c.feeds if f.state == "silent"],
            }
        )
    return {
        "generated_at": now.isoformat(),
        "feeds_by_health": dict(sorted(Counter(f.health for f in feeds).items())),
        "silent_feeds": sorted({url for t in topics for url in t["silent_feeds"]}),
        "failing_feeds": [
            {"url": f.url, "health": f.health, "last_error": f.last_error}
            for f in feeds
            if f.health in ("failing", "disabled")
        ],
        "topics": topics,
        "warnings": [
            f"topic {t['topic']!r}: {len(t['broken_feeds']) + len(t['silent_feeds'])} of "
            f"{len(t['feeds'])} feeds that matched it are failing or silent"
            for t in topics
            if t["broken_feeds"] or t["silent_feeds"]
        ],
    }
