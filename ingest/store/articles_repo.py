"""SQL for the fetch/extract stage: claiming entries, raw pages, articles and versions."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import zstandard
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from ingest.store.models import Article, ArticleVersion, Entry, Feed, RawPage
from ingest.store.types import utcnow
from ingest.store.upsert import insert_ignore

_ZSTD_LEVEL = 6


@dataclass(frozen=True)
class PendingEntry:
    """What the fetch stage needs to know about one claimed entry."""

    id: int
    url: str | None
    title: str | None
    summary: str | None
    author: str | None
    published: datetime | None
    source: str
    attempts: int
    # Set when the entry was fetched before and the poller queued it again because the
    # feed says it changed: fetch again (a possible revision), never just link.
    article_id: int | None


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def claim_pending_entries(session: Session, limit: int, lease: timedelta) -> list[int]:
    """Lease up to ``limit`` pending entries, oldest first, to this worker.

    On PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets concurrent workers claim disjoint sets
    without waiting for each other; on SQLite the write transaction is already exclusive
    (BEGIN IMMEDIATE). The lease (``claimed_until``) makes work of a crashed worker
    claimable again once it expires.
    """
    now = utcnow()
    # Round-robin over feeds (the first pending entry of every feed, then the second…):
    # a batch spread over many hosts is not serialised by one host's politeness delay.
    # The ranking lives in a subquery because PostgreSQL refuses window functions beside
    # FOR UPDATE; only the entries rows are locked.
    ranked = (
        select(
            Entry.id.label("id"),
            func.row_number().over(partition_by=Entry.feed_id, order_by=Entry.id).label("turn"),
        )
        .where(
            Entry.fetch_status == "pending",
            or_(Entry.claimed_until.is_(None), Entry.claimed_until < now),
        )
        .subquery()
    )
    query = (
        select(Entry.id)
        .join(ranked, ranked.c.id == Entry.id)
        # Repeated on the locked table itself: PostgreSQL re-checks these after waiting
        # for a row another worker just claimed, so it is not claimed twice.
        .where(
            Entry.fetch_status == "pending",
            or_(Entry.claimed_until.is_(None), Entry.claimed_until < now),
        )
        .order_by(ranked.c.turn, Entry.id)
        .limit(limit)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True, of=Entry)
    ids = list(session.scalars(query))
    if ids:
        session.execute(update(Entry).where(Entry.id.in_(ids)).values(claimed_until=now + lease))
    return ids


def load_entries(session: Session, entry_ids: Sequence[int]) -> list[PendingEntry]:
    """The still-pending entries among ``entry_ids`` (a retried task skips finished ones)."""
    rows = session.execute(
        select(Entry, Feed.source)
        .join(Feed, Feed.id == Entry.feed_id)
        .where(Entry.id.in_(list(entry_ids)), Entry.fetch_status == "pending")
        .order_by(Entry.id)
    ).all()
    return [
        PendingEntry(
            id=e.id,
            url=e.url,
            title=e.title,
            summary=e.summary,
            author=e.author,
            published=e.published,
            source=source,
            attempts=e.fetch_attempts,
            article_id=e.article_id,
        )
        for e, source in rows
    ]


def article_id_for_key(session: Session, url_key: str) -> int | None:
    return session.scalar(select(Article.id).where(Article.url_key == url_key))


def mark_entry(
    session: Session,
    entry_id: int,
    status: str,
    *,
    article_id: int | None = None,
    error_class: str | None = None,
    error: str | None = None,
    retry_at: datetime | None = None,
) -> None:
    """Record the outcome for one entry and release its lease (or hold it until
    ``retry_at``, so a transient failure is not retried at once)."""
    values: dict[str, Any] = {
        "fetch_status": status,
        "claimed_until": retry_at,
        "fetch_error_class": error_class,
        "fetch_error": error,
        "fetch_attempts": Entry.fetch_attempts + 1,
    }
    if article_id is not None:
        values["article_id"] = article_id
    session.execute(update(Entry).where(Entry.id == entry_id).values(**values))


def store_raw_page(session: Session, body: bytes, content_type: str | None) -> str:
    """Keep the page bytes, compressed and content-addressed; returns their sha256."""
    digest = hashlib.sha256(body).hexdigest()
    if session.get(RawPage, digest) is None:
        compressed = zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(body)
        insert_ignore(
            session,
            RawPage,
            [
                {
                    "sha256": digest,
                    "compression": "zstd",
                    "body": compressed,
                    "size": len(body),
                    "content_type": (content_type or "")[:255] or None,
                }
            ],
            ["sha256"],
        )
    return digest


def load_raw_page(session: Session, sha256: str) -> bytes | None:
    page = session.get(RawPage, sha256)
    if page is None:
        return None
    if page.compression == "zstd":
        return zstandard.ZstdDecompressor().decompress(page.body, max_output_size=page.size)
    return page.body


@dataclass(frozen=True)
class ArticleValues:
    """An extracted article, ready to store."""

    canonical_url: str
    url_key: str
    url: str
    source: str
    site_name: str | None
    title: str | None
    text: str | None
    author: str | None
    published: datetime | None
    language: str | None
    content_hash: str
    raw_sha256: str | None
    extraction_status: str
    extraction_error: str | None
    extractor_version: str


@dataclass(frozen=True)
class ArticleWrite:
    article_id: int
    outcome: str  # "new" | "unchanged" | "revised"
    version: int


def upsert_article(session: Session, values: ArticleValues) -> ArticleWrite:
    """One article per canonical URL; a changed text there becomes a new version.

    Safe under concurrent workers: the insert is ``ON CONFLICT DO NOTHING`` on the URL
    key, and a revision updates the row under a row lock (PostgreSQL) or the database
    write lock (SQLite).
    """
    now = utcnow()
    row = {
        "canonical_url": values.canonical_url,
        "url_key": values.url_key,
        "url": values.url,
        "source": values.source,
        "site_name": values.site_name,
        "title": values.title,
        "text": values.text,
        "author": values.author,
        "published": values.published,
        "published_date": values.published.date() if values.published else None,
        "language": values.language,
        "content_hash": values.content_hash,
        "raw_sha256": values.raw_sha256,
        "extraction_status": values.extraction_status,
        "extraction_error": values.extraction_error,
        "extractor_version": values.extractor_version,
        "first_seen_at": now,
        "updated_at": now,
        "version": 1,
    }
    if insert_ignore(session, Article, [row], ["url_key"]):
        article_id = session.scalar(select(Article.id).where(Article.url_key == values.url_key))
        assert article_id is not None
        _add_version(session, article_id, 1, values)
        return ArticleWrite(article_id, "new", 1)

    query = select(Article).where(Article.url_key == values.url_key)
    if is_postgres(session):
        query = query.with_for_update()
    article = session.scalars(query).one()
    if article.content_hash == values.content_hash or values.extraction_status != "ok":
        return ArticleWrite(article.id, "unchanged", article.version)
    seen_before = session.scalar(
        select(ArticleVersion.version).where(
            and_(
                ArticleVersion.article_id == article.id,
                ArticleVersion.content_hash == values.content_hash,
            )
        )
    )
    if seen_before is not None:  # an older text served again (CDN flapping): not news
        return ArticleWrite(article.id, "unchanged", article.version)
    version = article.version + 1
    article.version = version
    article.title = values.title
    article.text = values.text
    article.content_hash = values.content_hash
    article.raw_sha256 = values.raw_sha256
    article.updated_at = now
    if values.author:
        article.author = values.author
    # A revision is re-tagged (its new text may match new topics) but keeps its story.
    article.tag_status = "pending"
    _add_version(session, article.id, version, values)
    return ArticleWrite(article.id, "revised", version)


def _add_version(session: Session, article_id: int, version: int, values: ArticleValues) -> None:
    insert_ignore(
        session,
        ArticleVersion,
        [
            {
                "article_id": article_id,
                "version": version,
                "content_hash": values.content_hash,
                "title": values.title,
                "text": values.text,
                "raw_sha256": values.raw_sha256,
            }
        ],
        ["article_id", "content_hash"],
    )


def articles_for_reextract(session: Session, since: datetime | None) -> list[tuple[int, str]]:
    """(article id, raw page sha256) of stored articles to extract again."""
    query = select(Article.id, Article.raw_sha256).where(Article.raw_sha256.is_not(None))
    if since is not None:
        query = query.where(Article.first_seen_at >= since)
    return [(int(i), str(h)) for i, h in session.execute(query.order_by(Article.id))]


@dataclass(frozen=True)
class ArticleSnapshot:
    canonical_url: str
    url_key: str
    url: str
    source: str
    title: str | None
    published: datetime | None
    raw_sha256: str | None


def article_snapshot(session: Session, article_id: int) -> ArticleSnapshot:
    a = session.get_one(Article, article_id)
    return ArticleSnapshot(
        canonical_url=a.canonical_url,
        url_key=a.url_key,
        url=a.url,
        source=a.source,
        title=a.title,
        published=a.published,
        raw_sha256=a.raw_sha256,
    )
