"""Pure policy rules: quiet hours, digest release times across DST, budgets, follow-ups."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from ingest.alerts.outbox import idempotency_key, retry_delay
from ingest.alerts.policy import (
    Policy,
    StorySnapshot,
    alert_kind,
    digest_release_at,
    in_quiet_hours,
    next_daily,
    route_alert,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_from_row_reads_config_policy() -> None:
    p = Policy.from_row(
        "daily",
        {
            "daily_at": "07:30",
            "timezone": "Europe/Paris",
            "budget_per_hour": 3,
            "quiet_hours": "22:00-06:00",
            "min_outlets": 2,
            "followups": {"new_outlets": 3, "headline_change": True},
        },
    )
    assert p.mode == "daily" and p.daily_at == time(7, 30) and p.min_outlets == 2
    assert p.quiet_start == time(22) and p.quiet_end == time(6)
    assert p.followups.new_outlets == 3 and p.followups.headline_change
    assert not Policy.from_row("immediate", {}).followups.enabled


def test_quiet_hours_wrap_midnight_in_local_time() -> None:
    p = Policy(quiet_start=time(22), quiet_end=time(7), timezone="America/New_York")
    assert in_quiet_hours(p, utc(2026, 1, 15, 4, 0))  # 23:00 in New York
    assert in_quiet_hours(p, utc(2026, 1, 15, 11, 59))  # 06:59
    assert not in_quiet_hours(p, utc(2026, 1, 15, 12, 0))  # 07:00
    assert not in_quiet_hours(Policy(), utc(2026, 1, 15, 4, 0))


def test_daily_release_follows_the_local_clock_across_dst() -> None:
    london = Policy(mode="daily", daily_at=time(8), timezone="Europe/London")
    # Europe/London moves to BST on 2026-03-29: 08:00 local is 08:00 UTC the day
    # before and 07:00 UTC that day.
    assert next_daily(london, utc(2026, 3, 28, 6)) == utc(2026, 3, 28, 8)
    assert next_daily(london, utc(2026, 3, 28, 9)) == utc(2026, 3, 29, 7)
    # ...and back to GMT on 2026-10-25.
    assert next_daily(london, utc(2026, 10, 24, 9)) == utc(2026, 10, 25, 8)


def test_digest_release_skips_quiet_hours() -> None:
    p = Policy(quiet_start=time(22), quiet_end=time(6, 30))
    assert digest_release_at(p, utc(2026, 1, 1, 20, 10)) == utc(2026, 1, 1, 21)
    assert digest_release_at(p, utc(2026, 1, 1, 21, 10)) == utc(2026, 1, 2, 6, 30)
    assert digest_release_at(p, utc(2026, 1, 1, 22, 10)) == utc(2026, 1, 2, 6, 30)
    assert digest_release_at(Policy(), utc(2026, 1, 1, 10, 0)) == utc(2026, 1, 1, 11)


def test_route_budget_and_quiet() -> None:
    p = Policy(budget_per_hour=2, quiet_start=time(1), quiet_end=time(5))
    now = utc(2026, 1, 1, 10, 20)
    assert route_alert(p, now, 1).route == "immediate"
    over = route_alert(p, now, 2)
    assert (over.route, over.status, over.due_at) == ("overflow", "held", utc(2026, 1, 1, 11))
    quiet = route_alert(p, utc(2026, 1, 1, 2), 0)
    assert (quiet.route, quiet.due_at) == ("quiet", utc(2026, 1, 1, 5))
    assert route_alert(Policy(mode="hourly"), now, 0).route == "digest"


def test_followups_only_when_the_policy_allows() -> None:
    plain = Policy(min_outlets=2)
    assert alert_kind(plain, StorySnapshot("h", 1), None, 0) is None
    assert alert_kind(plain, StorySnapshot("h", 2), None, 0) == ("new", "new story")
    assert alert_kind(plain, StorySnapshot("other", 9), StorySnapshot("h", 2), 1) is None
    p = Policy.from_row("immediate", {"followups": {"new_outlets": 2, "headline_change": True}})
    assert alert_kind(p, StorySnapshot("h", 2), StorySnapshot("h", 1), 1) is None
    kind = alert_kind(p, StorySnapshot("h", 3), StorySnapshot("h", 1), 1)
    assert kind == ("followup:1", "2 new outlets")
    assert alert_kind(p, StorySnapshot("h2", 1), StorySnapshot("h", 1), 2) == (
        "followup:2",
        "headline changed",
    )


def test_keys_and_backoff() -> None:
    assert idempotency_key(1, 2, "new") == idempotency_key(1, 2, "new")
    assert idempotency_key(1, 2, "new") != idempotency_key(1, 2, "followup:1")
    assert retry_delay(1) == timedelta(minutes=1) and retry_delay(3) == timedelta(minutes=4)
    assert retry_delay(50) == timedelta(hours=6)
    assert retry_delay(1, retry_after_s=600) == timedelta(minutes=10)


zones = st.sampled_from(
    [
        "UTC",
        "Europe/London",
        "America/New_York",
        "Asia/Kolkata",
        "Australia/Lord_Howe",
        "Pacific/Chatham",
    ]
)
clocks = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(UTC)
)


@given(zones, clocks, clocks, clocks, instants, st.sampled_from(["immediate", "hourly", "daily"]))
def test_release_is_in_the_future_and_outside_quiet_hours(
    zone: str, daily: time, q1: time, q2: time, now: datetime, mode: str
) -> None:
    p = Policy(mode=mode, daily_at=daily, timezone=zone, quiet_start=q1, quiet_end=q2)  # type: ignore[arg-type]
    release = digest_release_at(p, now)
    assert release > now
    assert not in_quiet_hours(p, release)
    assert release - now <= timedelta(days=2, hours=2)


@given(zones, clocks, instants)
def test_daily_release_is_at_the_local_clock_time(zone: str, daily: time, now: datetime) -> None:
    release = next_daily(Policy(mode="daily", daily_at=daily, timezone=zone), now)
    local = release.astimezone(ZoneInfo(zone))
    # Equal, unless the clock time does not exist that day (a DST gap).
    roundtrip = datetime.combine(local.date(), daily, tzinfo=ZoneInfo(zone))
    exists = roundtrip.astimezone(UTC).astimezone(ZoneInfo(zone)).time() == daily
    assert release > now
    if exists:
        assert local.time() == daily
