"""Stage: housekeeping — retention, raw-HTML pruning, and the feed/topic health report.

The report answers the analyst's question "did my topic go quiet because nothing
happened, or because its sources broke?": for each topic, the feeds that produced its
matches in the last 30 days and which of them are now failing, disabled or silent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from ingest.store import maintenance_repo as repo
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
    silent_days: float = 3.0,
) -> dict[str, Any]:
    """Feeds by health, and per-topic source coverage with broken or silent sources."""
    now = now or utcnow()
    with transaction(db_url) as session:
        feeds = repo.feed_health(session, now, timedelta(days=silent_days))
        coverage = repo.topic_coverage(session, now - timedelta(days=coverage_days), feeds)
    states = Counter(f.health for f in feeds)
    return {
        "generated_at": now.isoformat(),
        "feeds_by_health": dict(sorted(states.items())),
        "silent_feeds": [f.url for f in feeds if f.silent and f.health != "disabled"],
        "failing_feeds": [
            {"url": f.url, "health": f.health, "last_error": f.last_error}
            for f in feeds
            if f.health in ("failing", "disabled")
        ],
        "topics": [asdict(c) for c in coverage],
        "warnings": [
            f"topic {c.topic!r}: {len(c.broken_feeds) + len(c.silent_feeds)} of "
            f"{len(c.feeds)} feeds that matched it are failing or silent"
            for c in coverage
            if c.broken_feeds or c.silent_feeds
        ],
    }
