"""A small, known world of rows (feeds, stories, matches, alerts) for the page tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ingest.store.db import transaction
from ingest.store.models import (
    AlertOutbox,
    Article,
    ArticleTopic,
    Entry,
    Feed,
    Story,
    StoryArticle,
    StoryTopic,
    Subscription,
    Topic,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@dataclass(frozen=True)
class World:
    url: str
    now: datetime
    flood_story: int
    hostile_story: int
    old_story: int


def fill(url: str, now: datetime = NOW) -> World:
    """Three feeds (healthy, failing, silent), two topics, three stories, alerts."""
    with transaction(url) as s:
        healthy = Feed(
            url="https://river.example/feed.xml",
            title="River News",
            source="river.example",
            health="healthy",
            last_fetch_at=now - timedelta(minutes=5),
            last_success_at=now - timedelta(minutes=5),
            last_new_item_at=now - timedelta(hours=1),
            next_poll_at=now + timedelta(minutes=25),
            created_at=now - timedelta(days=60),
        )
        failing = Feed(
            url="https://coast.example/rss",
            title=HOSTILE,
            source="coast.example",
            health="failing",
            consecutive_failures=7,
            last_error_class="http",
            last_error="HTTP 503 from coast.example " + HOSTILE,
            last_fetch_at=now - timedelta(minutes=9),
            last_success_at=now - timedelta(days=4),
            last_new_item_at=now - timedelta(days=4),
            next_poll_at=now + timedelta(hours=2),
            created_at=now - timedelta(days=60),
        )
        silent = Feed(
            url="https://hill.example/atom",
            title="Hill Gazette",
            source="hill.example",
            health="healthy",
            last_fetch_at=now - timedelta(minutes=20),
            last_success_at=now - timedelta(minutes=20),
            last_new_item_at=now - timedelta(days=6),
            next_poll_at=now + timedelta(minutes=10),
            created_at=now - timedelta(days=60),
        )
        s.add_all([healthy, failing, silent])
        floods = Topic(name="floods", query='flood OR "river level"')
        quakes = Topic(name="quakes", query="earthquake")
        s.add_all([floods, quakes])
        s.flush()

        def article(
            feed: Feed, key: str, title: str, at: datetime, url: str | None = None
        ) -> Article:
            art = Article(
                canonical_url=url or f"https://{feed.source}/{key}",
                url_key=f"{key:0>64}"[:64],
                url=url or f"https://{feed.source}/{key}",
                source=feed.source,
                title=title,
                text=f"{title}. Body text.",
                published=at,
                first_seen_at=at,
                cluster_status="done",
                tag_status="done",
            )
            s.add(art)
            s.flush()
            s.add(
                Entry(
                    feed_id=feed.id,
                    item_key=key,
                    url=art.url,
                    title=title,
                    first_seen_at=at,
                    fetch_status="fetched",
                    article_id=art.id,
                )
            )
            return art

        flood_story = Story(
            headline="River bursts its banks in the valley",
            first_seen=now - timedelta(hours=5),
            last_seen=now - timedelta(hours=1),
            article_count=3,
            source_count=3,
        )
        hostile_story = Story(
            headline=HOSTILE,
            first_seen=now - timedelta(hours=3),
            last_seen=now - timedelta(hours=2),
            article_count=1,
            source_count=1,
        )
        old_story = Story(
            headline="Tremor felt across the hills",
            first_seen=now - timedelta(days=10),
            last_seen=now - timedelta(days=9),
            article_count=1,
            source_count=1,
        )
        s.add_all([flood_story, hostile_story, old_story])
        s.flush()
        a1 = article(healthy, "a1", "River bursts its banks", now - timedelta(hours=5))
        a2 = article(failing, "a2", "Flood hits the valley", now - timedelta(hours=3))
        a3 = article(silent, "a3", "Valley flood: river level rising", now - timedelta(hours=1))
        a4 = article(healthy, "a4", HOSTILE, now - timedelta(hours=3), url="javascript:alert(1)")
        a5 = article(silent, "a5", "Tremor felt across the hills", now - timedelta(days=10))
        for art, story, role in (
            (a1, flood_story, "original"),
            (a2, flood_story, "update"),
            (a3, flood_story, "duplicate"),
            (a4, hostile_story, "original"),
            (a5, old_story, "original"),
        ):
            art.story_id = story.id
            s.add(StoryArticle(article_id=art.id, story_id=story.id, role=role, similarity=0.8))
        snippet = {
            "field": "title",
            "text": "River bursts its banks",
            "spans": [[0, 5]],
            "cut_before": False,
            "cut_after": True,
        }
        hits = [{"field": "title", "start": 0, "end": 5, "term": "river"}]
        for art, topic in ((a1, floods), (a2, floods), (a3, floods), (a5, quakes)):
            s.add(
                ArticleTopic(
                    article_id=art.id,
                    topic_id=topic.id,
                    hits=hits,
                    snippet=snippet,
                    matched_at=art.first_seen_at,
                )
            )
        s.add(
            StoryTopic(
                story_id=flood_story.id,
                topic_id=floods.id,
                article_id=a1.id,
                hits=hits,
                snippet=snippet,
                first_matched_at=now - timedelta(hours=5),
            )
        )
        s.add(
            StoryTopic(
                story_id=hostile_story.id,
                topic_id=floods.id,
                article_id=a4.id,
                hits=[{"field": "title", "start": 0, "end": 8, "term": HOSTILE}],
                snippet={"field": "title", "text": HOSTILE, "spans": [[0, 8], [99, 300]]},
                first_matched_at=now - timedelta(days=2),
            )
        )
        s.add(
            StoryTopic(
                story_id=old_story.id,
                topic_id=quakes.id,
                article_id=a5.id,
                first_matched_at=now - timedelta(days=10),
            )
        )
        sub = Subscription(
            name="desk", channel="email", target="desk@example.org", topics=["floods"]
        )
        s.add(sub)
        s.flush()
        s.add_all(
            [
                AlertOutbox(
                    story_id=flood_story.id,
                    subscription_id=sub.id,
                    kind="new",
                    status="sent",
                    idempotency_key="k1",
                    attempts=1,
                    created_at=now - timedelta(hours=5),
                    sent_at=now - timedelta(hours=5),
                ),
                AlertOutbox(
                    story_id=hostile_story.id,
                    subscription_id=sub.id,
                    kind="new",
                    status="dead",
                    idempotency_key="k2",
                    attempts=5,
                    last_error="smtp: 550 mailbox unavailable " + HOSTILE,
                    created_at=now - timedelta(hours=3),
                ),
                AlertOutbox(
                    story_id=old_story.id,
                    subscription_id=sub.id,
                    kind="digest:2026-11-28",
                    status="held",
                    idempotency_key="k3",
                    created_at=now - timedelta(hours=1),
                ),
            ]
        )
    return World(url, now, flood_story.id, hostile_story.id, old_story.id)
