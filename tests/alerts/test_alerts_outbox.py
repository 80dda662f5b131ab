"""The outbox on SQLite and PostgreSQL: idempotent enqueue, thresholds, follow-ups,
budgets, quiet hours and digests (with time-machine travelling the clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from sqlalchemy import select

from ingest.pipeline.alerts import alert_content, release_digests, send_due_alerts
from ingest.store.db import transaction
from ingest.store.models import AlertOutbox


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def kinds(seed: Any) -> list[tuple[int, str, str]]:
    return [(r.story_id, r.kind, r.status) for r in seed.outbox()]


def test_enqueue_twice_writes_each_alert_once(seed: Any) -> None:
    quake = seed.topic("quake")
    seed.subscription("ops", ["quake"])
    seed.subscription("other", ["unrelated"])
    stories = [seed.story(f"Quake {i}") for i in range(3)]
    for s in stories:
        seed.match(s, quake)
    assert seed.enqueue(stories) == 3
    assert seed.enqueue(stories) == 0
    rows = seed.outbox()
    assert [(r.story_id, r.kind, r.status) for r in rows] == [
        (s, "new", "pending") for s in stories
    ]
    assert len({r.idempotency_key for r in rows}) == 3


def test_story_below_min_outlets_alerts_when_it_reaches_them(seed: Any) -> None:
    topic = seed.topic("floods")
    seed.subscription("ops", ["floods"], min_outlets=3)
    story = seed.story("Floods", ["a.example", "b.example"])
    seed.match(story, topic)
    assert seed.enqueue([story]) == 0
    seed.add_outlet(story, "a.example")  # same outlet again: still two outlets
    assert seed.enqueue([story]) == 0
    seed.add_outlet(story, "c.example")
    assert seed.enqueue([story]) == 1
    assert seed.enqueue([story]) == 0
    assert kinds(seed) == [(story, "new", "pending")]


def test_followups_off_by_default_and_on_when_configured(seed: Any) -> None:
    topic = seed.topic("t")
    seed.subscription("plain", ["t"])
    seed.subscription("eager", ["t"], followups={"new_outlets": 2, "headline_change": True})
    story = seed.story("First headline", ["a.example"])
    seed.match(story, topic)
    assert seed.enqueue([story]) == 2
    seed.add_outlet(story, "b.example")
    assert seed.enqueue([story]) == 0  # one new outlet < 2
    seed.add_outlet(story, "c.example")
    assert seed.enqueue([story]) == 1  # two new outlets since the last alert
    assert seed.enqueue([story]) == 0
    seed.set_headline(story, "Second headline")
    assert seed.enqueue([story]) == 1
    rows = seed.outbox()
    assert [r.kind for r in rows] == ["new", "new", "followup:1", "followup:2"]
    assert rows[2].payload["reason"] == "2 new outlets"
    assert rows[3].payload["reason"] == "headline changed"


def test_budget_overflow_and_quiet_hours_go_to_the_next_hourly_digest(seed: Any) -> None:
    topic = seed.topic("t")
    sub = seed.subscription("ops", ["t"], budget_per_hour=2, quiet_hours="06:00-06:30")
    stories = [seed.story(f"S{i}") for i in range(5)]
    for s in stories:
        seed.match(s, topic)
    with time_machine.travel(utc(2026, 3, 27, 5, 50), tick=False):
        assert seed.enqueue(stories[:1]) == 1  # immediate (budget 1/2)
    with time_machine.travel(utc(2026, 3, 27, 6, 10), tick=False):
        assert seed.enqueue(stories[1:2]) == 1  # quiet hours -> held
    with time_machine.travel(utc(2026, 3, 27, 6, 40), tick=False):
        assert seed.enqueue(stories[2:]) == 3  # one immediate (2/2), two overflow
    rows = {r.story_id: r for r in seed.outbox()}
    assert [rows[s].status for s in stories] == ["pending", "held", "pending", "held", "held"]
    assert {rows[s].payload["route"] for s in stories[3:]} == {"overflow"}
    assert rows[stories[1]].payload["route"] == "quiet"
    assert {rows[s].due_at for s in (stories[1], *stories[3:])} == {utc(2026, 3, 27, 7)}

    with time_machine.travel(utc(2026, 3, 27, 6, 59), tick=False):
        assert release_digests(seed.db_url) == 0
    with time_machine.travel(utc(2026, 3, 27, 7, 0), tick=False):
        assert release_digests(seed.db_url) == 1
        assert release_digests(seed.db_url) == 0
    with transaction(seed.db_url) as s:
        digest = s.scalars(select(AlertOutbox).where(AlertOutbox.kind.like("digest:%"))).one()
        assert digest.subscription_id == sub and digest.status == "pending"
        items = digest.payload["items"]
        item_stories = {
            r.story_id for r in s.scalars(select(AlertOutbox).where(AlertOutbox.id.in_(items)))
        }
        assert item_stories == {stories[1], stories[3], stories[4]}  # exactly quiet + overflow
        content = alert_content(
            s,
            subscription="ops",
            story_id=digest.story_id,
            kind=digest.kind,
            payload=digest.payload,
            key=digest.idempotency_key,
            base_url="https://x.example",
        )
        assert [v.story_id for v in content.stories] == [stories[1], stories[3], stories[4]]
    statuses = sorted(r.status for r in seed.outbox() if not r.kind.startswith("digest"))
    assert statuses == ["digested", "digested", "digested", "pending", "pending"]


def test_budget_is_a_sliding_hour(seed: Any) -> None:
    topic = seed.topic("t")
    seed.subscription("ops", ["t"], budget_per_hour=1)
    a, b, c = (seed.story(n) for n in "abc")
    for s in (a, b, c):
        seed.match(s, topic)
    seed.enqueue([a], utc(2026, 1, 1, 10, 0))
    seed.enqueue([b], utc(2026, 1, 1, 10, 59))
    seed.enqueue([c], utc(2026, 1, 1, 11, 0, 1))
    assert [r.status for r in seed.outbox()] == ["pending", "held", "pending"]


def test_daily_digest_respects_time_zone_across_dst(seed: Any, alert_settings: Any) -> None:
    topic = seed.topic("t")
    seed.subscription("morning", ["t"], mode="daily", daily_at="08:00", timezone="Europe/London")
    before, after = seed.story("Before DST"), seed.story("After DST")
    seed.match(before, topic)
    seed.match(after, topic)
    # Friday 2026-03-27 09:00 UTC: next 08:00 London is Saturday 08:00 GMT = 08:00 UTC.
    seed.enqueue([before], utc(2026, 3, 27, 9))
    # Saturday 10:00 UTC: next is Sunday 08:00 BST (clocks went forward) = 07:00 UTC.
    seed.enqueue([after], utc(2026, 3, 28, 10))
    due = {r.story_id: r.due_at for r in seed.outbox()}
    assert due == {before: utc(2026, 3, 28, 8), after: utc(2026, 3, 29, 7)}

    with time_machine.travel(utc(2026, 3, 28, 7, 59, 59), tick=False):
        assert release_digests(seed.db_url) == 0
    with time_machine.travel(utc(2026, 3, 28, 8, 0), tick=False):
        assert release_digests(seed.db_url) == 1
    with time_machine.travel(utc(2026, 3, 29, 6, 59), tick=False):
        assert release_digests(seed.db_url) == 0
    with time_machine.travel(utc(2026, 3, 29, 7, 0), tick=False):
        assert release_digests(seed.db_url) == 1
    digests = [r for r in seed.outbox() if r.kind.startswith("digest:")]
    assert [d.kind.split(":", 1)[1].rsplit(":", 1)[0] for d in digests] == [
        "2026-03-28T08:00Z",
        "2026-03-29T07:00Z",
    ]
    # Not sent before they are due; each sent once.
    summary = send_due_alerts(seed.db_url, now=utc(2026, 3, 29, 7, 0), settings=alert_settings)
    assert summary.claimed == 2  # both digests are due (their targets are unreachable)


def test_disabled_topics_and_subscriptions_do_not_alert(seed: Any) -> None:
    topic = seed.topic("t")
    sub = seed.subscription("ops", ["t"])
    story = seed.story("x")
    seed.match(story, topic)
    with transaction(seed.db_url) as s:
        from ingest.store.models import Subscription

        s.get_one(Subscription, sub).enabled = False
    assert seed.enqueue([story]) == 0


def test_enqueue_commits_or_rolls_back_with_the_match(seed: Any) -> None:
    topic = seed.topic("t")
    seed.subscription("ops", ["t"])
    story = seed.story("x")
    seed.match(story, topic)
    try:
        with transaction(seed.db_url) as s:
            from ingest.pipeline.alerts import enqueue_alerts

            assert enqueue_alerts(s, [story]) == 1
            raise RuntimeError("tagging failed after matching")
    except RuntimeError:
        pass
    assert seed.outbox() == []
    assert seed.enqueue([story], datetime.now(UTC) - timedelta(seconds=1)) == 1


def test_concurrent_taggers_respect_the_budget_and_uniqueness(seed: Any) -> None:
    import threading

    topic = seed.topic("t")
    seed.subscription("ops", ["t"], budget_per_hour=3)
    stories = [seed.story(f"S{i}") for i in range(10)]
    for s in stories:
        seed.match(s, topic)
    barrier = threading.Barrier(2)
    now = utc(2026, 1, 1, 10)

    def tagger(ids: list[int]) -> None:
        barrier.wait()
        seed.enqueue(ids, now)

    # Overlapping batches: stories 3..6 are enqueued by both taggers.
    threads = [
        threading.Thread(target=tagger, args=(stories[:7],)),
        threading.Thread(target=tagger, args=(stories[3:],)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = seed.outbox()
    assert sorted(r.story_id for r in rows) == stories
    assert sum(r.status == "pending" for r in rows) == 3
