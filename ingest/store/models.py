"""SQLAlchemy 2 models: the whole newsmon data model.

Every stage writes rows keyed so that running it twice changes nothing (see
docs/architecture.md): natural unique keys (feed URL, (feed, item key), canonical URL,
(story, subscription, kind)…) back every idempotent upsert in :mod:`ingest.store.upsert`.

Conventions:
- timestamps are :class:`UTCDateTime` (aware UTC in Python, naive UTC in the database);
- JSON columns hold small explanation payloads (hit spans, alert snapshots), never
  documents;
- ``claimed_until`` columns are leases for work claimed by a worker; on PostgreSQL the
  claim also takes ``FOR UPDATE SKIP LOCKED`` so two workers never take the same row.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ingest.store.types import UTCDateTime, utcnow

# Deterministic constraint names: Alembic migrations and the SQLite/PostgreSQL schema
# comparison test depend on them being the same everywhere.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

URL_LENGTH = 2048


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


# --------------------------------------------------------------------------- feeds


class Feed(Base):
    """A feed to poll, its conditional-GET validators, schedule and health."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(URL_LENGTH), unique=True)
    title: Mapped[str | None] = mapped_column(String(500))
    # The outlet's domain ("guardian.example"): what `source:` in topic queries matches.
    source: Mapped[str] = mapped_column(String(255), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    etag: Mapped[str | None] = mapped_column(String(1024))
    last_modified: Mapped[str | None] = mapped_column(String(255))
    body_hash: Mapped[str | None] = mapped_column(String(64))
    interval_s: Mapped[int] = mapped_column(Integer, default=1800)
    min_interval_s: Mapped[int | None] = mapped_column(Integer)
    next_poll_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_fetch_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_unconditional_at: Mapped[datetime | None]
    last_new_item_at: Mapped[datetime | None]
    # healthy | degraded | failing | disabled
    health: Mapped[str] = mapped_column(String(16), default="healthy")
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    failure_weight: Mapped[float] = mapped_column(Float, default=0.0)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error_class: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FetchLog(Base):
    """One row per feed fetch: what happened, how big, how long, how many new items."""

    __tablename__ = "fetch_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error_class: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    bytes: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    new_items: Mapped[int] = mapped_column(Integer, default=0)
    not_modified: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_fetch_log_feed_id_started_at", "feed_id", "started_at"),)


class Entry(Base):
    """What a feed said about one item (unique per feed by its item key)."""

    __tablename__ = "entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    item_key: Mapped[str] = mapped_column(String(64))
    url: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    title: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(500))
    published: Mapped[datetime | None]
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # pending | fetched | failed | skipped: the fetch/extract stage's work queue.
    fetch_status: Mapped[str] = mapped_column(String(16), default="pending")
    fetch_error_class: Mapped[str | None] = mapped_column(String(32))
    fetch_error: Mapped[str | None] = mapped_column(Text)
    fetch_attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]
    article_id: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="SET NULL"), index=True
    )

    __table_args__ = (
        UniqueConstraint("feed_id", "item_key"),
        Index("ix_entries_fetch_status_first_seen_at", "fetch_status", "first_seen_at"),
    )


class HostSlot(Base):
    """Per-host politeness shared by every worker: when the next request to a host may
    start (see :mod:`ingest.store.politeness`)."""

    __tablename__ = "host_slots"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    next_at: Mapped[datetime] = mapped_column()


# --------------------------------------------------------------------------- articles


class RawPage(Base):
    """Raw article HTML, compressed and content-addressed (sha256 of the bytes).

    Kept so any article can be re-extracted after an extractor upgrade.
    """

    __tablename__ = "raw_pages"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    compression: Mapped[str] = mapped_column(String(8), default="zstd")
    body: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(255))
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Article(Base):
    """What the page said: one row per canonical URL (a real document)."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    canonical_url: Mapped[str] = mapped_column(String(URL_LENGTH))
    # sha256 of the canonical URL: a short fixed-width unique key, indexable everywhere.
    url_key: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(String(URL_LENGTH))
    source: Mapped[str] = mapped_column(String(255), index=True)
    site_name: Mapped[str | None] = mapped_column(String(500))
    title: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(500))
    published: Mapped[datetime | None] = mapped_column(index=True)
    published_date: Mapped[date | None] = mapped_column(Date)
    language: Mapped[str | None] = mapped_column(String(16))
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    raw_sha256: Mapped[str | None] = mapped_column(
        ForeignKey("raw_pages.sha256", ondelete="SET NULL")
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    # ok | failed: extraction outcome; error is "class: reason".
    extraction_status: Mapped[str] = mapped_column(String(16), default="ok")
    extraction_error: Mapped[str | None] = mapped_column(Text)
    extractor_version: Mapped[str | None] = mapped_column(String(32))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # pending | done: the dedupe+cluster stage's queue; then tagging's.
    cluster_status: Mapped[str] = mapped_column(String(16), default="pending")
    tag_status: Mapped[str] = mapped_column(String(16), default="pending")
    claimed_until: Mapped[datetime | None]
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("articles.id"))
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id"), index=True)

    __table_args__ = (
        Index("ix_articles_cluster_status_id", "cluster_status", "id"),
        Index("ix_articles_tag_status_id", "tag_status", "id"),
        # A story member moving to another story takes its copies along (cluster_state).
        Index("ix_articles_duplicate_of", "duplicate_of"),
    )


class ArticleVersion(Base):
    """Each distinct text seen at one canonical URL: revisions, not new articles."""

    __tablename__ = "article_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    raw_sha256: Mapped[str | None] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("article_id", "version"),
        UniqueConstraint("article_id", "content_hash"),
    )


# --------------------------------------------------------------------------- dedupe


class Fingerprint(Base):
    """An article's MinHash signature (for near-duplicate checks across workers)."""

    __tablename__ = "fingerprints"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LshBand(Base):
    """One LSH band bucket of an article's signature: near-duplicate lookup is an indexed
    equality query on (band, bucket) that every worker shares."""

    __tablename__ = "lsh_bands"

    band: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True, index=True
    )


# --------------------------------------------------------------------------- stories


class Story(Base):
    """Same-event reports from many outlets folded into one story."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    headline: Mapped[str | None] = mapped_column(Text)
    headline_article_id: Mapped[int | None] = mapped_column(Integer)
    article_count: Mapped[int] = mapped_column(Integer, default=0)
    source_count: Mapped[int] = mapped_column(Integer, default=0)
    # The clustering state of the story (term weights etc.), owned by ingest/dedupe.
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoryArticle(Base):
    """Which story an article belongs to and in which role."""

    __tablename__ = "story_articles"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)
    # original | duplicate | update
    role: Mapped[str] = mapped_column(String(16), default="original")
    similarity: Mapped[float | None] = mapped_column(Float)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoryTerm(Base):
    """Inverted index term -> recent story, so finding candidate stories for a new
    article is a few indexed lookups, whatever the history size."""

    __tablename__ = "story_terms"

    term: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    story_id: Mapped[int] = mapped_column(
        ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    weight: Mapped[float] = mapped_column(Float, default=0.0)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    # The story's first_seen, copied so candidate lookup never visits ``stories``; a
    # story's rows are rewritten whenever the story changes, so the copy stays current.
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)

    # Candidate lookup is, per term, "the latest stories with last_seen >= window start":
    # this index keeps it proportional to the active window, not to the history of the
    # term, and holds the story id and first_seen too, so on PostgreSQL the lookup reads
    # the index only (no table rows, no join).
    __table_args__ = (
        Index(
            "ix_story_terms_lookup",
            "term",
            "last_seen",
            "story_id",
            postgresql_include=["first_seen"],
        ),
    )


class TermStat(Base):
    """Online document frequencies for IDF weighting (term hash -> document count)."""

    __tablename__ = "term_stats"

    term: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    df: Mapped[int] = mapped_column(Integer, default=0)


# --------------------------------------------------------------------------- topics


class Topic(Base):
    """An analyst's topic: a named query."""

    __tablename__ = "topics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    query: Mapped[str] = mapped_column(Text)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArticleTopic(Base):
    """A topic match on an article, with the hit spans and snippet that explain it."""

    __tablename__ = "article_topics"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    topic_id: Mapped[int] = mapped_column(
        ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    hits: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # {"field", "text", "spans": [[start, end], ...], "cut_before", "cut_after"}: the
    # window of text that explains the match; renderers escape, then mark the spans.
    snippet: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    matched_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class StoryTopic(Base):
    """A topic match on a story (the first matching article explains it)."""

    __tablename__ = "story_topics"

    story_id: Mapped[int] = mapped_column(
        ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True
    )
    topic_id: Mapped[int] = mapped_column(
        ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    article_id: Mapped[int | None] = mapped_column(Integer)
    hits: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # {"field", "text", "spans": [[start, end], ...], "cut_before", "cut_after"}: the
    # window of text that explains the match; renderers escape, then mark the spans.
    snippet: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    first_matched_at: Mapped[datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------- alerts


class Subscription(Base):
    """Who gets alerts for which topics, how and when (mirrors newsmon.yaml)."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # email | webhook | slack | apprise
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(URL_LENGTH))
    topics: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # immediate | hourly | daily
    mode: Mapped[str] = mapped_column(String(16), default="immediate")
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertOutbox(Base):
    """Transactional outbox: one row per (story, subscription, kind), written in the
    same transaction as the match that causes it, so an alert exists exactly once."""

    __tablename__ = "alert_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    # "new", "followup:<n>", or "digest:<window>"
    kind: Mapped[str] = mapped_column(String(64))
    # pending | held (waiting for a digest) | digested (inside a digest row) | sending |
    # sent | dead
    status: Mapped[str] = mapped_column(String(16), default="pending")
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    provider_id: Mapped[str | None] = mapped_column(String(500))
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("story_id", "subscription_id", "kind"),
        Index("ix_alert_outbox_status_due_at", "status", "due_at"),
    )


class Delivery(Base):
    """One attempt to deliver an outbox row through its channel."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(
        ForeignKey("alert_outbox.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # sent | retry | dead
    outcome: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[str | None] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column(Text)
