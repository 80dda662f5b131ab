"""SQL for maintenance: retention, raw-HTML pruning, feed and topic-coverage health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ingest.store.models import (
    AlertOutbox,
    Article,
    Delivery,
    Entry,
    FetchLog,
    RawPage,
    Story,
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
