"""All SQL for subscriptions, the alert outbox and deliveries.

The outbox protocol (see :mod:`ingest.pipeline.alerts`):

1. the tagging transaction inserts outbox rows (``insert_alert``; unique on
   (story, subscription, kind), so re-running it inserts nothing);
2. a sender claims due rows in a short transaction (``claim_due``: status ``sending``,
   a lease in ``claimed_until``, ``attempts + 1``; ``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, the write lock of ``BEGIN IMMEDIATE`` on SQLite) and commits;
3. it sends outside any transaction;
4. a second transaction records the outcome (``mark_sent`` / ``mark_retry`` /
   ``mark_dead``), fenced on (status, attempts) so a sender whose lease ran out cannot
   overwrite the outcome of the sender that re-claimed the row.

A row whose lease expired without an outcome (the sender died) is claimable again, so
an alert is delivered at most twice, both times with the same idempotency key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from ingest.store.models import (
    AlertOutbox,
    Article,
    Delivery,
    Story,
    StoryArticle,
    StoryTopic,
    Subscription,
    Topic,
)
from ingest.store.upsert import insert_ignore_returning_ids

DIGEST_PREFIX = "digest:"
IMMEDIATE_STATUSES = ("pending", "sending", "sent", "dead")


@dataclass(frozen=True)
class SubscriptionRow:
    id: int
    name: str
    channel: str
    target: str
    topics: tuple[str, ...]
    mode: str
    policy: dict[str, Any]
    enabled: bool = True


@dataclass(frozen=True)
class StoryState:
    """What alerting decisions need to know about a story right now."""

    story_id: int
    headline: str
    outlets: int
    topics: frozenset[str]


@dataclass(frozen=True)
class PriorAlert:
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class ClaimedAlert:
    """An outbox row this sender holds the lease on."""

    id: int
    story_id: int
    kind: str
    attempts: int
    idempotency_key: str
    payload: dict[str, Any]
    subscription: SubscriptionRow


@dataclass(frozen=True)
class OutletRow:
    source: str
    title: str | None
    url: str | None


@dataclass(frozen=True)
class TopicRow:
    name: str
    snippet: Any  # the stored JSON snippet (see ingest.pipeline.tag.snippet_payload)


@dataclass(frozen=True)
class StoryDetail:
    story_id: int
    headline: str | None
    first_seen: datetime
    outlets: tuple[OutletRow, ...]
    topics: tuple[TopicRow, ...]


@dataclass(frozen=True)
class OutboxListing:
    id: int
    story_id: int
    subscription: str
    channel: str
    kind: str
    status: str
    due_at: datetime
    attempts: int
    idempotency_key: str
    provider_id: str | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "story_id": self.story_id,
            "subscription": self.subscription,
            "channel": self.channel,
            "kind": self.kind,
            "status": self.status,
            "due_at": self.due_at.isoformat(),
            "attempts": self.attempts,
            "idempotency_key": self.idempotency_key,
            "provider_id": self.provider_id,
            "last_error": self.last_error,
            "created_at": self.created_at.isoformat(),
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
        }


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _subscription_row(sub: Subscription) -> SubscriptionRow:
    return SubscriptionRow(
        id=sub.id,
        name=sub.name,
        channel=sub.channel,
        target=sub.target,
        topics=tuple(str(t) for t in (sub.topics or [])),
        mode=sub.mode,
        policy=dict(sub.policy or {}),
        enabled=bool(sub.enabled),
    )


# --------------------------------------------------------------------------- enqueue


def active_subscriptions(session: Session) -> list[SubscriptionRow]:
    """Enabled subscriptions, in id order (the order their locks are taken in)."""
    subs = session.scalars(
        select(Subscription).where(Subscription.enabled.is_(True)).order_by(Subscription.id)
    ).all()
    return [_subscription_row(s) for s in subs]


def subscription_by_name(session: Session, name: str) -> SubscriptionRow | None:
    sub = session.scalar(select(Subscription).where(Subscription.name == name))
    return _subscription_row(sub) if sub is not None else None


def lock_subscription(session: Session, subscription_id: int) -> None:
    """Serialise budget decisions for one subscription (PostgreSQL row lock; on SQLite
    the write transaction already holds the database write lock)."""
    if _is_postgres(session):
        session.execute(
            select(Subscription.id).where(Subscription.id == subscription_id).with_for_update()
        )


def story_states(session: Session, story_ids: Sequence[int]) -> dict[int, StoryState]:
    """Headline, distinct outlet count and matched (enabled) topic names per story."""
    if not story_ids:
        return {}
    ids = sorted(set(story_ids))
    stories = session.execute(
        select(Story.id, Story.headline, Story.source_count).where(Story.id.in_(ids))
    ).all()
    outlet_counts = dict(
        session.execute(
            select(StoryArticle.story_id, func.count(func.distinct(Article.source)))
            .join(Article, Article.id == StoryArticle.article_id)
            .where(StoryArticle.story_id.in_(ids))
            .group_by(StoryArticle.story_id)
        ).all()
    )
    topics: dict[int, set[str]] = {}
    for story_id, name in session.execute(
        select(StoryTopic.story_id, Topic.name)
        .join(Topic, Topic.id == StoryTopic.topic_id)
        .where(StoryTopic.story_id.in_(ids), Topic.enabled.is_(True))
    ):
        topics.setdefault(story_id, set()).add(name)
    return {
        sid: StoryState(
            story_id=sid,
            headline=headline or "",
            # story_articles is the truth when present; source_count otherwise.
            outlets=int(outlet_counts.get(sid) or source_count or 0),
            topics=frozenset(topics.get(sid, ())),
        )
        for sid, headline, source_count in stories
    }


def prior_alerts(
    session: Session, story_ids: Sequence[int], subscription_ids: Sequence[int]
) -> dict[tuple[int, int], list[PriorAlert]]:
    """Existing new/follow-up rows per (story, subscription), oldest first."""
    if not story_ids or not subscription_ids:
        return {}
    rows = session.execute(
        select(
            AlertOutbox.story_id, AlertOutbox.subscription_id, AlertOutbox.kind, AlertOutbox.payload
        )
        .where(
            AlertOutbox.story_id.in_(sorted(set(story_ids))),
            AlertOutbox.subscription_id.in_(sorted(set(subscription_ids))),
            AlertOutbox.kind.not_like(f"{DIGEST_PREFIX}%"),
        )
        .order_by(AlertOutbox.id)
    ).all()
    out: dict[tuple[int, int], list[PriorAlert]] = {}
    for story_id, sub_id, kind, payload in rows:
        out.setdefault((story_id, sub_id), []).append(PriorAlert(kind, dict(payload or {})))
    return out


def immediate_alerts_since(session: Session, subscription_id: int, since: datetime) -> int:
    """How many immediate (not held) alerts this subscription got since ``since``."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(AlertOutbox)
            .where(
                AlertOutbox.subscription_id == subscription_id,
                AlertOutbox.created_at >= since,
                AlertOutbox.status.in_(IMMEDIATE_STATUSES),
                AlertOutbox.kind.not_like(f"{DIGEST_PREFIX}%"),
            )
        )
        or 0
    )


def insert_alert(
    session: Session,
    *,
    story_id: int,
    subscription_id: int,
    kind: str,
    status: str,
    due_at: datetime,
    idempotency_key: str,
    payload: Mapping[str, Any],
    now: datetime,
) -> int | None:
    """Insert one outbox row unless (story, subscription, kind) exists. Returns its id."""
    ids = insert_ignore_returning_ids(
        session,
        AlertOutbox,
        [
            {
                "story_id": story_id,
                "subscription_id": subscription_id,
                "kind": kind,
                "status": status,
                "due_at": due_at,
                "attempts": 0,
                "idempotency_key": idempotency_key,
                "payload": dict(payload),
                "created_at": now,
            }
        ],
        ["story_id", "subscription_id", "kind"],
    )
    return ids[0] if ids else None


# ---------------------------------------------------------------------------- digests


@dataclass(frozen=True)
class HeldAlert:
    id: int
    story_id: int
    subscription_id: int
    due_at: datetime


def lock_due_held(session: Session, now: datetime) -> list[HeldAlert]:
    """Held rows whose digest is due, locked (a concurrent release waits, then finds
    them no longer held)."""
    stmt = (
        select(
            AlertOutbox.id, AlertOutbox.story_id, AlertOutbox.subscription_id, AlertOutbox.due_at
        )
        .where(AlertOutbox.status == "held", AlertOutbox.due_at <= now)
        .order_by(AlertOutbox.subscription_id, AlertOutbox.due_at, AlertOutbox.id)
    )
    if _is_postgres(session):
        stmt = stmt.with_for_update()
    return [HeldAlert(*row) for row in session.execute(stmt).all()]


def mark_digested(session: Session, outbox_ids: Sequence[int]) -> None:
    if outbox_ids:
        session.execute(
            update(AlertOutbox)
            .where(AlertOutbox.id.in_(list(outbox_ids)), AlertOutbox.status == "held")
            .values(status="digested")
        )


# ---------------------------------------------------------------------------- sending


def claim_due(
    session: Session, now: datetime, limit: int, lease_until: datetime
) -> list[ClaimedAlert]:
    """Claim up to ``limit`` due rows (pending and due, or whose lease has expired)."""
    due = or_(
        and_(AlertOutbox.status == "pending", AlertOutbox.due_at <= now),
        and_(AlertOutbox.status == "sending", AlertOutbox.claimed_until < now),
    )
    stmt = select(AlertOutbox).where(due).order_by(AlertOutbox.due_at, AlertOutbox.id).limit(limit)
    if _is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True, of=AlertOutbox)
    rows = session.scalars(stmt).all()
    if not rows:
        return []
    subs = {
        s.id: _subscription_row(s)
        for s in session.scalars(
            select(Subscription).where(Subscription.id.in_({r.subscription_id for r in rows}))
        )
    }
    claimed = []
    for row in rows:
        row.status = "sending"
        row.claimed_until = lease_until
        row.attempts += 1
        claimed.append(
            ClaimedAlert(
                id=row.id,
                story_id=row.story_id,
                kind=row.kind,
                attempts=row.attempts,
                idempotency_key=row.idempotency_key,
                payload=dict(row.payload or {}),
                subscription=subs[row.subscription_id],
            )
        )
    session.flush()
    return claimed


def story_details(session: Session, story_ids: Iterable[int]) -> dict[int, StoryDetail]:
    """Everything an alert shows about each story: headline, outlets, topics+snippets."""
    ids = sorted(set(story_ids))
    if not ids:
        return {}
    stories = session.execute(
        select(Story.id, Story.headline, Story.first_seen).where(Story.id.in_(ids))
    ).all()
    outlets: dict[int, list[OutletRow]] = {}
    seen: set[tuple[int, str]] = set()
    for story_id, source, title, url in session.execute(
        select(StoryArticle.story_id, Article.source, Article.title, Article.url)
        .join(Article, Article.id == StoryArticle.article_id)
        .where(StoryArticle.story_id.in_(ids))
        .order_by(StoryArticle.story_id, Article.published, Article.id)
    ):
        if (story_id, source) in seen:  # one line per outlet: its first report
            continue
        seen.add((story_id, source))
        outlets.setdefault(story_id, []).append(OutletRow(source, title, url))
    topics: dict[int, list[TopicRow]] = {}
    for story_id, name, snippet in session.execute(
        select(StoryTopic.story_id, Topic.name, StoryTopic.snippet)
        .join(Topic, Topic.id == StoryTopic.topic_id)
        .where(StoryTopic.story_id.in_(ids))
        .order_by(StoryTopic.story_id, Topic.name)
    ):
        topics.setdefault(story_id, []).append(TopicRow(name, snippet))
    return {
        sid: StoryDetail(
            story_id=sid,
            headline=headline,
            first_seen=first_seen,
            outlets=tuple(outlets.get(sid, ())),
            topics=tuple(topics.get(sid, ())),
        )
        for sid, headline, first_seen in stories
    }


def _record_delivery(
    session: Session,
    claim: ClaimedAlert,
    outcome: str,
    started_at: datetime,
    now: datetime,
    provider_id: str | None = None,
    error: str | None = None,
) -> None:
    session.add(
        Delivery(
            outbox_id=claim.id,
            attempt=claim.attempts,
            started_at=started_at,
            finished_at=now,
            outcome=outcome,
            provider_id=provider_id,
            error=error,
        )
    )


def _fenced(claim: ClaimedAlert) -> Any:
    return and_(
        AlertOutbox.id == claim.id,
        AlertOutbox.status == "sending",
        AlertOutbox.attempts == claim.attempts,
    )


def mark_sent(
    session: Session, claim: ClaimedAlert, provider_id: str, started_at: datetime, now: datetime
) -> bool:
    """Record a successful send. False if the lease was lost to another sender."""
    _record_delivery(session, claim, "sent", started_at, now, provider_id=provider_id)
    result = session.execute(
        update(AlertOutbox)
        .where(_fenced(claim))
        .values(
            status="sent",
            provider_id=provider_id[:500],
            sent_at=now,
            claimed_until=None,
            last_error=None,
        )
        .returning(AlertOutbox.id)
    )
    return bool(result.all())


def mark_retry(
    session: Session,
    claim: ClaimedAlert,
    error: str,
    retry_at: datetime,
    started_at: datetime,
    now: datetime,
) -> bool:
    """Record a transient failure; the row is due again at ``retry_at``."""
    _record_delivery(session, claim, "retry", started_at, now, error=error)
    result = session.execute(
        update(AlertOutbox)
        .where(_fenced(claim))
        .values(status="pending", due_at=retry_at, claimed_until=None, last_error=error)
        .returning(AlertOutbox.id)
    )
    return bool(result.all())


def mark_dead(
    session: Session, claim: ClaimedAlert, error: str, started_at: datetime, now: datetime
) -> bool:
    """Record a permanent failure (or the last allowed attempt) with its reason."""
    _record_delivery(session, claim, "dead", started_at, now, error=error)
    result = session.execute(
        update(AlertOutbox)
        .where(_fenced(claim))
        .values(status="dead", claimed_until=None, last_error=error)
        .returning(AlertOutbox.id)
    )
    return bool(result.all())


# ------------------------------------------------------------------------ inspection


def list_outbox(
    session: Session,
    *,
    status: str | None = None,
    subscription_id: int | None = None,
    limit: int = 200,
) -> list[OutboxListing]:
    """Outbox rows, newest first, with their subscription's name and channel."""
    stmt = (
        select(AlertOutbox, Subscription.name, Subscription.channel)
        .join(Subscription, Subscription.id == AlertOutbox.subscription_id)
        .order_by(AlertOutbox.id.desc())
        .limit(limit)
    )
    if status:
        stmt = stmt.where(AlertOutbox.status == status)
    if subscription_id is not None:
        stmt = stmt.where(AlertOutbox.subscription_id == subscription_id)
    return [
        OutboxListing(
            id=row.id,
            story_id=row.story_id,
            subscription=name,
            channel=channel,
            kind=row.kind,
            status=row.status,
            due_at=row.due_at,
            attempts=row.attempts,
            idempotency_key=row.idempotency_key,
            provider_id=row.provider_id,
            last_error=row.last_error,
            created_at=row.created_at,
            sent_at=row.sent_at,
        )
        for row, name, channel in session.execute(stmt).all()
    ]


def open_alerts(session: Session, subscription_id: int) -> list[OutboxListing]:
    """A subscription's rows not yet sent (pending, held, sending), oldest first."""
    rows = list_outbox(session, subscription_id=subscription_id, limit=1000)
    return sorted(
        (r for r in rows if r.status in ("pending", "held", "sending")), key=lambda r: r.id
    )


def digest_items(
    session: Session, outbox_ids: Sequence[int]
) -> list[tuple[int, int, str, dict[str, Any]]]:
    """(id, story_id, kind, payload) of the given outbox rows, in id order."""
    if not outbox_ids:
        return []
    rows = session.execute(
        select(AlertOutbox.id, AlertOutbox.story_id, AlertOutbox.kind, AlertOutbox.payload)
        .where(AlertOutbox.id.in_(list(outbox_ids)))
        .order_by(AlertOutbox.id)
    ).all()
    return [(i, s, k, dict(p or {})) for i, s, k, p in rows]
