"""When a subscriber hears about a story: immediate, held for a digest, or not yet.

Pure functions over a :class:`Policy` (the ``subscriptions.policy`` JSON plus the mode)
and an aware UTC ``now``. Local clock times (``daily_at``, ``quiet_hours``) are read in the
subscriber's time zone, so a daily digest at 08:00 Europe/London is at 08:00 UTC in
winter and 07:00 UTC in summer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Mode = Literal["immediate", "hourly", "daily"]
Route = Literal["immediate", "quiet", "overflow", "digest"]


@dataclass(frozen=True)
class Followups:
    """When to alert again about a story already alerted (off by default)."""

    new_outlets: int | None = None
    headline_change: bool = False

    @property
    def enabled(self) -> bool:
        return self.new_outlets is not None or self.headline_change


@dataclass(frozen=True)
class Policy:
    """A subscription's delivery rules."""

    mode: Mode = "immediate"
    daily_at: time = time(8, 0)
    timezone: str = "UTC"
    budget_per_hour: int | None = None
    quiet_start: time | None = None
    quiet_end: time | None = None
    min_outlets: int = 1
    followups: Followups = Followups()

    @property
    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")  # validated in config; a hand-edited row falls back

    @classmethod
    def from_row(cls, mode: str, policy: Mapping[str, Any] | None) -> Policy:
        """Build from the ``subscriptions`` row (``mode`` column + ``policy`` JSON)."""
        data = dict(policy or {})
        quiet = data.get("quiet_hours")
        quiet_start = quiet_end = None
        if isinstance(quiet, str) and "-" in quiet:
            start, end = quiet.split("-", 1)
            quiet_start, quiet_end = _clock(start), _clock(end)
        raw_followups = data.get("followups") or {}
        followups = Followups(
            new_outlets=_positive_or_none(raw_followups.get("new_outlets")),
            headline_change=bool(raw_followups.get("headline_change", False)),
        )
        return cls(
            mode=mode if mode in ("immediate", "hourly", "daily") else "immediate",  # type: ignore[arg-type]
            daily_at=_clock(str(data.get("daily_at") or "08:00")),
            timezone=str(data.get("timezone") or "UTC"),
            budget_per_hour=_positive_or_none(data.get("budget_per_hour")),
            quiet_start=quiet_start,
            quiet_end=quiet_end,
            min_outlets=_positive_or_none(data.get("min_outlets")) or 1,
            followups=followups,
        )


def _clock(text: str) -> time:
    hours, minutes = text.strip().split(":")
    return time(int(hours), int(minutes))


def _positive_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value


def _local(now: datetime, policy: Policy) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(policy.zone)


def _at_local(day: datetime, clock: time, policy: Policy) -> datetime:
    """``clock`` on ``day``'s local date, in UTC. A time skipped by a DST jump resolves
    with the offset before the jump (zoneinfo fold=0), i.e. one hour later on the wall."""
    local = datetime.combine(day.date(), clock, tzinfo=policy.zone)
    return local.astimezone(UTC)


def in_quiet_hours(policy: Policy, now: datetime) -> bool:
    """True if ``now`` falls inside the subscriber's quiet hours ([start, end) local)."""
    if policy.quiet_start is None or policy.quiet_end is None:
        return False
    if policy.quiet_start == policy.quiet_end:
        return False
    clock = _local(now, policy).time().replace(tzinfo=None)
    start, end = policy.quiet_start, policy.quiet_end
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end  # wraps midnight, e.g. 22:00-07:00


def quiet_hours_end(policy: Policy, now: datetime) -> datetime:
    """The first instant at or after ``now`` that is outside quiet hours (UTC)."""
    if not in_quiet_hours(policy, now) or policy.quiet_end is None:
        return now
    local = _local(now, policy)
    for days in (0, 1):
        candidate = _at_local(local + timedelta(days=days), policy.quiet_end, policy)
        if candidate > now:
            return candidate
    return now  # unreachable: quiet hours end within a day


def next_hour(now: datetime) -> datetime:
    """The next top of the hour strictly after ``now`` (UTC)."""
    top = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return top + timedelta(hours=1)


def next_daily(policy: Policy, now: datetime) -> datetime:
    """The next ``daily_at`` in the subscriber's zone strictly after ``now`` (UTC)."""
    local = _local(now, policy)
    for days in (0, 1, 2):
        candidate = _at_local(local + timedelta(days=days), policy.daily_at, policy)
        if candidate > now:
            return candidate
    raise AssertionError("a daily time always recurs within two days")


def digest_release_at(policy: Policy, now: datetime) -> datetime:
    """When the digest that an alert held at ``now`` goes out (UTC).

    Daily subscribers: the next ``daily_at``. Everyone else (hourly digests, and the
    overflow and quiet-hour alerts of immediate subscribers): the next top of the hour.
    A release time inside quiet hours moves to the end of the quiet hours.
    """
    release = next_daily(policy, now) if policy.mode == "daily" else next_hour(now)
    return quiet_hours_end(policy, release)


@dataclass(frozen=True)
class Decision:
    """Where a new alert goes: ``status`` of its outbox row and when it is due."""

    route: Route
    status: Literal["pending", "held"]
    due_at: datetime


def route_alert(policy: Policy, now: datetime, sent_last_hour: int) -> Decision:
    """Decide one alert's route.

    ``sent_last_hour`` counts this subscription's immediate alerts created in the hour
    before ``now`` (the budget is a sliding hour). Digest subscribers always hold; an
    immediate subscriber holds during quiet hours ("quiet") and past the budget
    ("overflow"), and those held alerts go out in the next hourly digest.
    """
    if policy.mode != "immediate":
        return Decision("digest", "held", digest_release_at(policy, now))
    if in_quiet_hours(policy, now):
        return Decision("quiet", "held", digest_release_at(policy, now))
    if policy.budget_per_hour is not None and sent_last_hour >= policy.budget_per_hour:
        return Decision("overflow", "held", digest_release_at(policy, now))
    return Decision("immediate", "pending", now)


def digest_window(release_at: datetime) -> str:
    """A short stable label for a digest's release time, e.g. ``2026-03-29T07:00Z``."""
    return release_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


@dataclass(frozen=True)
class StorySnapshot:
    """What the subscriber was told about a story (kept in the outbox payload)."""

    headline: str
    outlets: int

    def as_dict(self) -> dict[str, Any]:
        return {"headline": self.headline, "outlets": self.outlets}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StorySnapshot:
        outlets = data.get("outlets")
        return cls(
            headline=str(data.get("headline") or ""),
            outlets=outlets if isinstance(outlets, int) else 0,
        )


def alert_kind(
    policy: Policy, current: StorySnapshot, previous: StorySnapshot | None, alerts_so_far: int
) -> tuple[str, str] | None:
    """The kind of alert a story deserves now, with a reason, or None.

    ``previous`` is the snapshot of the latest alert already queued for this story and
    subscriber (None if none). The first alert is ``"new"`` once the story reaches
    ``min_outlets``; after that ``"followup:<n>"`` only when the follow-up policy asks.
    """
    if current.outlets < policy.min_outlets:
        return None
    if previous is None:
        return "new", "new story"
    followups = policy.followups
    reasons = []
    gained = current.outlets - previous.outlets
    if followups.new_outlets is not None and gained >= followups.new_outlets:
        reasons.append(f"{gained} new outlet{'s' if gained != 1 else ''}")
    if followups.headline_change and current.headline.strip() != previous.headline.strip():
        reasons.append("headline changed")
    if not reasons:
        return None
    return f"followup:{alerts_so_far}", ", ".join(reasons)
