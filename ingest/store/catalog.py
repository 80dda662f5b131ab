"""Feeds, topics and subscriptions as rows: what to monitor, kept in step with newsmon.yaml.

``sync_config`` is idempotent: applying the same file twice changes nothing, and it never
deletes feeds added with ``newsmon feeds add`` (only the file's own entries are updated).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from ingest.config import FeedConfig, NewsmonConfig, SubscriptionConfig, TopicConfig
from ingest.store.models import Entry, Feed, Subscription, Topic
from ingest.store.types import utcnow
from ingest.store.upsert import insert_ignore, upsert

DEFAULT_INTERVAL_S = 1800


@dataclass(frozen=True)
class SyncSummary:
    feeds: int
    topics: int
    subscriptions: int


@dataclass(frozen=True)
class FeedRow:
    id: int
    url: str
    title: str | None
    source: str
    enabled: bool
    health: str
    interval_s: int
    entries: int


def _feed_row(feed: FeedConfig) -> dict[str, object]:
    return {
        "url": feed.url,
        "title": feed.title,
        "source": feed.source_domain,
        "enabled": feed.enabled,
        "interval_s": feed.interval or DEFAULT_INTERVAL_S,
        "min_interval_s": feed.interval,
    }


def add_feeds(session: Session, feeds: Sequence[FeedConfig]) -> int:
    """Add feeds that are not there yet (by URL). Returns how many were new."""
    return insert_ignore(session, Feed, [_feed_row(f) for f in feeds], ["url"])


def sync_feeds(session: Session, feeds: Sequence[FeedConfig]) -> int:
    """Add or update feeds from the config (title, source, interval, enabled)."""
    return upsert(
        session,
        Feed,
        [_feed_row(f) for f in feeds],
        ["url"],
        ["title", "source", "enabled", "min_interval_s"],
    )


def _topic_row(topic: TopicConfig) -> dict[str, object]:
    return {
        "name": topic.name,
        "query": topic.query,
        "description": topic.description,
        "filters": {"sources": list(topic.sources), "languages": list(topic.languages)},
        "enabled": True,
        "updated_at": utcnow(),
    }


def sync_topics(session: Session, topics: Sequence[TopicConfig]) -> int:
    """Upsert topics by name; topics no longer configured are disabled, not deleted
    (their past matches stay explainable)."""
    n = upsert(
        session,
        Topic,
        [_topic_row(t) for t in topics],
        ["name"],
        ["query", "description", "filters", "enabled", "updated_at"],
    )
    names = [t.name for t in topics]
    session.execute(
        update(Topic)
        .where(Topic.name.not_in(names) if names else Topic.id.is_not(None))
        .values(enabled=False)
    )
    return n


def _subscription_row(sub: SubscriptionConfig) -> dict[str, object]:
    policy = sub.model_dump(
        include={
            "daily_at",
            "timezone",
            "budget_per_hour",
            "quiet_hours",
            "min_outlets",
            "followups",
        }
    )
    return {
        "name": sub.name,
        "channel": sub.channel,
        "target": sub.target,
        "topics": list(sub.topics),
        "mode": sub.mode,
        "policy": policy,
        "enabled": True,
        "updated_at": utcnow(),
    }


def sync_subscriptions(session: Session, subs: Sequence[SubscriptionConfig]) -> int:
    n = upsert(
        session,
        Subscription,
        [_subscription_row(s) for s in subs],
        ["name"],
        ["channel", "target", "topics", "mode", "policy", "enabled", "updated_at"],
    )
    names = [s.name for s in subs]
    session.execute(
        update(Subscription)
        .where(Subscription.name.not_in(names) if names else Subscription.id.is_not(None))
        .values(enabled=False)
    )
    return n


def sync_config(session: Session, cfg: NewsmonConfig) -> SyncSummary:
    """Make the database reflect newsmon.yaml (idempotent)."""
    return SyncSummary(
        feeds=sync_feeds(session, cfg.feeds),
        topics=sync_topics(session, cfg.topics),
        subscriptions=sync_subscriptions(session, cfg.subscriptions),
    )


def list_feeds(session: Session) -> list[FeedRow]:
    counts = select(Entry.feed_id, func.count().label("n")).group_by(Entry.feed_id).subquery()
    rows = session.execute(
        select(Feed, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.feed_id == Feed.id)
        .order_by(Feed.id)
    ).all()
    return [
        FeedRow(
            id=f.id,
            url=f.url,
            title=f.title,
            source=f.source,
            enabled=f.enabled,
            health=f.health,
            interval_s=f.interval_s,
            entries=int(n),
        )
        for f, n in rows
    ]


def remove_feed(session: Session, url_or_id: str) -> int:
    """Delete a feed (and its entries and fetch log) by URL or id. Returns rows removed."""
    condition = Feed.url == url_or_id
    if url_or_id.isdigit():
        condition = or_(condition, Feed.id == int(url_or_id))
    result = session.execute(delete(Feed).where(condition).returning(Feed.id))
    return len(result.all())
