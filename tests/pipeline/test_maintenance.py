"""Maintenance on a demo-corpus database: retention, raw-HTML pruning, coverage report."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from ingest.demo.run import run_demo
from ingest.pipeline.maintenance import apply_retention, feed_health_report, prune_raw_pages
from ingest.store.db import transaction
from ingest.store.models import Article, Feed, RawPage
from ingest.store.types import utcnow


def test_report_retention_and_pruning(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    run_demo(db_url=db_url, workdir=tmp_path, port=0)
    report = feed_health_report(db_url)
    topics = {t["topic"]: t for t in report["topics"]}
    assert topics["surveillance"]["feeds"], report
    assert report["warnings"] == []

    # One source of the surveillance topic breaks: the report says so.
    broken = topics["surveillance"]["feeds"][0]["url"]
    with transaction(db_url) as s:
        s.execute(update(Feed).where(Feed.url == broken).values(health="failing"))
    report = feed_health_report(db_url)
    assert any("surveillance" in w for w in report["warnings"])
    assert (
        broken in next(t for t in report["topics"] if t["topic"] == "surveillance")["broken_feeds"]
    )
    # Nothing is old enough to delete yet; later, everything is.
    assert apply_retention(db_url, days=30).articles == 0
    assert prune_raw_pages(db_url, days=30) == {"pruned": 0}
    assert feed_health_report(db_url, now=utcnow() + timedelta(days=10))["silent_feeds"]
    with transaction(db_url) as s:
        pages = s.scalar(select(func.count()).select_from(RawPage))
        s.execute(update(RawPage).values(fetched_at=utcnow() - timedelta(days=60)))
    assert prune_raw_pages(db_url, days=30) == {"pruned": pages}
    with transaction(db_url) as s:
        assert s.scalar(select(func.count()).where(Article.raw_sha256.is_not(None))) == 0


def test_retention_deletes_old_history_completely(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ingest.store.models import Entry, Story, StoryArticle

    run_demo(db_url=db_url, workdir=tmp_path, port=0)
    old = utcnow() - timedelta(days=400)
    with transaction(db_url) as s:
        s.execute(update(Article).values(first_seen_at=old))
        s.execute(update(Story).values(last_seen=old))
        s.execute(update(Entry).values(first_seen_at=old))
    summary = apply_retention(db_url, days=365)
    assert summary.articles >= 40 and summary.stories >= 15
    with transaction(db_url) as s:
        for model in (Article, Story, StoryArticle, Entry):
            assert s.scalar(select(func.count()).select_from(model)) == 0, model
        assert s.scalar(select(func.count()).select_from(Feed)) == 9  # feeds stay
