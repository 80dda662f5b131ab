"""The pages, JSON API and metrics on a real SQLite database filled with known rows."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ingest.web import create_app
from tests.web.web_world import World


@pytest.fixture
def client(world: World) -> TestClient:
    return TestClient(create_app(world.url, clock=lambda: world.now))


def test_index_redirects_to_stories(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/stories"


def test_stories_default_window_and_topic_filter(client: TestClient, world: World) -> None:
    r = client.get("/stories")
    assert r.status_code == 200
    assert "River bursts its banks in the valley" in r.text
    assert "Tremor felt" not in r.text  # last seen 9 days ago: outside the 7-day default
    r = client.get("/stories", params={"since": "30d", "topic": "quakes"})
    assert "Tremor felt across the hills" in r.text
    assert "River bursts" not in r.text
    api = client.get("/api/stories", params={"since": "all"}).json()
    assert {s["id"] for s in api} == {world.flood_story, world.hostile_story, world.old_story}
    flood = next(s for s in api if s["id"] == world.flood_story)
    assert flood["topics"] == ["floods"] and flood["source_count"] == 3
    only_old = client.get("/api/stories", params={"since": "all", "until": "2026-11-20"}).json()
    assert [s["id"] for s in only_old] == [world.old_story]


def test_bad_filter_is_a_clear_400(client: TestClient) -> None:
    r = client.get("/api/stories", params={"since": "yesterday"})
    assert r.status_code == 400
    assert "expected 24h, 7d" in r.json()["detail"]
    page = client.get("/stories", params={"since": "yesterday"})
    assert page.status_code == 400 and "expected 24h, 7d" in page.text


def test_story_timeline_outlets_and_why(client: TestClient, world: World) -> None:
    r = client.get(f"/stories/{world.flood_story}")
    assert r.status_code == 200
    html = r.text
    # the three outlets, in the order they reported
    assert html.index("river.example") < html.index("coast.example") < html.index("hill.example")
    assert html.count("<circle") == 3  # one timeline dot per article
    assert "<mark>River</mark> bursts its banks" in html  # the snippet, hit marked
    assert "flood OR &#34;river level&#34;" in html  # the topic query, escaped
    data = client.get(f"/api/stories/{world.flood_story}").json()
    assert [a["role"] for a in data["articles"]] == ["original", "update", "duplicate"]
    assert [o["source"] for o in data["outlets"]] == [
        "river.example",
        "coast.example",
        "hill.example",
    ]
    assert data["matches"][0]["topic"] == "floods"
    assert data["matches"][0]["hits"][0]["term"] == "river"


def test_missing_story_is_404(client: TestClient) -> None:
    assert client.get("/stories/999999").status_code == 404
    assert client.get("/api/stories/999999").json() == {"detail": "no story 999999"}


def test_feed_derived_text_is_escaped_everywhere(client: TestClient, world: World) -> None:
    pages = [
        "/stories?since=all",
        f"/stories/{world.hostile_story}",
        "/feeds",
        "/alerts",
        "/topics",
    ]
    for path in pages:
        html = client.get(path).text
        assert "<script>" not in html, path
        assert "<img src=x" not in html, path
    story = client.get(f"/stories/{world.hostile_story}").text
    assert "&lt;script&gt;" in story
    # a javascript: URL from a feed is never made a link
    assert "javascript:" not in story
    # out-of-range snippet spans are clamped, never raise
    assert "<mark>&lt;script&gt;</mark>" in story


def test_security_headers_forbid_scripts(client: TestClient) -> None:
    csp = client.get("/feeds").headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp


def test_feeds_page_health_errors_and_items_per_day(client: TestClient) -> None:
    html = client.get("/feeds").text
    assert "HTTP 503 from coast.example" in html
    assert "7 failures in a row" in html
    assert html.count("<svg") == 3  # one items-per-day chart per feed
    feeds = {f["source"]: f for f in client.get("/api/feeds", params={"days": 14}).json()}
    assert feeds["coast.example"]["health"] == "failing"
    assert feeds["river.example"]["items_per_day"][-1] == 2  # a1 and a4, both today
    assert sum(feeds["hill.example"]["items_per_day"]) == 2  # a3 today, a5 10 days ago
    assert len(feeds["hill.example"]["days"]) == 14


def test_alerts_page_states_and_failures(client: TestClient) -> None:
    data = client.get("/api/alerts").json()
    assert data["counts"]["sent"] == 1
    assert data["counts"]["dead"] == 1
    assert data["counts"]["held"] == 1
    assert data["counts"]["pending"] == 0
    failed = client.get("/api/alerts", params={"failed": True}).json()["alerts"]
    assert [a["status"] for a in failed] == ["dead"]
    html = client.get("/alerts").text
    assert "550 mailbox unavailable" in html
    held = client.get("/alerts", params={"status": "held"}).text
    assert "digest:2026-11-28" in held


def test_topics_counts_chart_and_coverage(client: TestClient) -> None:
    topics = {t["name"]: t for t in client.get("/api/topics").json()}
    assert topics["floods"]["last_24h"] == 1  # the hostile story matched 2 days ago
    assert topics["floods"]["last_7d"] == 2
    assert topics["quakes"]["last_7d"] == 0
    assert topics["floods"]["per_day"][-1] == 1 and topics["floods"]["per_day"][-3] == 1
    assert topics["quakes"]["per_day"][-11] == 1
    html = client.get("/topics").text
    assert html.count("<svg") == 2
    assert re.search(r"<rect[^>]*>\s*<title>2026-11-28: 1</title>", html)

    coverage = {c["topic"]: c for c in client.get("/api/topics/coverage").json()}
    floods = coverage["floods"]
    states = {f["source"]: f["state"] for f in floods["feeds"]}
    assert states == {"river.example": "ok", "coast.example": "failing", "hill.example": "silent"}
    assert sorted(floods["broken_sources"]) == [
        "https://coast.example/rss",
        "https://hill.example/atom",
    ]
    assert floods["all_sources_broken"] is False
    # quakes' only source is silent: the topic is blind, and the page says so
    assert coverage["quakes"]["all_sources_broken"] is True
    assert "Blind:" in html


def test_metrics_endpoint(client: TestClient) -> None:
    r = client.get("/metrics")
    assert r.status_code == 200
    text = r.text
    assert 'newsmon_feeds{health="failing"} 1.0' in text
    assert 'newsmon_feeds{health="healthy"} 2.0' in text
    assert "newsmon_stories 3.0" in text
    assert "newsmon_articles 5.0" in text
    assert 'newsmon_alerts{state="dead"} 1.0' in text
    assert 'newsmon_entries{status="fetched"} 5.0' in text
    assert "newsmon_extraction_failures 0.0" in text


def test_pages_never_write(world: World) -> None:
    from sqlalchemy import text

    from ingest.store.queries import read_session

    with read_session(world.url) as session, pytest.raises(Exception, match="readonly"):
        session.execute(text("DELETE FROM stories"))


def test_database_problem_is_a_503_with_a_message(tmp_path: Any) -> None:
    client = TestClient(create_app(f"sqlite:///{tmp_path}/empty.db"))
    r = client.get("/api/feeds")
    assert r.status_code == 503
    assert "newsmon db upgrade" in r.json()["detail"]
    assert "newsmon db upgrade" in client.get("/feeds").text


def test_mounted_under_a_prefix_links_stay_inside(world: World) -> None:
    from fastapi import FastAPI

    outer = FastAPI()
    outer.mount("/newsmon", create_app(world.url, clock=lambda: world.now))
    client = TestClient(outer)
    r = client.get("/newsmon/", follow_redirects=False)
    assert r.headers["location"] == "/newsmon/stories"
    html = client.get("/newsmon/stories", params={"since": "all"}).text
    assert f'href="/newsmon/stories/{world.flood_story}"' in html
    assert 'href="/newsmon/feeds"' in html
    assert client.get("/newsmon/api/feeds").status_code == 200


def test_empty_window_offers_all_stories(client: TestClient) -> None:
    html = client.get("/stories", params={"since": "24h", "topic": "quakes"}).text
    assert "No stories for topic quakes in this period." in html
    assert 'href="/stories?since=all&amp;topic=quakes"' in html
    assert "Show all 1 stories" in html
