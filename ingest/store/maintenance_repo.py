"""SQL for maintenance: retention, raw-HTML pruning, feed and topic-coverage health."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ingest.store.models import (
    AlertOutbox,
    Article,
    ArticleTopic,
    Delivery,
    Entry,
    Feed,
    FetchLog,
    RawPage,
    Story,
    Topic,
)


@dataclass
class RetentionSummary:
    fetch_log: int = 0
    deliveries: int = 0
    entries: int = 0
    articles: int = 0
    stories: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _deleted(session: Session, stmt: Any) -> int:
    return len(session.execute(stmt).all())


def apply_retention(session: Session, cutoff: datetime) -> RetentionSummary:
    """Delete history older than ``cutoff``, children before parents."""
    summary = RetentionSummary()
    summary.fetch_log = _deleted(
        session, delete(FetchLog).where(FetchLog.started_at < cutoff).returning(FetchLog.id)
    )
    summary.deliveries = _deleted(
        session, delete(Delivery).where(Delivery.started_at < cutoff).returning(Delivery.id)
    )
    old_stories = select(Story.id).where(Story.last_seen < cutoff)
    old_articles = select(Article.id).where(
        Article.first_seen_at < cutoff, Article.story_id.in_(old_stories)
    )
    # Copies of an article being deleted stop pointing at it (the FK has no cascade: a
    # duplicate outliving its original must stay, as an original itself).
    session.execute(
        update(Article).where(Article.duplicate_of.in_(old_articles)).values(duplicate_of=None)
    )
    summary.entries = _deleted(
        session, delete(Entry).where(Entry.first_seen_at < cutoff).returning(Entry.id)
    )
    summary.articles = _deleted(
        session, delete(Article).where(Article.id.in_(old_articles)).returning(Article.id)
    )
    still_used = select(Article.story_id).where(Article.story_id.is_not(None))
    summary.stories = _deleted(
        session,
        delete(Story)
        .where(Story.last_seen < cutoff, Story.id.not_in(still_used))
        .returning(Story.id),
    )
    session.execute(delete(AlertOutbox).where(AlertOutbox.story_id.not_in(select(Story.id))))
    return summary


def prune_raw_pages(session: Session, cutoff: datetime) -> int:
    """Drop raw HTML fetched before ``cutoff`` (articles keep their extracted text)."""
    old = select(RawPage.sha256).where(RawPage.fetched_at < cutoff)
    session.execute(update(Article).where(Article.raw_sha256.in_(old)).values(raw_sha256=None))
    return _deleted(
        session, delete(RawPage).where(RawPage.fetched_at < cutoff).returning(RawPage.sha256)
    )


@dataclass
class FeedHealth:
    id: int
    url: str
    source: str
    health: str
    last_success_at: datetime | None
    last_new_item_at: datetime | None
    last_error: str | None
    silent: bool


@dataclass
class TopicCoverage:
    topic: str
    matches: int
    feeds: list[dict[str, Any]] = field(default_factory=list)
    broken_feeds: list[str] = field(default_factory=list)
    silent_feeds: list[str] = field(default_factory=list)


def feed_health(session: Session, now: datetime, silent_after: timedelta) -> list[FeedHealth]:
    rows = session.scalars(select(Feed).order_by(Feed.id))
    out = []
    for f in rows:
        latest = f.last_new_item_at or f.last_success_at
        out.append(
            FeedHealth(
                id=f.id,
                url=f.url,
                source=f.source,
                health="disabled" if not f.enabled else f.health,
                last_success_at=f.last_success_at,
                last_new_item_at=f.last_new_item_at,
                last_error=f.last_error,
                silent=latest is None or now - latest > silent_after,
            )
        )
    return out


def topic_coverage(
    session: Session, since: datetime, feeds: list[FeedHealth]
) -> list[TopicCoverage]:
    """For each topic: the feeds whose articles matched it since ``since``, and which of
    those are now failing, disabled or silent."""
    by_id = {f.id: f for f in feeds}
    rows = session.execute(
        select(Topic.name, Entry.feed_id, func.count(func.distinct(ArticleTopic.article_id)))
        .join(ArticleTopic, ArticleTopic.topic_id == Topic.id)
        .join(Entry, Entry.article_id == ArticleTopic.article_id)
        .where(ArticleTopic.matched_at >= since)
        .group_by(Topic.name, Entry.feed_id)
        .order_by(Topic.name, Entry.feed_id)
    ).all()
    coverage: dict[str, TopicCoverage] = {
        name: TopicCoverage(topic=name, matches=0)
        for name in session.scalars(select(Topic.name).where(Topic.enabled.is_(True)))
    }
    for name, feed_id, matches in rows:
        item = coverage.setdefault(name, TopicCoverage(topic=name, matches=0))
        feed = by_id.get(int(feed_id))
        if feed is None:
            continue
        item.matches += int(matches)
        item.feeds.append(
            {"url": feed.url, "source": feed.source, "matches": int(matches), "health": feed.health}
        )
        if feed.health in ("failing", "disabled"):
            item.broken_feeds.append(feed.url)
        elif feed.silent:
            item.silent_feeds.append(feed.url)
    return sorted(coverage.values(), key=lambda c: c.topic)
