"""Read-only queries behind the web pages, the JSON API and the metrics.

Every function takes a :class:`Session` and returns plain frozen dataclasses (easy to
render, to serialise with :func:`as_json`, and to test). Nothing here writes. Day
buckets are computed with ``date(...)`` in SQL, which both SQLite (text) and
PostgreSQL (date) understand; :func:`_as_date` evens out the result types.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Select, and_, create_engine, event, func, or_, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from ingest.store.db import get_engine, normalise_url
from ingest.store.models import (
    AlertOutbox,
    Article,
    ArticleTopic,
    Entry,
    Feed,
    Story,
    StoryArticle,
    StoryTopic,
    Subscription,
    Topic,
)

MAX_PAGE = 500


def as_json(value: Any) -> Any:
    """Dataclasses, dates and containers as JSON-ready values (ISO 8601 dates)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    return value


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def day_range(days: int, now: datetime | None = None) -> list[date]:
    """The last ``days`` UTC days, oldest first, ending today."""
    today = _now(now).astimezone(UTC).date()
    return [today - timedelta(days=days - 1 - i) for i in range(days)]


# =========================================================================== stories


@dataclass(frozen=True)
class StorySummary:
    id: int
    headline: str | None
    first_seen: datetime
    last_seen: datetime
    article_count: int
    source_count: int
    topics: tuple[str, ...]


def _topics_by_story(session: Session, story_ids: Sequence[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    if not story_ids:
        return out
    rows = session.execute(
        select(StoryTopic.story_id, Topic.name)
        .join(Topic, Topic.id == StoryTopic.topic_id)
        .where(StoryTopic.story_id.in_(story_ids))
        .order_by(Topic.name)
    )
    for story_id, name in rows:
        out[story_id].append(name)
    return out


def list_stories(
    session: Session,
    *,
    topic: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[StorySummary]:
    """Stories seen in [since, until), newest activity first; optionally one topic's."""
    stmt: Select[Any] = select(Story)
    if topic:
        stmt = stmt.join(StoryTopic, StoryTopic.story_id == Story.id).join(
            Topic, and_(Topic.id == StoryTopic.topic_id, Topic.name == topic)
        )
    if since is not None:
        stmt = stmt.where(Story.last_seen >= since)
    if until is not None:
        stmt = stmt.where(Story.first_seen < until)
    stmt = stmt.order_by(Story.last_seen.desc(), Story.id.desc())
    stmt = stmt.limit(max(1, min(limit, MAX_PAGE))).offset(max(0, offset))
    stories = list(session.scalars(stmt))
    topics = _topics_by_story(session, [s.id for s in stories])
    return [
        StorySummary(
            id=s.id,
            headline=s.headline,
            first_seen=s.first_seen,
            last_seen=s.last_seen,
            article_count=s.article_count,
            source_count=s.source_count,
            topics=tuple(topics.get(s.id, ())),
        )
        for s in stories
    ]


def count_stories(session: Session, *, topic: str | None = None) -> int:
    """How many stories there are at all (optionally of one topic)."""
    stmt = select(func.count()).select_from(Story)
    if topic:
        stmt = stmt.join(StoryTopic, StoryTopic.story_id == Story.id).join(
            Topic, and_(Topic.id == StoryTopic.topic_id, Topic.name == topic)
        )
    return int(session.scalar(stmt) or 0)


@dataclass(frozen=True)
class StoryArticleRow:
    article_id: int
    title: str | None
    url: str
    source: str
    site_name: str | None
    published: datetime | None
    first_seen_at: datetime
    role: str
    similarity: float | None
    # The time the timeline uses: when published, else when first seen.
    at: datetime


@dataclass(frozen=True)
class OutletRow:
    source: str
    articles: int
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class TopicMatchRow:
    topic: str
    query: str
    article_id: int | None
    article_title: str | None
    # {"field", "text", "spans", "cut_before", "cut_after"} (see ArticleTopic).
    snippet: dict[str, Any] | None
    hits: list[Any]
    matched_at: datetime


@dataclass(frozen=True)
class StoryDetail:
    story: StorySummary
    articles: tuple[StoryArticleRow, ...]
    outlets: tuple[OutletRow, ...]
    matches: tuple[TopicMatchRow, ...]
    # Every article's own topic hits (why each report matched), by article id.
    article_matches: dict[int, tuple[TopicMatchRow, ...]] = field(default_factory=dict)


def story_detail(session: Session, story_id: int) -> StoryDetail | None:
    """A story with its articles on a timeline, its outlets and why it matched."""
    story = session.get(Story, story_id)
    if story is None:
        return None
    rows: list[tuple[Article, str, float | None]] = [
        (a, role, sim)
        for a, role, sim in session.execute(
            select(Article, StoryArticle.role, StoryArticle.similarity)
            .join(StoryArticle, StoryArticle.article_id == Article.id)
            .where(StoryArticle.story_id == story_id)
        )
    ]
    if not rows:  # articles linked by articles.story_id only: still show them
        rows = [
            (a, "original", None)
            for a in session.scalars(select(Article).where(Article.story_id == story_id))
        ]
    articles = sorted(
        (
            StoryArticleRow(
                article_id=a.id,
                title=a.title,
                url=a.url,
                source=a.source,
                site_name=a.site_name,
                published=a.published,
                first_seen_at=a.first_seen_at,
                role=role,
                similarity=similarity,
                at=a.published or a.first_seen_at,
            )
            for a, role, similarity in rows
        ),
        key=lambda r: (r.at, r.article_id),
    )
    outlets: dict[str, list[datetime]] = defaultdict(list)
    for art in articles:
        outlets[art.source].append(art.at)
    outlet_rows = sorted(
        (OutletRow(src, len(ts), min(ts), max(ts)) for src, ts in outlets.items()),
        key=lambda o: (o.first_at, o.source),
    )
    titles = {a.article_id: a.title for a in articles}
    matches = tuple(
        TopicMatchRow(
            topic=t.name,
            query=t.query,
            article_id=st.article_id,
            article_title=titles.get(st.article_id) if st.article_id else None,
            snippet=st.snippet,
            hits=list(st.hits or []),
            matched_at=st.first_matched_at,
        )
        for st, t in session.execute(
            select(StoryTopic, Topic)
            .join(Topic, Topic.id == StoryTopic.topic_id)
            .where(StoryTopic.story_id == story_id)
            .order_by(Topic.name)
        )
    )
    per_article: dict[int, list[TopicMatchRow]] = defaultdict(list)
    if titles:
        for at, t in session.execute(
            select(ArticleTopic, Topic)
            .join(Topic, Topic.id == ArticleTopic.topic_id)
            .where(ArticleTopic.article_id.in_(list(titles)))
            .order_by(Topic.name)
        ):
            per_article[at.article_id].append(
                TopicMatchRow(
                    topic=t.name,
                    query=t.query,
                    article_id=at.article_id,
                    article_title=titles.get(at.article_id),
                    snippet=at.snippet,
                    hits=list(at.hits or []),
                    matched_at=at.matched_at,
                )
            )
    summary = StorySummary(
        id=story.id,
        headline=story.headline,
        first_seen=story.first_seen,
        last_seen=story.last_seen,
        article_count=story.article_count,
        source_count=story.source_count,
        topics=tuple(m.topic for m in matches),
    )
    return StoryDetail(
        story=summary,
        articles=tuple(articles),
        outlets=tuple(outlet_rows),
        matches=matches,
        article_matches={k: tuple(v) for k, v in per_article.items()},
    )


def topic_names(session: Session) -> list[str]:
    return list(session.scalars(select(Topic.name).order_by(Topic.name)))


# =========================================================================== feeds


@dataclass(frozen=True)
class FeedHealthRow:
    id: int
    url: str
    title: str | None
    source: str
    enabled: bool
    health: str
    last_fetch_at: datetime | None
    last_success_at: datetime | None
    last_new_item_at: datetime | None
    next_poll_at: datetime
    interval_s: int
    consecutive_failures: int
    last_error_class: str | None
    last_error: str | None
    disabled_reason: str | None
    # New entries per UTC day over the window, oldest first (see ``days``).
    items_per_day: tuple[int, ...]
    days: tuple[date, ...]


def _entries_per_day(
    session: Session, since: datetime, feed_ids: Iterable[int] | None = None
) -> dict[int, dict[date, int]]:
    day = func.date(Entry.first_seen_at)
    stmt = (
        select(Entry.feed_id, day, func.count())
        .where(Entry.first_seen_at >= since)
        .group_by(Entry.feed_id, day)
    )
    if feed_ids is not None:
        stmt = stmt.where(Entry.feed_id.in_(list(feed_ids)))
    out: dict[int, dict[date, int]] = defaultdict(dict)
    for feed_id, d, n in session.execute(stmt):
        out[feed_id][_as_date(d)] = int(n)
    return out


def feeds_health(
    session: Session, *, days: int = 14, now: datetime | None = None
) -> list[FeedHealthRow]:
    """Every feed with its health, last fetch/error, next poll and items per day."""
    window = day_range(days, now)
    since = datetime.combine(window[0], datetime.min.time(), tzinfo=UTC)
    per_day = _entries_per_day(session, since)
    feeds = session.scalars(select(Feed).order_by(Feed.source, Feed.url))
    return [
        FeedHealthRow(
            id=f.id,
            url=f.url,
            title=f.title,
            source=f.source,
            enabled=f.enabled,
            health=f.health if f.enabled else "disabled",
            last_fetch_at=f.last_fetch_at,
            last_success_at=f.last_success_at,
            last_new_item_at=f.last_new_item_at,
            next_poll_at=f.next_poll_at,
            interval_s=f.interval_s,
            consecutive_failures=f.consecutive_failures,
            last_error_class=f.last_error_class,
            last_error=f.last_error,
            disabled_reason=f.disabled_reason,
            items_per_day=tuple(per_day.get(f.id, {}).get(d, 0) for d in window),
            days=tuple(window),
        )
        for f in feeds
    ]


# =========================================================================== alerts


@dataclass(frozen=True)
class AlertRow:
    id: int
    story_id: int
    headline: str | None
    subscription: str
    channel: str
    kind: str
    status: str
    attempts: int
    due_at: datetime
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None


ALERT_STATES = ("pending", "held", "digested", "sending", "sent", "dead")


def alert_state_counts(session: Session) -> dict[str, int]:
    """Outbox rows per status (every known status present, zero when none)."""
    counts = dict.fromkeys(ALERT_STATES, 0)
    for status, n in session.execute(
        select(AlertOutbox.status, func.count()).group_by(AlertOutbox.status)
    ):
        counts[status] = int(n)
    return counts


def list_alerts(
    session: Session,
    *,
    status: str | None = None,
    failed_only: bool = False,
    limit: int = 100,
) -> list[AlertRow]:
    """Outbox rows, newest first; ``failed_only``: dead rows and rows with an error."""
    stmt = (
        select(AlertOutbox, Story.headline, Subscription.name, Subscription.channel)
        .join(Story, Story.id == AlertOutbox.story_id)
        .join(Subscription, Subscription.id == AlertOutbox.subscription_id)
    )
    if status:
        stmt = stmt.where(AlertOutbox.status == status)
    if failed_only:
        stmt = stmt.where(or_(AlertOutbox.status == "dead", AlertOutbox.last_error.is_not(None)))
    stmt = stmt.order_by(AlertOutbox.created_at.desc(), AlertOutbox.id.desc()).limit(
        max(1, min(limit, MAX_PAGE))
    )
    return [
        AlertRow(
            id=o.id,
            story_id=o.story_id,
            headline=headline,
            subscription=sub_name,
            channel=channel,
            kind=o.kind,
            status=o.status,
            attempts=o.attempts,
            due_at=o.due_at,
            created_at=o.created_at,
            sent_at=o.sent_at,
            last_error=o.last_error,
        )
        for o, headline, sub_name, channel in session.execute(stmt)
    ]


# =========================================================================== topics


@dataclass(frozen=True)
class TopicActivity:
    id: int
    name: str
    query: str
    enabled: bool
    # Stories newly matched in the last 24 hours / 7 days.
    last_24h: int
    last_7d: int
    per_day: tuple[int, ...]
    days: tuple[date, ...]


def topic_match_counts(
    session: Session, *, days: int = 14, now: datetime | None = None
) -> list[TopicActivity]:
    """Per topic: story matches in the last 24 h and 7 days, and per UTC day."""
    current = _now(now)
    window = day_range(max(days, 1), current)
    since = min(
        datetime.combine(window[0], datetime.min.time(), tzinfo=UTC),
        current - timedelta(days=7),
    )
    day = func.date(StoryTopic.first_matched_at)
    per_day: dict[int, dict[date, int]] = defaultdict(dict)
    for topic_id, d, n in session.execute(
        select(StoryTopic.topic_id, day, func.count())
        .where(StoryTopic.first_matched_at >= since)
        .group_by(StoryTopic.topic_id, day)
    ):
        per_day[topic_id][_as_date(d)] = int(n)

    def count_since(start: datetime) -> dict[int, int]:
        rows = session.execute(
            select(StoryTopic.topic_id, func.count())
            .where(StoryTopic.first_matched_at >= start)
            .group_by(StoryTopic.topic_id)
        )
        return {tid: int(n) for tid, n in rows}

    last_24h = count_since(current - timedelta(hours=24))
    last_7d = count_since(current - timedelta(days=7))
    return [
        TopicActivity(
            id=t.id,
            name=t.name,
            query=t.query,
            enabled=t.enabled,
            last_24h=last_24h.get(t.id, 0),
            last_7d=last_7d.get(t.id, 0),
            per_day=tuple(per_day.get(t.id, {}).get(d, 0) for d in window),
            days=tuple(window),
        )
        for t in session.scalars(select(Topic).order_by(Topic.name))
    ]


@dataclass(frozen=True)
class CoverageFeed:
    feed_id: int
    url: str
    source: str
    matches: int
    health: str
    last_new_item_at: datetime | None
    last_success_at: datetime | None
    # ok | failing | silent | disabled
    state: str


@dataclass(frozen=True)
class TopicCoverage:
    topic: str
    matches: int
    feeds: tuple[CoverageFeed, ...]

    @property
    def broken_sources(self) -> tuple[CoverageFeed, ...]:
        return tuple(f for f in self.feeds if f.state != "ok")

    @property
    def all_sources_broken(self) -> bool:
        return bool(self.feeds) and all(f.state != "ok" for f in self.feeds)


def coverage_state(feed: Feed, *, now: datetime, silent_after: timedelta) -> str:
    """Why a source of a topic may have stopped producing matches."""
    if not feed.enabled or feed.health == "disabled":
        return "disabled"
    if feed.health == "failing":
        return "failing"
    # Silent: no new item for a long time, relative to how often the feed is polled
    # (a weekly newsletter is not silent after two days).
    threshold = max(silent_after, timedelta(seconds=feed.interval_s * 10))
    last_new = feed.last_new_item_at or feed.created_at
    if last_new < now - threshold:
        return "silent"
    return "ok"


def topic_source_coverage(
    session: Session,
    *,
    days: int = 30,
    silent_after: timedelta = timedelta(hours=48),
    now: datetime | None = None,
) -> list[TopicCoverage]:
    """For each topic: the feeds whose entries produced its article matches in the last
    ``days`` days, with matches per feed and whether each is now failing or silent.

    This is how an analyst tells "the topic went quiet because its sources broke" from
    "nothing happened": a quiet topic whose feeds are all ``failing``/``silent`` is blind.
    """
    current = _now(now)
    since = current - timedelta(days=days)
    counts: dict[int, dict[int, int]] = defaultdict(dict)
    rows = session.execute(
        select(ArticleTopic.topic_id, Entry.feed_id, func.count(func.distinct(Article.id)))
        .join(Article, Article.id == ArticleTopic.article_id)
        .join(Entry, Entry.article_id == Article.id)
        .where(ArticleTopic.matched_at >= since)
        .group_by(ArticleTopic.topic_id, Entry.feed_id)
    )
    feed_ids: set[int] = set()
    for topic_id, feed_id, n in rows:
        counts[topic_id][feed_id] = int(n)
        feed_ids.add(feed_id)
    feeds = (
        {f.id: f for f in session.scalars(select(Feed).where(Feed.id.in_(feed_ids)))}
        if feed_ids
        else {}
    )
    out = []
    for topic in session.scalars(select(Topic).order_by(Topic.name)):
        per_feed = counts.get(topic.id, {})
        cov = tuple(
            sorted(
                (
                    CoverageFeed(
                        feed_id=fid,
                        url=feeds[fid].url,
                        source=feeds[fid].source,
                        matches=n,
                        health=feeds[fid].health,
                        last_new_item_at=feeds[fid].last_new_item_at,
                        last_success_at=feeds[fid].last_success_at,
                        state=coverage_state(feeds[fid], now=current, silent_after=silent_after),
                    )
                    for fid, n in per_feed.items()
                    if fid in feeds
                ),
                key=lambda c: (-c.matches, c.url),
            )
        )
        out.append(TopicCoverage(topic=topic.name, matches=sum(per_feed.values()), feeds=cov))
    return out


# =========================================================================== metrics


@dataclass(frozen=True)
class MetricsCounts:
    feeds_by_health: dict[str, int]
    entries_by_status: dict[str, int]
    articles: int
    extraction_failures: int
    stories: int
    topic_matches: int
    alerts_by_status: dict[str, int]


FEED_HEALTH_STATES = ("healthy", "degraded", "failing", "disabled")


def metrics_counts(session: Session) -> MetricsCounts:
    """The counts behind the Prometheus gauges (one small query each)."""
    feeds = dict.fromkeys(FEED_HEALTH_STATES, 0)
    for health, enabled, n in session.execute(
        select(Feed.health, Feed.enabled, func.count()).group_by(Feed.health, Feed.enabled)
    ):
        key = health if enabled else "disabled"
        feeds[key] = feeds.get(key, 0) + int(n)
    entries = {
        status: int(n)
        for status, n in session.execute(
            select(Entry.fetch_status, func.count()).group_by(Entry.fetch_status)
        )
    }
    articles = int(session.scalar(select(func.count()).select_from(Article)) or 0)
    failures = int(
        session.scalar(
            select(func.count()).select_from(Article).where(Article.extraction_status != "ok")
        )
        or 0
    )
    stories = int(session.scalar(select(func.count()).select_from(Story)) or 0)
    matches = int(session.scalar(select(func.count()).select_from(StoryTopic)) or 0)
    return MetricsCounts(
        feeds_by_health=feeds,
        entries_by_status=entries,
        articles=articles,
        extraction_failures=failures,
        stories=stories,
        topic_matches=matches,
        alerts_by_status=alert_state_counts(session),
    )


# =========================================================================== sessions


@functools.cache
def _sqlite_read_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        # Readers never take the write lock (the pipeline's engine begins IMMEDIATE);
        # query_only makes "the pages cannot write" a property of the connection.
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA query_only=ON")
        cur.close()

    return engine


@contextlib.contextmanager
def read_session(url: str) -> Iterator[Session]:
    """A session for reading only: never commits; read-only at the database level."""
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = _sqlite_read_engine(url)
        with Session(engine) as session:
            yield session
        return
    with Session(get_engine(url)) as session:
        session.execute(text("SET TRANSACTION READ ONLY"))
        try:
            yield session
        finally:
            session.rollback()
