"""Outbox rules that need no database: keys, retry backoff, what to enqueue.

The idempotency key of an alert is a pure function of (subscription, story, kind), so
whoever writes or re-sends the row, the receiver sees the same key (the webhook
``Idempotency-Key`` header, the email ``Message-ID``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ingest.alerts.policy import (
    Policy,
    StorySnapshot,
    alert_kind,
    digest_window,
)

BACKOFF_BASE_S = 60.0
BACKOFF_CAP_S = 6 * 3600.0


def idempotency_key(subscription_id: int, story_id: int, kind: str) -> str:
    """Stable 64-hex key for one alert."""
    raw = f"newsmon-alert:{subscription_id}:{story_id}:{kind}".encode()
    return hashlib.sha256(raw).hexdigest()


def digest_key(subscription_id: int, release_at: datetime, first_item_id: int) -> str:
    """Stable key for a digest: its subscription, window and first item."""
    raw = f"newsmon-digest:{subscription_id}:{digest_window(release_at)}:{first_item_id}"
    return hashlib.sha256(raw.encode()).hexdigest()


def retry_delay(attempts: int, retry_after_s: float | None = None) -> timedelta:
    """Exponential backoff after the ``attempts``-th failure: 1 min, 2, 4 … capped at 6 h,
    never sooner than the receiver's Retry-After."""
    delay = min(BACKOFF_BASE_S * 2 ** max(attempts - 1, 0), BACKOFF_CAP_S)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, BACKOFF_CAP_S))
    return timedelta(seconds=delay)


@dataclass(frozen=True)
class PlannedAlert:
    """An alert that should exist for (story, subscription); routing comes later."""

    story_id: int
    subscription_id: int
    kind: str
    reason: str
    snapshot: StorySnapshot

    @property
    def key(self) -> str:
        return idempotency_key(self.subscription_id, self.story_id, self.kind)

    def payload(self, route: str) -> dict[str, Any]:
        return {"reason": self.reason, "route": route, "snapshot": self.snapshot.as_dict()}


def plan_alert(
    policy: Policy,
    subscription_id: int,
    story_id: int,
    current: StorySnapshot,
    prior_payloads: Sequence[dict[str, Any]],
) -> PlannedAlert | None:
    """The alert a story deserves for one subscriber, given the alerts already queued
    (their payloads, oldest first), or None."""
    previous = None
    if prior_payloads:
        previous = StorySnapshot.from_dict(prior_payloads[-1].get("snapshot") or {})
    decided = alert_kind(policy, current, previous, len(prior_payloads))
    if decided is None:
        return None
    kind, reason = decided
    return PlannedAlert(story_id, subscription_id, kind, reason, current)
