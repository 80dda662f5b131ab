"""All SQL for polling: claim due feeds, record fetch results, store entries idempotently.

Values in, values out (plain dicts and ids): the poller in :mod:`ingest.feeds` never
sees a session, and this module never decides schedules or health.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import Table, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ingest.store.models import Entry, Feed, FetchLog
from ingest.store.types import utcnow
from ingest.store.upsert import insert_ignore

CLAIM_LEASE = timedelta(minutes=15)
FEEDS_TABLE = cast(Table, Feed.__table__)
ENTRIES_TABLE = cast(Table, Entry.__table__)

FEED_STATE_COLUMNS = (
    "id",
    "url",
    "etag",
    "last_modified",
    "body_hash",
    "interval_s",
    "min_interval_s",
    "last_unconditional_at",
    "failure_weight",
    "consecutive_failures",
    "title",
)


def add_feed_urls(
    session: Session, urls: Sequence[str], *, next_poll_at: datetime | None = None
) -> int:
    """Insert feeds by URL (source = host name), skipping known URLs. Returns rows added."""
    now = next_poll_at or utcnow()
    rows = [
        {"url": url, "source": (urlsplit(url).hostname or "")[:255], "next_poll_at": now}
        for url in dict.fromkeys(urls)
    ]
    return insert_ignore(session, Feed, rows, ["url"])


def claim_due_feeds(
    session: Session, limit: int, *, now: datetime | None = None, lease: timedelta = CLAIM_LEASE
) -> list[int]:
    """Lease up to ``limit`` due, enabled, unclaimed feeds (oldest due first) to this worker.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED`` so concurrent workers take disjoint sets.
    SQLite: the transaction began with BEGIN IMMEDIATE, so claims are serialised.
    """
    now = now or utcnow()
    query = (
        select(Feed.id)
        .where(
            Feed.enabled.is_(True),
            Feed.health != "disabled",
            Feed.next_poll_at <= now,
            or_(Feed.claimed_until.is_(None), Feed.claimed_until < now),
        )
        .order_by(Feed.next_poll_at, Feed.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = [int(i) for i in session.scalars(query)]
    if ids:
        session.execute(update(Feed).where(Feed.id.in_(ids)).values(claimed_until=now + lease))
    return ids


def load_feed_states(session: Session, feed_ids: Sequence[int]) -> list[dict[str, Any]]:
    """The columns the poller needs, for the given feeds (enabled ones only)."""
    if not feed_ids:
        return []
    columns = [getattr(Feed, name) for name in FEED_STATE_COLUMNS]
    rows = session.execute(
        select(*columns).where(Feed.id.in_(list(feed_ids)), Feed.enabled.is_(True))
    )
    return [dict(zip(FEED_STATE_COLUMNS, row, strict=True)) for row in rows]


def _entry_row(feed_id: int, item: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "feed_id": feed_id,
        "item_key": item["key"],
        "url": item.get("url"),
        "title": item.get("title"),
        "summary": item.get("summary"),
        "author": item.get("author"),
        "published": item.get("published"),
        "first_seen_at": now,
        "fetch_status": "pending" if item.get("url") else "skipped",
        "fetch_attempts": 0,
    }


def insert_entries_bulk(
    session: Session, items_by_feed: Mapping[int, Sequence[Mapping[str, Any]]]
) -> dict[int, int]:
    """Store many feeds' items in one executemany. Returns new items per feed. Safe to
    repeat.

    An item already known by (feed, item_key) is left as it was, unless the feed now
    gives it another title or summary after it was fetched: then it is queued to be
    fetched again, as a possible revision of the article (the fetch stage stores a
    changed text as a new version; an unchanged one costs one conditional re-fetch).
    Publication dates are ignored here: some publishers rewrite them on every request.

    One cached statement for all rows (not a multi-VALUES statement per feed, which
    SQLAlchemy would compile afresh every time).
    """
    now = utcnow()
    rows = [_entry_row(fid, item, now) for fid, items in items_by_feed.items() for item in items]
    new = dict.fromkeys(items_by_feed, 0)
    if not rows:
        return new
    dialect = session.get_bind().dialect.name
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = ENTRIES_TABLE
    base = insert_fn(table)
    excluded = base.excluded
    changed = (
        (
            table.c.title.is_distinct_from(excluded.title)
            | table.c.summary.is_distinct_from(excluded.summary)
        )
        # (no IN list: expanding parameters cannot be used with executemany)
        & ((table.c.fetch_status == "fetched") | (table.c.fetch_status == "failed"))
        & excluded.url.is_not(None)
    )
    stmt = base.on_conflict_do_update(
        index_elements=["feed_id", "item_key"],
        set_={
            "title": excluded.title,
            "summary": excluded.summary,
            "url": excluded.url,
            "fetch_status": "pending",
            "fetch_attempts": 0,
            "claimed_until": None,
        },
        where=changed,
    ).returning(table.c.feed_id, table.c.first_seen_at)
    for feed_id, first_seen_at in session.connection().execute(stmt, rows):
        # Inserted rows carry this call's timestamp; re-queued ones keep their own.
        if first_seen_at == now or _same_instant(first_seen_at, now):
            new[int(feed_id)] += 1
    return new


def _same_instant(stored: Any, now: datetime) -> bool:
    if isinstance(stored, datetime):
        stored_utc = stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored
        return stored_utc == now
    return False


def insert_entries(session: Session, feed_id: int, items: Sequence[Mapping[str, Any]]) -> int:
    """Store one feed's items (see :func:`insert_entries_bulk`). Returns how many were new."""
    return insert_entries_bulk(session, {feed_id: items})[feed_id]


def update_feed(session: Session, feed_id: int, values: Mapping[str, Any]) -> None:
    """Write a feed's new schedule/health/validators (see :func:`update_feeds`)."""
    update_feeds(session, [{**values, "id": feed_id}])


def update_feeds(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write many feeds' new values (each row has ``id``), grouped into executemany
    updates by column set. A new URL (permanent redirect) is taken only if no other
    feed already has it."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        values = dict(row)
        new_url = values.get("url")
        if new_url is not None:
            taken = session.scalar(
                select(Feed.id).where(Feed.url == new_url, Feed.id != values["id"])
            )
            if taken is not None:
                del values["url"]
        key = tuple(sorted(k for k in values if k != "id"))
        groups.setdefault(key, []).append(values)
    for columns, group in groups.items():
        # Core (table-level) executemany: the ORM would insist on bulk-by-primary-key.
        table = FEEDS_TABLE
        stmt = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values({name: bindparam(name) for name in columns})
        )
        params = [{"_id": v["id"], **{name: v[name] for name in columns}} for v in group]
        session.connection().execute(stmt, params)


def insert_fetch_logs(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """One row per fetch (feed_id, started_at, status_code, error_class, error, bytes,
    duration_ms, new_items, not_modified)."""
    if rows:
        session.execute(insert(FetchLog), [dict(r) for r in rows])


def release_claims(session: Session, feed_ids: Sequence[int]) -> None:
    """Give back leases of feeds that were claimed but not polled (e.g. on shutdown)."""
    if feed_ids:
        session.execute(update(Feed).where(Feed.id.in_(list(feed_ids))).values(claimed_until=None))


def feed_health(
    session: Session, *, now: datetime | None = None, days: int = 7
) -> list[dict[str, Any]]:
    """Per feed: state, last fetch, last error, next poll and items per day (last ``days``)."""
    now = now or utcnow()
    since = now - timedelta(days=days)
    counts = (
        select(Entry.feed_id, func.count().label("n"))
        .where(Entry.first_seen_at >= since)
        .group_by(Entry.feed_id)
        .subquery()
    )
    query = (
        select(
            Feed.id,
            Feed.url,
            Feed.title,
            Feed.enabled,
            Feed.health,
            Feed.disabled_reason,
            Feed.last_fetch_at,
            Feed.last_success_at,
            Feed.last_error_class,
            Feed.last_error,
            Feed.next_poll_at,
            Feed.interval_s,
            Feed.failure_weight,
            func.coalesce(counts.c.n, 0),
        )
        .outerjoin(counts, and_(counts.c.feed_id == Feed.id))
        .order_by(Feed.id)
    )
    out = []
    for row in session.execute(query):
        (
            fid,
            url,
            title,
            enabled,
            health,
            reason,
            last_fetch,
            last_ok,
            err_cls,
            err,
            next_poll,
            interval,
            weight,
            n,
        ) = row
        out.append(
            {
                "id": fid,
                "url": url,
                "title": title,
                "state": health if enabled or health == "disabled" else "disabled",
                "disabled_reason": reason,
                "last_fetch_at": last_fetch,
                "last_success_at": last_ok,
                "error_class": err_cls,
                "error": err,
                "next_poll_at": next_poll,
                "interval_s": interval,
                "failure_weight": weight,
                "items_per_day": round(int(n) / days, 2),
            }
        )
    return out


def mark_due(
    session: Session, feed_ids: Sequence[int] | None = None, *, now: datetime | None = None
) -> int:
    """Make feeds due now (all enabled feeds when ``feed_ids`` is None). Returns rows."""
    query = update(Feed).where(Feed.enabled.is_(True))
    if feed_ids is not None:
        query = query.where(Feed.id.in_(list(feed_ids)))
    result = session.execute(query.values(next_poll_at=now or utcnow(), claimed_until=None))
    return int(getattr(result, "rowcount", 0) or 0)
