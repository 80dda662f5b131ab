"""The poll stage end to end: loopback feed server → poll_due → rows (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from ingest.cli import app
from ingest.config import Settings, get_settings
from ingest.pipeline.poll import claim_due_feeds, poll_due, poll_feeds
from ingest.store import feeds_repo
from ingest.store.db import transaction
from ingest.store.models import Entry, Feed, FetchLog

MEMORY_BUDGET = 64 * 1024 * 1024


def rss(*items: str, title: str = "Feed") -> bytes:
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>http://127.0.0.2/</link>{''.join(items)}</channel></rss>"
    ).encode()


def item(n: int, pub: str = "Tue, 02 Jan 2024 10:00:00 GMT", guid: bool = True) -> str:
    g = f"<guid>urn:item:{n}</guid>" if guid else ""
    return (
        f"<item><title>Item {n}</title><link>http://127.0.0.2/a/{n}</link>{g}"
        f"<pubDate>{pub}</pubDate></item>"
    )


def add_feeds(db_url: str, *urls: str) -> list[int]:
    with transaction(db_url) as session:
        feeds_repo.add_feed_urls(session, list(urls))
        return [session.scalar(select(Feed.id).where(Feed.url == u)) for u in urls]


def make_due(db_url: str, *feed_ids: int) -> None:
    with transaction(db_url) as session:
        for fid in feed_ids:
            feeds_repo.update_feed(session, fid, {"next_poll_at": datetime.now(UTC)})


def feed(db_url: str, feed_id: int) -> Feed:
    with transaction(db_url) as session:
        row = session.get(Feed, feed_id)
        assert row is not None
        session.expunge(row)
        return row


def entries(db_url: str, feed_id: int | None = None) -> list[Entry]:
    with transaction(db_url) as session:
        query = select(Entry).order_by(Entry.id)
        if feed_id is not None:
            query = query.where(Entry.feed_id == feed_id)
        rows = list(session.scalars(query))
        session.expunge_all()
        return rows


def test_conditional_get_and_validators_refreshed(
    db_url: str, settings: Settings, internet: Any, hs: ModuleType
) -> None:
    seen: list[dict[str, str]] = []
    body = rss(item(1), item(2))

    def handler(conn: Any, request: Any) -> None:
        seen.append(request.headers)
        if request.headers.get("if-none-match") == '"v1"':
            hs.send_head(conn, 304, {"ETag": '"v2"', "Content-Length": "0"})
        else:
            hs.send_head(
                conn,
                200,
                {
                    "ETag": '"v1"',
                    "Content-Length": str(len(body)),
                    "Last-Modified": "Tue, 02 Jan 2024 10:00:00 GMT",
                },
            )
            conn.sendall(body)

    internet.routes["/feed"] = handler
    (fid,) = add_feeds(db_url, internet.url("/feed"))
    first = poll_due(db_url, settings)
    assert (first.feeds, first.ok, first.new_items) == (1, 1, 2)
    row = feed(db_url, fid)
    assert row.etag == '"v1"' and row.health == "healthy" and row.title == "Feed"
    assert row.next_poll_at > datetime.now(UTC) + timedelta(minutes=4)
    assert poll_due(db_url, settings).feeds == 0  # not due yet

    make_due(db_url, fid)
    second = poll_due(db_url, settings)
    assert (second.not_modified, second.new_items) == (1, 0)
    assert seen[-1]["if-none-match"] == '"v1"'
    row = feed(db_url, fid)
    assert row.etag == '"v2"'  # refreshed from the 304
    assert row.last_modified == "Tue, 02 Jan 2024 10:00:00 GMT"
    assert len(entries(db_url, fid)) == 2
    with transaction(db_url) as session:
        logs = list(session.scalars(select(FetchLog).order_by(FetchLog.id)))
        assert [(log.status_code, log.new_items, log.not_modified) for log in logs] == [
            (200, 2, False),
            (304, 0, True),
        ]


def test_unchanged_body_and_rewritten_pubdates_add_nothing(
    db_url: str, settings: Settings, internet: Any, hs: ModuleType
) -> None:
    state = {"n": 0}

    def handler(conn: Any, request: Any) -> None:
        # A publisher that stamps every item with "now" on every fetch.
        state["n"] += 1
        pub = (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=state["n"])).strftime(
            "%a, %d %b %Y %H:%M:%S GMT"
        )
        body = rss(item(1, pub, guid=False), item(2, pub, guid=False))
        hs.respond(200, body)(conn, request)

    internet.routes["/stamped"] = handler
    internet.routes["/static"] = hs.respond(200, rss(item(7)))
    stamped, static = add_feeds(db_url, internet.url("/stamped"), internet.url("/static"))
    assert poll_due(db_url, settings).new_items == 3
    make_due(db_url, stamped, static)
    again = poll_due(db_url, settings)
    assert (again.new_items, again.unchanged, again.ok) == (0, 1, 2)
    assert len(entries(db_url)) == 3


def test_gone_and_blocked_feeds_are_disabled_with_reason(
    db_url: str, settings: Settings, internet: Any, hs: ModuleType
) -> None:
    internet.routes["/gone"] = hs.respond(410, b"")
    internet.routes["/sneaky"] = hs.redirect("http://169.254.169.254/latest/meta-data/")
    internet.routes["/flaky"] = hs.respond(503, b"", Retry_After="7200")
    gone, sneaky, flaky = add_feeds(
        db_url, internet.url("/gone"), internet.url("/sneaky"), internet.url("/flaky")
    )
    summary = poll_due(db_url, settings)
    assert summary.failed == 3 and summary.disabled == 2
    assert summary.errors == {"http_4xx": 1, "blocked": 1, "http_5xx": 1}
    assert feed(db_url, gone).health == "disabled"
    assert "410" in (feed(db_url, gone).disabled_reason or "")
    blocked = feed(db_url, sneaky)
    assert blocked.health == "disabled" and not blocked.enabled
    assert (blocked.disabled_reason or "").startswith("blocked")
    transient = feed(db_url, flaky)
    assert transient.enabled and transient.health == "degraded"
    assert transient.next_poll_at >= datetime.now(UTC) + timedelta(seconds=7000)
    make_due(db_url, gone, sneaky, flaky)
    assert claim_due_feeds(db_url, 10) == [flaky]  # disabled feeds are never claimed


def test_permanent_redirect_moves_the_feed_only_when_valid(
    db_url: str, settings: Settings, internet: Any, hs: ModuleType
) -> None:
    internet.routes["/old"] = hs.redirect("/new", 301)
    internet.routes["/new"] = hs.respond(200, rss(item(1)))
    internet.routes["/old-broken"] = hs.redirect("/not-a-feed", 308)
    internet.routes["/not-a-feed"] = hs.respond(200, b"<html>hi</html>")
    internet.routes["/tmp"] = hs.redirect("/new", 302)
    moved, broken, tmp = add_feeds(
        db_url, internet.url("/old"), internet.url("/old-broken"), internet.url("/tmp")
    )
    summary = poll_due(db_url, settings)
    assert summary.errors == {"parse": 1}
    assert feed(db_url, moved).url == internet.url("/new")
    assert feed(db_url, broken).url == internet.url("/old-broken")
    assert feed(db_url, tmp).url == internet.url("/tmp")


def test_hostile_feeds_end_classified_or_clean(db_url: str, internet: Any, hs: ModuleType) -> None:
    settings = Settings(
        allow_networks="127.0.0.2/32",
        fetch_deadline_s=3.0,
        per_host_delay_s=0.0,
        per_host_concurrency=8,
        max_feed_bytes=10 << 20,
    )
    entity = "x" * 100_000
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY big "{entity}">]>'
        '<rss version="2.0"><channel><title>bomb</title>'
        + "<item><title>&big;</title><guid>b</guid><description>&big;</description></item>" * 2000
        + "</channel></rss>"
    ).encode()
    many = (
        b'<rss version="2.0"><channel><title>many</title>'
        + b"".join(b"<item><link>http://m.example/%d</link></item>" % i for i in range(200_000))
        + b"</channel></rss>"
    )
    nul = rss(
        "<item><title>a\x00b</title><guid>n\x00</guid><link>http://127.0.0.2/\x00</link>"
        "<description>x\x00y</description></item>"
    )
    js = rss(
        "<item><title>js</title><link>javascript:alert(1)</link></item>",
        "<item><title>data</title><link>data:text/html,hi</link></item>",
    )
    head = b'<rss version="2.0"><channel><title>t</title><item><link>http://l.example/'
    internet.routes["/bomb"] = hs.respond(200, bomb)
    internet.routes["/many"] = hs.respond(200, many)
    internet.routes["/nul"] = hs.respond(200, nul)
    internet.routes["/js"] = hs.respond(200, js)
    internet.routes["/biglink"] = hs.stream_forever(head + b"a" * 65536)
    internet.routes["/gzbomb"] = hs.respond(200, hs.gzip_bomb(), Content_Encoding="gzip")
    ids = add_feeds(
        db_url, *(internet.url(p) for p in ("/bomb", "/many", "/nul", "/js", "/biglink", "/gzbomb"))
    )

    started = time.monotonic()
    with hs.RssPeak() as memory:
        summary = poll_feeds(db_url, ids, settings)
    assert time.monotonic() - started < settings.fetch_deadline_s + 1 + 2  # + DB writes
    assert memory.growth < MEMORY_BUDGET, f"RSS grew {memory.growth / 1e6:.0f} MB"
    assert summary.errors == {"too_large": 2}
    by_feed = {fid: entries(db_url, fid) for fid in ids}
    _, many_id, _, js_id, big_id, gz_id = ids
    assert len(by_feed[many_id]) == settings.max_feed_entries
    assert by_feed[big_id] == [] and by_feed[gz_id] == []
    assert feed(db_url, big_id).last_error_class == "too_large"
    for rows in by_feed.values():
        for e in rows:
            for value in (e.title, e.summary, e.url):
                assert value is None or "\x00" not in value
            assert e.url is None or e.url.startswith(("http://", "https://"))
            assert len(e.title or "") <= 1000 and len(e.summary or "") <= 20_000
    assert [e.url for e in by_feed[js_id]] == [None, None]
    assert all(e.fetch_status == "skipped" for e in by_feed[js_id])


def test_claims_are_disjoint(db_url: str) -> None:
    add_feeds(db_url, *(f"http://127.0.0.2/f{i}" for i in range(10)))
    first = claim_due_feeds(db_url, 6)
    second = claim_due_feeds(db_url, 6)
    assert len(first) == 6 and len(second) == 4 and not set(first) & set(second)


def test_cli_poll_health_and_fetch(
    db_url: str, internet: Any, hs: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSMON_ALLOW_NETWORKS", "127.0.0.2/32")
    monkeypatch.setenv("NEWSMON_PER_HOST_DELAY_S", "0")
    monkeypatch.setenv("NEWSMON_FETCH_DEADLINE_S", "3")
    get_settings.cache_clear()
    internet.routes["/feed"] = hs.respond(200, rss(item(1), item(2)), ETag='"e"')
    internet.routes["/gone"] = hs.respond(410, b"")
    add_feeds(db_url, internet.url("/feed"), internet.url("/gone"))
    runner = CliRunner()

    result = runner.invoke(app, ["poll", "--db", db_url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["new_items"] == 2

    result = runner.invoke(app, ["poll", "--db", db_url])  # nothing due now
    assert result.exit_code == 0 and "polled 0 feeds" in result.output

    result = runner.invoke(app, ["feeds", "health", "--db", db_url, "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert {r["state"] for r in rows} == {"healthy", "disabled"}
    assert max(r["items_per_day"] for r in rows) > 0
    result = runner.invoke(app, ["feeds", "health", "--db", db_url])
    assert result.exit_code == 0 and "disabled" in result.output

    result = runner.invoke(app, ["fetch", internet.url("/feed"), "--json"])
    report = json.loads(result.output)
    assert result.exit_code == 0 and report["ok"] and report["status"] == 200
    assert report["bytes"] > 0 and report["final_url"] == internet.url("/feed")
    result = runner.invoke(app, ["fetch", "http://169.254.169.254/", "--json"])
    report = json.loads(result.output)
    assert result.exit_code == 1 and not report["ok"] and report["error_class"] == "blocked"
    result = runner.invoke(app, ["fetch", internet.url("/gone")])
    assert result.exit_code == 1 and "http_4xx" in result.output


def test_poll_progress_is_reported(
    db_url: str, settings: Settings, internet: Any, hs: ModuleType
) -> None:
    internet.routes["/feed"] = hs.respond(200, rss(item(1)))
    add_feeds(db_url, *(internet.url(f"/feed?{i}") for i in range(5)))
    calls: list[tuple[int, int]] = []
    summary = poll_due(db_url, settings, progress=lambda d, t: calls.append((d, t)))
    assert summary.feeds == 5 and calls[-1] == (5, 5)
    with transaction(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Entry)) == 5
