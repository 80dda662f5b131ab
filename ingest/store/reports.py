"""Read-only summaries for reports (the demo's table and HTML report, digests)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingest.store.models import AlertOutbox, Article, Story, StoryArticle, StoryTopic, Topic


@dataclass
class StoryOverview:
    id: int
    headline: str
    first_seen: datetime
    last_seen: datetime
    article_count: int
    source_count: int
    sources: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    alerts: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0


def stories_overview(session: Session, limit: int = 100) -> list[StoryOverview]:
    """Stories, biggest first, with their outlets, topics and alert states."""
    stories = session.scalars(
        select(Story)
        .where(Story.article_count > 0)
        .order_by(Story.source_count.desc(), Story.article_count.desc(), Story.id)
        .limit(limit)
    ).all()
    ids = [s.id for s in stories]
    sources: dict[int, set[str]] = defaultdict(set)
    duplicates: dict[int, int] = defaultdict(int)
    for story_id, source, role in session.execute(
        select(StoryArticle.story_id, Article.source, StoryArticle.role)
        .join(Article, Article.id == StoryArticle.article_id)
        .where(StoryArticle.story_id.in_(ids))
    ):
        sources[story_id].add(source)
        if role == "duplicate":
            duplicates[story_id] += 1
    topics: dict[int, list[str]] = defaultdict(list)
    for story_id, name in session.execute(
        select(StoryTopic.story_id, Topic.name)
        .join(Topic, Topic.id == StoryTopic.topic_id)
        .where(StoryTopic.story_id.in_(ids))
        .order_by(Topic.name)
    ):
        topics[story_id].append(name)
    alerts: dict[int, dict[str, int]] = defaultdict(dict)
    for story_id, status, count in session.execute(
        select(AlertOutbox.story_id, AlertOutbox.status, func.count())
        .where(AlertOutbox.story_id.in_(ids))
        .group_by(AlertOutbox.story_id, AlertOutbox.status)
    ):
        alerts[story_id][status] = int(count)
    return [
        StoryOverview(
            id=s.id,
            headline=s.headline or "",
            first_seen=s.first_seen,
            last_seen=s.last_seen,
            article_count=s.article_count,
            source_count=s.source_count,
            sources=sorted(sources[s.id]),
            topics=topics[s.id],
            alerts=alerts[s.id],
            duplicates=duplicates[s.id],
        )
        for s in stories
    ]


def table_counts(session: Session) -> dict[str, int]:
    """Row counts of the main tables (the demo's "adds nothing new" check)."""
    from ingest.store.models import Entry, Feed

    counts = {}
    for name, model in (
        ("feeds", Feed),
        ("entries", Entry),
        ("articles", Article),
        ("stories", Story),
        ("story_topics", StoryTopic),
        ("alerts", AlertOutbox),
    ):
        counts[name] = int(session.scalar(select(func.count()).select_from(model)) or 0)
    return counts
