"""SQL for the tagging stage: topics, article/story matches, and backtests."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from ingest.store.articles_repo import is_postgres
from ingest.store.models import Article, ArticleTopic, Story, StoryTopic, Topic
from ingest.store.types import utcnow
from ingest.store.upsert import insert_ignore, upsert


@dataclass(frozen=True)
class TopicRow:
    id: int
    name: str
    query: str
    description: str
    sources: tuple[str, ...]
    languages: tuple[str, ...]


@dataclass(frozen=True)
class ArticleForTagging:
    id: int
    story_id: int | None
    title: str
    text: str
    source: str
    language: str
    author: str
    published: datetime | None


def enabled_topics(session: Session) -> list[TopicRow]:
    rows = session.scalars(select(Topic).where(Topic.enabled.is_(True)).order_by(Topic.id))
    return [
        TopicRow(
            id=t.id,
            name=t.name,
            query=t.query,
            description=t.description or "",
            sources=tuple((t.filters or {}).get("sources") or ()),
            languages=tuple((t.filters or {}).get("languages") or ()),
        )
        for t in rows
    ]


def claim_untagged(session: Session, limit: int, lease: timedelta) -> list[int]:
    """Lease clustered articles not yet tagged (disjoint across concurrent workers)."""
    now = utcnow()
    query = (
        select(Article.id)
        .where(
            Article.tag_status == "pending",
            Article.cluster_status == "done",
            or_(Article.claimed_until.is_(None), Article.claimed_until < now),
        )
        .order_by(Article.id)
        .limit(limit)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    ids = list(session.scalars(query))
    if ids:
        session.execute(
            update(Article).where(Article.id.in_(ids)).values(claimed_until=now + lease)
        )
    return ids


def load_for_tagging(session: Session, article_ids: Sequence[int]) -> list[ArticleForTagging]:
    """The claimed articles still pending, locked on PostgreSQL until the tagger commits:
    clustering may move an article to another story (Clusterer._regroup) and then drops
    the old story's topic matches it explained; holding the rows makes that wait for a
    tagger that read the article in its old story, so it sees what the tagger wrote."""
    query = (
        select(Article)
        .where(Article.id.in_(list(article_ids)), Article.tag_status == "pending")
        .order_by(Article.id)
    )
    if is_postgres(session):
        query = query.with_for_update(of=Article)
    rows = session.scalars(query)
    return [
        ArticleForTagging(
            id=a.id,
            story_id=a.story_id,
            title=a.title or "",
            text=a.text or "",
            source=a.source,
            language=a.language or "",
            author=a.author or "",
            published=a.published,
        )
        for a in rows
    ]


@dataclass(frozen=True)
class Match:
    """Why an article matched a topic."""

    article_id: int
    topic_id: int
    hits: list[dict[str, Any]]
    snippet: dict[str, Any] | None


@dataclass(frozen=True)
class StoryMatch:
    """Why a story matched a topic: the article that explains it, and its hits."""

    story_id: int
    topic_id: int
    article_id: int
    hits: list[dict[str, Any]]
    snippet: dict[str, Any] | None


_ROWS_PER_STATEMENT = 200  # hits and snippets make rows large: bound each statement


def save_article_matches(session: Session, matches: Sequence[Match]) -> None:
    """Record (or refresh, for a revised text) why articles matched topics."""
    now = utcnow()
    rows = [
        {
            "article_id": m.article_id,
            "topic_id": m.topic_id,
            "hits": m.hits,
            "snippet": m.snippet,
            "matched_at": now,
        }
        for m in matches
    ]
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        upsert(
            session,
            ArticleTopic,
            rows[start : start + _ROWS_PER_STATEMENT],
            ["article_id", "topic_id"],
            ["hits", "snippet"],
        )


def save_story_matches(session: Session, matches: Sequence[StoryMatch]) -> int:
    """The first match of a topic on a story explains it; later ones change nothing.
    Returns how many (story, topic) pairs are new. Rows go in (story, topic) order:
    two taggers whose articles share a story then lock in the same order."""
    now = utcnow()
    rows = [
        {
            "story_id": m.story_id,
            "topic_id": m.topic_id,
            "article_id": m.article_id,
            "hits": m.hits,
            "snippet": m.snippet,
            "first_matched_at": now,
        }
        for m in sorted(matches, key=lambda m: (m.story_id, m.topic_id))
    ]
    return sum(
        insert_ignore(
            session, StoryTopic, rows[start : start + _ROWS_PER_STATEMENT], ["story_id", "topic_id"]
        )
        for start in range(0, len(rows), _ROWS_PER_STATEMENT)
    )


def mark_tagged(session: Session, article_ids: Sequence[int]) -> None:
    if article_ids:
        session.execute(
            update(Article)
            .where(Article.id.in_(list(article_ids)))
            .values(tag_status="done", claimed_until=None)
        )


@dataclass(frozen=True)
class BacktestRow:
    article_id: int
    story_id: int | None
    title: str
    text: str
    source: str
    language: str
    author: str
    published: datetime | None
    first_seen_at: datetime


def articles_since(session: Session, since: datetime, batch: int = 500) -> Iterator[BacktestRow]:
    """Stream stored articles seen or published since ``since`` (a backtest's input)."""
    query = (
        select(Article)
        .where(
            Article.extraction_status == "ok",
            or_(
                Article.first_seen_at >= since,
                and_(Article.published.is_not(None), Article.published >= since),
            ),
        )
        .order_by(Article.id)
        .execution_options(yield_per=batch)
    )
    for article in session.scalars(query):
        yield BacktestRow(
            article_id=article.id,
            story_id=article.story_id,
            title=article.title or "",
            text=article.text or "",
            source=article.source,
            language=article.language or "",
            author=article.author or "",
            published=article.published,
            first_seen_at=article.first_seen_at,
        )


def story_headlines(session: Session, story_ids: Sequence[int]) -> dict[int, str]:
    rows = session.execute(
        select(Story.id, Story.headline).where(Story.id.in_(list(story_ids)))
    ).all()
    return {int(i): h or "" for i, h in rows}


def count_topic_matches(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Topic.name, func.count(ArticleTopic.article_id))
        .outerjoin(ArticleTopic, ArticleTopic.topic_id == Topic.id)
        .group_by(Topic.name)
    ).all()
    return {str(n): int(c) for n, c in rows}
