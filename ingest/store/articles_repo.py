"""SQL for the fetch/extract stage: claiming entries, raw pages, articles and versions."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import zstandard
from sqlalchemy import Integer, Table, and_, bindparam, func, or_, select, text, update
from sqlalchemy.orm import Session

from ingest.store.models import Article, ArticleVersion, Entry, Feed, RawPage
from ingest.store.types import UTCDateTime, naive_utc, pg_int_array, utcnow
from ingest.store.upsert import cached_statement, dialect_insert, insert_ignore

# zstd 3 (its default): a third of level 6's CPU on HTML pages for ~8% more bytes.
_ZSTD_LEVEL = 3


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


# PostgreSQL claims among the first ``limit * _CLAIM_WINDOW`` entries of the round-robin
# order, so that workers claiming at the same moment skip each other's locked rows and
# still fill their batches.
_CLAIM_WINDOW = 4
_PG_CLAIM_ENTRIES = text(
    "SELECT id FROM entries WHERE id = ANY(CAST(:ids AS BIGINT[]))"
    " AND fetch_status = 'pending' AND (claimed_until IS NULL OR claimed_until < :now)"
    " ORDER BY array_position(CAST(:ids AS BIGINT[]), id) LIMIT :limit"
    " FOR UPDATE SKIP LOCKED"
)


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
    if is_postgres(session):
        # Two statements, not a join of the ranking with the locked table: right after a
        # poll, before autovacuum has analysed the new rows, the planner took that join
        # for a one-row affair and ran it as a nested loop — seconds of database CPU per
        # claim with a few thousand pending entries. Locking by primary key from a short
        # list has one plan whatever the statistics say.
        order = session.scalars(
            select(ranked.c.id).order_by(ranked.c.turn, ranked.c.id).limit(limit * _CLAIM_WINDOW)
        ).all()
        if not order:
            return []
        ids = [
            int(i)
            for i in session.scalars(
                _PG_CLAIM_ENTRIES,
                {
                    "ids": pg_int_array(order),
                    "now": naive_utc(now),
                    "limit": limit,
                },
            )
        ]
    else:
        query = (
            select(Entry.id)
            .join(ranked, ranked.c.id == Entry.id)
            .order_by(ranked.c.turn, Entry.id)
            .limit(limit)
        )
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


def article_ids_for_keys(session: Session, url_keys: Sequence[str]) -> dict[str, int]:
    """Stored article id of each URL key that has one (one query per 500 keys)."""
    found: dict[str, int] = {}
    keys = sorted(set(url_keys))
    for start in range(0, len(keys), 500):
        rows = session.execute(
            select(Article.url_key, Article.id).where(
                Article.url_key.in_(keys[start : start + 500])
            )
        )
        found.update({str(k): int(i) for k, i in rows})
    return found


@dataclass(frozen=True)
class EntryOutcome:
    """What happened to one entry (see :func:`mark_entries`)."""

    entry_id: int
    status: str
    article_id: int | None = None
    error_class: str | None = None
    error: str | None = None
    retry_at: datetime | None = None


def mark_entries(session: Session, outcomes: Sequence[EntryOutcome]) -> None:
    """Record outcomes and release leases (a ``retry_at`` holds the lease until then,
    so a transient failure is not retried at once); one statement for all."""
    if not outcomes:
        return
    table = Entry.__table__
    assert isinstance(table, Table)

    def build() -> Any:
        return (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                fetch_status=bindparam("b_status"),
                claimed_until=bindparam("b_retry_at", type_=UTCDateTime()),
                fetch_error_class=bindparam("b_error_class"),
                fetch_error=bindparam("b_error"),
                fetch_attempts=table.c.fetch_attempts + 1,
                # An entry keeps its article unless an outcome names one.
                article_id=func.coalesce(
                    bindparam("b_article_id", type_=Integer()), table.c.article_id
                ),
            )
        )

    rows = [
        {
            "b_id": o.entry_id,
            "b_status": o.status,
            "b_retry_at": o.retry_at,
            "b_error_class": o.error_class,
            "b_error": o.error,
            "b_article_id": o.article_id,
        }
        for o in sorted(outcomes, key=lambda o: o.entry_id)
    ]
    session.execute(cached_statement(session, "mark_entries", build), rows)


def store_raw_pages(session: Session, pages: Sequence[tuple[bytes, str | None]]) -> list[str]:
    """Keep pages (bytes, content type), compressed and content-addressed; returns each
    one's sha256. Only pages not stored yet are compressed; one insert for all, in
    digest order (two workers storing the same syndicated page cannot deadlock)."""
    digests = [hashlib.sha256(body).hexdigest() for body, _ in pages]
    wanted = sorted(set(digests))
    stored: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        stored.update(session.scalars(select(RawPage.sha256).where(RawPage.sha256.in_(chunk))))
    rows: dict[str, dict[str, Any]] = {}
    compressor = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
    for digest, (body, content_type) in zip(digests, pages, strict=True):
        if digest in stored or digest in rows:
            continue
        rows[digest] = {
            "sha256": digest,
            "compression": "zstd",
            "body": compressor.compress(body),
            "size": len(body),
            "content_type": (content_type or "")[:255] or None,
        }
    ordered = [rows[d] for d in sorted(rows)]
    for start in range(0, len(ordered), 100):  # bounded statements (pages are large)
        insert_ignore(session, RawPage, ordered[start : start + 100], ["sha256"])
    return digests


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


def _article_row(values: ArticleValues, now: datetime) -> dict[str, Any]:
    return {
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


def _version_row(article_id: int, version: int, values: ArticleValues) -> dict[str, Any]:
    return {
        "article_id": article_id,
        "version": version,
        "content_hash": values.content_hash,
        "title": values.title,
        "text": values.text,
        "raw_sha256": values.raw_sha256,
    }


def upsert_article(session: Session, values: ArticleValues) -> ArticleWrite:
    """One article per canonical URL; a changed text there becomes a new version."""
    return upsert_articles(session, [values])[0]


def upsert_articles(session: Session, batch: Sequence[ArticleValues]) -> list[ArticleWrite]:
    """Store a batch of extracted articles, in order; one :class:`ArticleWrite` each.

    One article per canonical URL (``url_key``); a changed text at a known URL becomes a
    new version of that article, not a new article. New URLs go in with one insert for
    the batch (ids follow the batch order), their first versions with another; only
    URLs already known take the row-by-row path. The result is the same as storing the
    articles one after another: a URL twice in the batch is inserted by its first
    occurrence and revised (or not) by the later ones.

    Safe under concurrent workers: the insert is ``ON CONFLICT DO NOTHING`` on the URL
    key, and a revision updates the row under a row lock (PostgreSQL) or the database
    write lock (SQLite).
    """
    if not batch:
        return []
    now = utcnow()
    insert_new = cached_statement(
        session,
        "insert_articles",
        lambda: (
            dialect_insert(session, Article)
            .on_conflict_do_nothing(index_elements=["url_key"])
            .returning(Article.id, Article.url_key)
        ),
    )
    # RETURNING names the key: rows skipped on conflict return nothing, and the order
    # of returned rows is not something to rely on across backends.
    inserted = {
        str(key): int(article_id)
        for article_id, key in session.execute(
            insert_new, [_article_row(values, now) for values in batch]
        )
    }
    writes: list[ArticleWrite | None] = [None] * len(batch)
    first_versions = []
    for index, values in enumerate(batch):
        article_id = inserted.pop(values.url_key, None)  # only its first occurrence is new
        if article_id is not None:
            writes[index] = ArticleWrite(article_id, "new", 1)
            first_versions.append(_version_row(article_id, 1, values))
    _insert_versions(session, first_versions)
    for index, values in enumerate(batch):
        if writes[index] is None:
            writes[index] = _store_known_url(session, values, now)
    return [write for write in writes if write is not None]


def _store_known_url(session: Session, values: ArticleValues, now: datetime) -> ArticleWrite:
    """The row-by-row path for a URL already stored: unchanged, or a new version."""
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
    session.flush()  # the next article in the batch may be this URL again
    _insert_versions(session, [_version_row(article.id, version, values)])
    return ArticleWrite(article.id, "revised", version)


def _insert_versions(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    stmt = cached_statement(
        session,
        "insert_version",
        lambda: dialect_insert(session, ArticleVersion).on_conflict_do_nothing(
            index_elements=["article_id", "content_hash"]
        ),
    )
    session.execute(stmt, rows)


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
