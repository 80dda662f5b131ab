"""Poll one feed: conditional GET, body-hash skip, parse; then plan the feed's next state.

:func:`poll_feed` does the I/O (through :class:`ingest.net.Fetcher`) and returns a
:class:`PollOutcome` — values only, nothing stored. :func:`plan_update` turns an outcome
plus the number of new items the store accepted into the feed row's new values.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest.feeds import schedule
from ingest.feeds.parse import FeedItem, FeedParseError, ParsedFeed, ParseLimits, parse_feed
from ingest.net import ErrorClass, Fetcher, FetchError

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)

# Runs parse_feed somewhere (inline, or in a worker process for CPU parallelism).
ParseRunner = Callable[[bytes, str, str, ParseLimits], Awaitable[ParsedFeed]]


async def parse_inline(
    body: bytes, content_type: str, base: str, limits: ParseLimits
) -> ParsedFeed:
    """Parse on the event loop's thread. Parsing is capped (bytes, entries) so one feed
    blocks the loop briefly; use worker processes for CPU parallelism at scale."""
    return parse_feed(body, content_type=content_type, base_url=base, limits=limits)


@dataclass(frozen=True)
class FeedState:
    """What the poller needs to know about a feed (a snapshot of its row)."""

    id: int
    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    interval_s: int = 1800
    min_interval_s: int | None = None
    last_unconditional_at: datetime | None = None
    failure_weight: float = 0.0
    consecutive_failures: int = 0
    title: str | None = None


@dataclass
class PollOutcome:
    """What one poll found. ``items`` is empty when the body was unchanged."""

    feed_id: int
    started_at: datetime
    duration_ms: int = 0
    status: int | None = None
    bytes: int = 0
    not_modified: bool = False
    unchanged_body: bool = False
    unconditional: bool = False
    error_class: str | None = None
    error: str | None = None
    retry_after_s: float | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    max_age_s: int | None = None
    ttl_s: int | None = None
    title: str | None = None
    new_url: str | None = None
    items: list[FeedItem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error_class is None


async def poll_feed(
    fetcher: Fetcher,
    state: FeedState,
    *,
    limits: ParseLimits,
    now: datetime | None = None,
    parse: ParseRunner = parse_inline,
) -> PollOutcome:
    """Fetch and parse one feed. Never raises for network or feed problems."""
    now = now or datetime.now(UTC)
    unconditional = schedule.needs_unconditional(state.last_unconditional_at, now)
    outcome = PollOutcome(feed_id=state.id, started_at=now, unconditional=unconditional)
    started = time.monotonic()
    try:
        result = await fetcher.fetch(
            state.url,
            max_bytes=limits.max_bytes,
            etag=None if unconditional else state.etag,
            last_modified=None if unconditional else state.last_modified,
            accept=FEED_ACCEPT,
        )
    except FetchError as exc:
        outcome.error_class = exc.error_class.value
        outcome.error = exc.reason[:1000]
        outcome.status = exc.status
        outcome.retry_after_s = exc.retry_after_s
        outcome.duration_ms = int((time.monotonic() - started) * 1000)
        return outcome
    outcome.status = result.status
    outcome.bytes = len(result.body)
    # Validators are refreshed on every answer, 304s and unchanged bodies included.
    outcome.etag = (result.headers.get("etag") or state.etag or "")[:1024] or None
    outcome.last_modified = (result.headers.get("last-modified") or state.last_modified or "")[
        :255
    ] or None
    outcome.max_age_s = schedule.cache_max_age_s(result.headers)
    if result.not_modified:
        outcome.not_modified = True
        outcome.body_hash = state.body_hash
    else:
        digest = hashlib.sha256(result.body).hexdigest()
        outcome.body_hash = digest
        if digest == state.body_hash:
            outcome.unchanged_body = True
        else:
            try:
                parsed = await parse(
                    result.body,
                    result.headers.get("content-type", ""),
                    result.final_url,
                    limits,
                )
            except FeedParseError as exc:
                outcome.error_class = ErrorClass.PARSE.value
                outcome.error = str(exc)[:1000]
                outcome.body_hash = state.body_hash  # so a fixed feed is parsed again
            else:
                outcome.items = parsed.items
                outcome.title = parsed.title
                outcome.ttl_s = parsed.ttl_s
    # A permanent redirect is adopted only once the new URL produced a usable answer.
    if result.permanent_url and outcome.ok and result.permanent_url != state.url:
        outcome.new_url = result.permanent_url
    outcome.duration_ms = int((time.monotonic() - started) * 1000)
    return outcome


def plan_update(
    state: FeedState, outcome: PollOutcome, new_items: int, now: datetime | None = None
) -> dict[str, Any]:
    """The feed row's new column values after ``outcome`` (``new_items`` were stored)."""
    now = now or datetime.now(UTC)
    values: dict[str, Any] = {"last_fetch_at": now, "claimed_until": None}
    if outcome.ok:
        health = schedule.health_after_success(state.failure_weight)
        interval = schedule.next_interval_after_success(
            state.interval_s,
            new_items=new_items,
            seen_items=len(outcome.items),
            published=[i.published for i in outcome.items if i.published],
            now=now,
            min_interval_s=state.min_interval_s,
            ttl_s=outcome.ttl_s,
            max_age_s=outcome.max_age_s,
        )
        values.update(
            health=health.state,
            failure_weight=health.failure_weight,
            consecutive_failures=0,
            last_success_at=now,
            etag=outcome.etag,
            last_modified=outcome.last_modified,
            body_hash=outcome.body_hash,
            interval_s=interval,
            next_poll_at=now + timedelta(seconds=interval),
            last_error_class=None,
            last_error=None,
        )
        if outcome.unconditional:
            values["last_unconditional_at"] = now
        if new_items:
            values["last_new_item_at"] = now
        if outcome.title and outcome.title != state.title:
            values["title"] = outcome.title[:500]
        if outcome.new_url:
            values["url"] = outcome.new_url
        return values
    error_class = outcome.error_class or ErrorClass.NETWORK.value
    reason = outcome.error or ""
    health = schedule.health_after_failure(
        error_class, outcome.status, state.failure_weight, reason
    )
    backoff = schedule.backoff_interval(
        state.interval_s, health.failure_weight, outcome.retry_after_s
    )
    values.update(
        health=health.state,
        failure_weight=health.failure_weight,
        consecutive_failures=state.consecutive_failures + 1,
        last_error_class=error_class,
        last_error=reason,
        next_poll_at=now + timedelta(seconds=backoff),
    )
    if outcome.status is not None and outcome.error_class == ErrorClass.PARSE.value:
        values["etag"] = outcome.etag  # the server answered; its validators are current
        values["last_modified"] = outcome.last_modified
    if health.state == schedule.DISABLED:
        values["enabled"] = False
        values["disabled_reason"] = health.disabled_reason
    return values
