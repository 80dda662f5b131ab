"""The adaptive schedule, backoff and health rules (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ingest.feeds import schedule as s

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)


def test_busy_feed_is_polled_more_often_than_a_quiet_one() -> None:
    busy = [NOW - timedelta(minutes=10 * i) for i in range(20)]
    quiet = [NOW - timedelta(days=1 + i) for i in range(20)]
    fast = s.next_interval_after_success(3600, new_items=15, seen_items=20, published=busy, now=NOW)
    slow = s.next_interval_after_success(3600, new_items=0, seen_items=20, published=quiet, now=NOW)
    assert fast < 3600 < slow


def test_interval_honours_ttl_and_cache_control_and_clamps() -> None:
    assert (
        s.next_interval_after_success(
            600, new_items=1, seen_items=10, published=[], now=NOW, ttl_s=7200
        )
        == 7200
    )
    assert (
        s.next_interval_after_success(
            600, new_items=1, seen_items=10, published=[], now=NOW, max_age_s=10 * 86400
        )
        == s.MAX_INTERVAL_S
    )
    assert (
        s.next_interval_after_success(1, new_items=10, seen_items=10, published=[], now=NOW)
        == s.MIN_INTERVAL_S
    )
    assert s.cache_max_age_s({"cache-control": "public, max-age=900"}) == 900
    assert s.cache_max_age_s({}) is None


@given(
    st.integers(0, 10**7),
    st.integers(0, 500),
    st.integers(0, 500),
    st.one_of(st.none(), st.integers(0, 10**7)),
    st.lists(st.integers(-(10**7), 10**5), max_size=30),
)
def test_interval_is_always_within_bounds(
    current: int, new: int, seen: int, ttl: int | None, offsets: list[int]
) -> None:
    dates = [NOW + timedelta(seconds=o) for o in offsets]
    value = s.next_interval_after_success(
        current, new_items=new, seen_items=seen, published=dates, now=NOW, ttl_s=ttl
    )
    assert s.MIN_INTERVAL_S <= value <= s.MAX_INTERVAL_S


def test_failures_back_off_by_weight_and_honour_retry_after() -> None:
    assert s.backoff_interval(1800, 1.0) < s.backoff_interval(1800, 3.0) <= s.MAX_INTERVAL_S
    assert s.backoff_interval(300, 0.0, retry_after_s=5000) == 5000


def test_health_states() -> None:
    change = s.health_after_failure("timeout", None, 0.0, "deadline")
    assert change.state == s.DEGRADED
    change = s.health_after_failure("http_4xx", 404, change.failure_weight, "HTTP 404")
    assert change.state == s.FAILING
    assert s.health_after_failure("blocked", None, 0.0, "loopback").state == s.DISABLED
    gone = s.health_after_failure("http_4xx", 410, 0.0, "HTTP 410")
    assert gone.state == s.DISABLED and "410" in (gone.disabled_reason or "")
    weight = 0.0
    for _ in range(100):
        change = s.health_after_failure("http_5xx", 503, weight, "HTTP 503")
        weight = change.failure_weight
        if change.state == s.DISABLED:
            break
    assert change.state == s.DISABLED and "kept failing" in (change.disabled_reason or "")
    assert s.health_after_success(0.5).state == s.HEALTHY
    assert s.health_after_success(20.0).state == s.DEGRADED


def test_unconditional_fetch_every_twelve_hours() -> None:
    assert s.needs_unconditional(None, NOW)
    assert not s.needs_unconditional(NOW - timedelta(hours=11), NOW)
    assert s.needs_unconditional(NOW - timedelta(hours=12), NOW)
