"""Alert stages: enqueue (inside tagging), release digests, send due alerts.

- :func:`enqueue_alerts` runs inside the tagging transaction, right after it writes
  ``story_topics``: the outbox row commits or rolls back with the match that causes it.
  It is re-evaluated every time a story changes, so a story below a subscriber's
  ``min_outlets`` alerts later, when it reaches it, and follow-ups fire when allowed.
- :func:`release_digests` turns held alerts whose digest is due into one digest row per
  (subscription, release time).
- :func:`send_due_alerts` claims due rows (transaction 1), sends outside any
  transaction, and records each outcome (transaction 2). See
  :mod:`ingest.store.alerts_repo` for the guarantees.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy.orm import Session

from ingest.alerts.channels import DeliveryError, channel_for
from ingest.alerts.outbox import digest_key, plan_alert, retry_delay
from ingest.alerts.policy import Policy, StorySnapshot, digest_window, route_alert
from ingest.alerts.render import (
    AlertContent,
    OutletLink,
    RenderedAlert,
    StoryView,
    TopicMatch,
    render,
    story_url,
)
from ingest.config import Settings, get_settings
from ingest.net import JsonPoster
from ingest.store import alerts_repo as repo
from ingest.store.db import transaction
from ingest.store.types import utcnow

log = logging.getLogger(__name__)

# Test hook: SIGKILL this process right after a send, before its outcome is committed
# (proves "killed between send and commit delivers at most twice, same key").
CRASH_AFTER_SEND_ENV = "NEWSMON_TEST_CRASH_AFTER_SEND"
CLAIM_BATCH = 10  # small claims keep each lease short relative to the sends it covers
BUDGET_WINDOW = timedelta(hours=1)


@dataclass
class SendSummary:
    """What one sender run did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    lost: int = 0  # outcome not recorded: the lease expired and another sender took over

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


# --------------------------------------------------------------------------- enqueue


def enqueue_alerts(session: Session, story_ids: Sequence[int], now: datetime | None = None) -> int:
    """Write the outbox rows the given (new or changed) stories call for; returns how
    many were inserted. Call inside the transaction that wrote their ``story_topics``.

    Idempotent: running it again for unchanged stories inserts nothing.
    """
    now = now or utcnow()
    states = repo.story_states(session, story_ids)
    matched = {name for state in states.values() for name in state.topics}
    if not matched:
        return 0
    subs = [s for s in repo.active_subscriptions(session) if matched.intersection(s.topics)]
    priors = repo.prior_alerts(session, list(states), [s.id for s in subs])
    inserted = 0
    # Subscriptions outside, stories inside, both in id order: every transaction takes
    # its locks in the same order, so concurrent taggers queue instead of deadlocking.
    for sub in subs:
        policy = Policy.from_row(sub.mode, sub.policy)
        wanted = set(sub.topics)
        locked = False
        for story_id in sorted(states):
            state = states[story_id]
            if not state.topics & wanted:
                continue
            prior = priors.get((story_id, sub.id), [])
            planned = plan_alert(
                policy,
                sub.id,
                story_id,
                StorySnapshot(state.headline, state.outlets),
                [p.payload for p in prior],
            )
            if planned is None:
                continue
            sent_last_hour = 0
            if policy.mode == "immediate" and policy.budget_per_hour is not None:
                if not locked:
                    repo.lock_subscription(session, sub.id)
                    locked = True
                sent_last_hour = repo.immediate_alerts_since(session, sub.id, now - BUDGET_WINDOW)
            decision = route_alert(policy, now, sent_last_hour)
            new_id = repo.insert_alert(
                session,
                story_id=story_id,
                subscription_id=sub.id,
                kind=planned.kind,
                status=decision.status,
                due_at=decision.due_at,
                idempotency_key=planned.key,
                payload=planned.payload(decision.route),
                now=now,
            )
            if new_id is not None:
                inserted += 1
    return inserted


# ---------------------------------------------------------------------------- digests


def release_digests_in(session: Session, now: datetime) -> int:
    """Group due held alerts into digest rows (one per subscription and release time)."""
    held = repo.lock_due_held(session, now)
    created = 0
    for (sub_id, release_at), group in groupby(held, key=lambda h: (h.subscription_id, h.due_at)):
        items = sorted(group, key=lambda h: h.id)
        first = items[0]
        new_id = repo.insert_alert(
            session,
            story_id=first.story_id,
            subscription_id=sub_id,
            kind=f"digest:{digest_window(release_at)}:{first.id}",
            status="pending",
            due_at=now,
            idempotency_key=digest_key(sub_id, release_at, first.id),
            payload={
                "route": "digest",
                "window": digest_window(release_at),
                "items": [h.id for h in items],
            },
            now=now,
        )
        repo.mark_digested(session, [h.id for h in items])
        created += 1 if new_id is not None else 0
    return created


def release_digests(db_url: str, now: datetime | None = None) -> int:
    """Create the digests that are due; returns how many. Safe to run concurrently."""
    with transaction(db_url) as session:
        return release_digests_in(session, now or utcnow())


# ---------------------------------------------------------------------------- content


def _story_view(
    detail: repo.StoryDetail, base_url: str, kind: str, payload: dict[str, Any]
) -> StoryView:
    return StoryView(
        story_id=detail.story_id,
        headline=detail.headline,
        first_seen=detail.first_seen,
        url=story_url(base_url, detail.story_id),
        outlets=[OutletLink(o.source, o.title, o.url) for o in detail.outlets],
        topics=[TopicMatch(t.name, t.snippet) for t in detail.topics],
        kind=kind,
        reason=str(payload.get("reason") or "new story"),
    )


def alert_content(
    session: Session,
    *,
    subscription: str,
    story_id: int,
    kind: str,
    payload: dict[str, Any],
    key: str,
    base_url: str,
) -> AlertContent:
    """Build what an outbox row says, from the current story data.

    Raises ``LookupError`` when nothing is left to say (stories deleted).
    """
    if kind.startswith(repo.DIGEST_PREFIX):
        items = repo.digest_items(session, [int(i) for i in payload.get("items", [])])
        details = repo.story_details(session, [story for _, story, _, _ in items])
        views: dict[int, StoryView] = {}  # a story held twice (new + follow-up) shows once
        for _, story, item_kind, item_payload in items:
            if story in details and story not in views:
                views[story] = _story_view(details[story], base_url, item_kind, item_payload)
        stories = list(views.values())
        window = str(payload.get("window") or "")
        if not stories:
            raise LookupError("every story in this digest has been deleted")
        return AlertContent(subscription, stories, digest_window=window, idempotency_key=key)
    details = repo.story_details(session, [story_id])
    if story_id not in details:
        raise LookupError(f"story {story_id} no longer exists")
    view = _story_view(details[story_id], base_url, kind, payload)
    return AlertContent(subscription, [view], idempotency_key=key)


# ---------------------------------------------------------------------------- sending


def _crash_hook() -> None:
    if os.environ.get(CRASH_AFTER_SEND_ENV) == "1":
        os.kill(os.getpid(), signal.SIGKILL)


def _claim(
    db_url: str, now: datetime, batch: int, settings: Settings
) -> list[tuple[repo.ClaimedAlert, RenderedAlert | str]]:
    """Transaction 1: claim a batch and render each row (or the reason it cannot be)."""
    lease_until = now + timedelta(seconds=settings.alert_lease_s)
    out: list[tuple[repo.ClaimedAlert, RenderedAlert | str]] = []
    with transaction(db_url) as session:
        for claim in repo.claim_due(session, now, batch, lease_until):
            if not claim.subscription.enabled:
                out.append((claim, "subscription disabled (no longer in newsmon.yaml)"))
                continue
            try:
                content = alert_content(
                    session,
                    subscription=claim.subscription.name,
                    story_id=claim.story_id,
                    kind=claim.kind,
                    payload=claim.payload,
                    key=claim.idempotency_key,
                    base_url=settings.base_url,
                )
                out.append((claim, render(content)))
            except (LookupError, ValueError) as exc:
                out.append((claim, f"cannot render: {exc}"))
    return out


def _deliver(
    claim: repo.ClaimedAlert, rendered: RenderedAlert | str, settings: Settings, poster: JsonPoster
) -> tuple[str, str | None, DeliveryError | None]:
    """Send one claimed row. Returns (outcome, provider_id, error)."""
    if isinstance(rendered, str):
        return "dead", None, DeliveryError(rendered, permanent=True)
    try:
        channel = channel_for(claim.subscription.channel, settings, poster)
        provider_id = channel.send(claim.subscription.target, rendered, claim.idempotency_key)
    except DeliveryError as exc:
        permanent = exc.permanent or claim.attempts >= settings.alert_max_attempts
        if permanent and not exc.permanent:
            exc = DeliveryError(
                f"gave up after {claim.attempts} attempts: {exc.reason}", permanent=True
            )
        return ("dead" if permanent else "retry"), None, exc
    except Exception as exc:  # a channel bug must not stop the batch or lose the row
        log.exception("alert %s: unexpected error in channel %s", claim.id, claim.subscription)
        error = DeliveryError(f"{type(exc).__name__}: {exc}"[:500], permanent=False)
        dead = claim.attempts >= settings.alert_max_attempts
        return ("dead" if dead else "retry"), None, error
    return "sent", provider_id, None


def send_due_alerts(
    db_url: str,
    limit: int = 100,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> SendSummary:
    """Send up to ``limit`` due alerts (immediate alerts and released digests).

    Safe to run as many senders at once as you like: each row is claimed by one sender
    at a time; a sender that dies mid-way leaves its rows to be re-claimed when their
    lease (``NEWSMON_ALERT_LEASE_S``) expires, and they are re-sent with the same key.
    """
    settings = settings or get_settings()
    fixed_now = now
    summary = SendSummary()
    with JsonPoster(settings) as poster:
        _send_loop(db_url, limit, fixed_now, settings, poster, summary)
    return summary


def _send_loop(
    db_url: str,
    limit: int,
    fixed_now: datetime | None,
    settings: Settings,
    poster: JsonPoster,
    summary: SendSummary,
) -> None:
    while summary.claimed < limit:
        batch_now = fixed_now or utcnow()
        claims = _claim(db_url, batch_now, min(CLAIM_BATCH, limit - summary.claimed), settings)
        if not claims:
            break
        summary.claimed += len(claims)
        for claim, rendered in claims:
            started = fixed_now or utcnow()
            outcome, provider_id, error = _deliver(claim, rendered, settings, poster)
            if outcome == "sent":
                _crash_hook()
            finished = fixed_now or utcnow()
            with transaction(db_url) as session:
                if outcome == "sent":
                    assert provider_id is not None
                    kept = repo.mark_sent(session, claim, provider_id, started, finished)
                    summary.sent += 1
                elif outcome == "retry":
                    assert error is not None
                    retry_at = finished + retry_delay(claim.attempts, error.retry_after_s)
                    kept = repo.mark_retry(
                        session, claim, error.reason, retry_at, started, finished
                    )
                    summary.retried += 1
                else:
                    assert error is not None
                    kept = repo.mark_dead(session, claim, error.reason, started, finished)
                    summary.dead += 1
            if not kept:
                summary.lost += 1
                log.warning("alert %s: lease expired before its outcome was recorded", claim.id)


# ---------------------------------------------------------------------------- preview


@dataclass(frozen=True)
class Preview:
    """One message a subscription would receive now."""

    label: str
    channel: str
    target: str
    alert: RenderedAlert


def preview_subscription(db_url: str, name: str, settings: Settings | None = None) -> list[Preview]:
    """Render what ``name`` would be sent: each pending alert, and one digest per
    release time of its held alerts. Sends nothing, writes nothing.

    Raises ``LookupError`` for an unknown subscription.
    """
    settings = settings or get_settings()
    previews: list[Preview] = []
    with transaction(db_url) as session:
        sub = repo.subscription_by_name(session, name)
        if sub is None:
            raise LookupError(f"no subscription named {name!r} (run `newsmon config apply`?)")
        rows = repo.open_alerts(session, sub.id)
        payloads = {i: p for i, _, _, p in repo.digest_items(session, [r.id for r in rows])}
        for row in rows:
            if row.status == "held":
                continue
            content = alert_content(
                session,
                subscription=sub.name,
                story_id=row.story_id,
                kind=row.kind,
                payload=payloads.get(row.id, {}),
                key=row.idempotency_key,
                base_url=settings.base_url,
            )
            label = f"#{row.id} {row.kind} ({row.status}, due {row.due_at:%Y-%m-%d %H:%M} UTC)"
            previews.append(Preview(label, sub.channel, sub.target, render(content)))
        held = [r for r in rows if r.status == "held"]
        for release_at, group in groupby(
            sorted(held, key=lambda r: (r.due_at, r.id)), key=lambda r: r.due_at
        ):
            items = list(group)
            content = alert_content(
                session,
                subscription=sub.name,
                story_id=items[0].story_id,
                kind=f"{repo.DIGEST_PREFIX}{digest_window(release_at)}",
                payload={"items": [r.id for r in items], "window": digest_window(release_at)},
                key=digest_key(sub.id, release_at, items[0].id),
                base_url=settings.base_url,
            )
            label = f"digest due {release_at:%Y-%m-%d %H:%M} UTC ({len(items)} alerts)"
            previews.append(Preview(label, sub.channel, sub.target, render(content)))
    return previews
