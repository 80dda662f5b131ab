"""When to poll a feed next and how healthy it is — pure functions of values.

* Adaptive interval: from the entry frequency (mean gap between the newest items' dates)
  and the share of new items in the last poll (most items new means we may be missing
  some: poll sooner; nothing new: back off), blended geometrically with the current
  interval so one odd poll does not swing it, floored by TTL, Cache-Control max-age and
  Retry-After, clamped to [5 min, 24 h].
* Failures add a weight by error class (a 5xx counts less than a 404) and the next poll
  backs off exponentially in that weight; success pays the weight down.
* Health: healthy → degraded → failing by weight; disabled, with a reason, for errors
  that are properties of the destination (blocked address, bad URL, 410 Gone) and for
  feeds that kept failing. A disabled feed is never polled until an operator acts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.net.errors import ErrorClass

MIN_INTERVAL_S = 5 * 60
MAX_INTERVAL_S = 24 * 3600
UNCONDITIONAL_EVERY = timedelta(hours=12)

HEALTHY, DEGRADED, FAILING, DISABLED = "healthy", "degraded", "failing", "disabled"
DEGRADED_WEIGHT = 1.0
FAILING_WEIGHT = 4.0
DISABLE_WEIGHT = 40.0

# How much one failure of each class says about the feed being broken.
FAILURE_WEIGHTS: dict[str, float] = {
    ErrorClass.TIMEOUT: 1.0,
    ErrorClass.CONNECT: 1.0,
    ErrorClass.NETWORK: 1.0,
    ErrorClass.PROTOCOL: 1.0,
    ErrorClass.HTTP_5XX: 1.0,
    ErrorClass.DNS: 2.0,
    ErrorClass.TLS: 3.0,
    ErrorClass.HTTP_4XX: 3.0,
    ErrorClass.HTTP_OTHER: 2.0,
    ErrorClass.TOO_LARGE: 3.0,
    ErrorClass.TOO_MANY_REDIRECTS: 3.0,
    ErrorClass.BAD_ENCODING: 2.0,
    ErrorClass.PARSE: 2.0,
    ErrorClass.THROTTLED: 0.0,  # the host asked us to wait; that is not a failure
    ErrorClass.ROBOTS: 3.0,
}
# Errors that will not go away by waiting: disable the feed at once, with the reason.
PERMANENT_ERRORS = frozenset({ErrorClass.BLOCKED, ErrorClass.BAD_URL})


def clamp_interval(seconds: float, min_interval_s: int | None = None) -> int:
    floor = max(MIN_INTERVAL_S, min_interval_s or 0)
    return int(min(MAX_INTERVAL_S, max(floor, seconds)))


def mean_entry_gap_s(
    published: Sequence[datetime], now: datetime, sample: int = 20
) -> float | None:
    """Mean seconds between the newest items' dates (last 30 days), or None if unknown."""
    recent = sorted(
        (d for d in published if now - timedelta(days=30) <= d <= now + timedelta(hours=1)),
        reverse=True,
    )[:sample]
    if len(recent) < 2:
        return None
    span = (recent[0] - recent[-1]).total_seconds()
    return span / (len(recent) - 1) if span > 0 else None


def next_interval_after_success(
    current_s: int,
    *,
    new_items: int,
    seen_items: int,
    published: Sequence[datetime],
    now: datetime,
    min_interval_s: int | None = None,
    ttl_s: int | None = None,
    max_age_s: int | None = None,
) -> int:
    """The adaptive interval after a successful poll (see module docstring)."""
    if seen_items and new_items / seen_items > 0.5:
        factor = 0.5
    elif new_items == 0:
        factor = 1.5
    else:
        factor = 1.0
    interval = max(current_s, MIN_INTERVAL_S) * factor
    gap = mean_entry_gap_s(published, now)
    if gap is not None:
        interval = math.sqrt(interval * max(gap, MIN_INTERVAL_S))
    floors = [s for s in (ttl_s, max_age_s) if s]
    return clamp_interval(max([interval, *floors]), min_interval_s)


def backoff_interval(
    current_s: int, failure_weight: float, retry_after_s: float | None = None
) -> int:
    """Exponential backoff in the failure weight, never sooner than Retry-After."""
    interval = max(current_s, MIN_INTERVAL_S) * 2 ** min(failure_weight, 10.0)
    return clamp_interval(max(interval, retry_after_s or 0))


@dataclass(frozen=True)
class HealthChange:
    state: str
    failure_weight: float
    disabled_reason: str | None = None


def health_after_failure(
    error_class: str, status: int | None, failure_weight: float, reason: str
) -> HealthChange:
    """New health after a failed poll."""
    if error_class in PERMANENT_ERRORS:
        return HealthChange(DISABLED, failure_weight, f"{error_class}: {reason}")
    if status == 410:
        return HealthChange(DISABLED, failure_weight, "http_4xx: 410 Gone")
    # 429 Too Many Requests says "slow down", not "broken": Retry-After does the rest.
    step = 0.5 if status == 429 else FAILURE_WEIGHTS.get(error_class, 1.0)
    weight = failure_weight + step
    if weight >= DISABLE_WEIGHT:
        return HealthChange(DISABLED, weight, f"kept failing; last {error_class}: {reason}")
    state = (
        FAILING if weight >= FAILING_WEIGHT else DEGRADED if weight >= DEGRADED_WEIGHT else HEALTHY
    )
    return HealthChange(state, weight)


def health_after_success(failure_weight: float) -> HealthChange:
    """Success pays the weight down fast, but one success does not erase a bad week."""
    weight = failure_weight / 4
    weight = 0.0 if weight < 0.25 else weight
    return HealthChange(DEGRADED if weight >= DEGRADED_WEIGHT else HEALTHY, weight)


_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


def cache_max_age_s(headers: Mapping[str, str]) -> int | None:
    """Cache-Control max-age in seconds (no-store/no-cache mean nothing here)."""
    value = headers.get("cache-control", "")
    match = _MAX_AGE.search(value)
    return int(match.group(1)) if match else None


def needs_unconditional(last_unconditional_at: datetime | None, now: datetime) -> bool:
    """At least every 12 h, fetch without validators: some servers 304 forever."""
    return last_unconditional_at is None or now - last_unconditional_at >= UNCONDITIONAL_EVERY
