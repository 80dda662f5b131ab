"""The fetch+extract stage against the demo sites on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from ingest.config import Settings
from ingest.demo.server import ServedCorpus, serve_corpus
from ingest.pipeline.fetch import claim_pending_entries, fetch_and_extract
from ingest.store import articles_repo
from ingest.store.db import transaction
from ingest.store.models import Article, ArticleVersion, Entry, Feed, RawPage
from ingest.store.upsert import insert_ignore

LEDGER_MAIN = "/world/2025/sep/25/microsoft-cuts-off-israeli-military-unit-azure-surveillance"


@pytest.fixture(scope="module")
def served() -> Iterator[ServedCorpus]:
    with serve_corpus(port=0) as served:
        yield served


@pytest.fixture
def settings() -> Settings:
    return Settings(allow_networks="127.0.0.0/8", per_host_delay_s=0.0, extract_workers=1)


def add_entries(db_url: str, urls: list[str]) -> list[int]:
    with transaction(db_url) as s:
        insert_ignore(
            s,
            Feed,
            [{"id": 1, "url": "https://ledger.example/rss", "source": "ledger.example"}],
            ["url"],
        )
        rows = [
            {"feed_id": 1, "item_key": f"k{i}", "url": u, "title": None} for i, u in enumerate(urls)
        ]
        insert_ignore(s, Entry, rows, ["feed_id", "item_key"])
        return list(s.scalars(select(Entry.id).order_by(Entry.id)))


def count(db_url: str, model: type) -> int:
    with transaction(db_url) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_fetch_extract_store_and_rerun(
    db_url: str, served: ServedCorpus, settings: Settings
) -> None:
    ledger = next(o for o in served.outlets if o.outlet.key == "ledger")
    main = ledger.base + LEDGER_MAIN
    urls = [
        main,
        main + "?utm_source=rss&utm_medium=feed",  # the same document: linked, not fetched
        ledger.base + "/no/such/page",  # 404
        "http://169.254.169.254/latest/meta-data",  # the SSRF guard refuses it
    ]
    ids = add_entries(db_url, urls)
    claimed = claim_pending_entries(db_url, 10)
    assert claimed == ids
    assert claim_pending_entries(db_url, 10) == []  # leased: a second worker gets nothing

    # The first page alone first, so the tracking-parameter twin is linked without a fetch.
    first = fetch_and_extract(db_url, [ids[0]], settings)
    assert first.new_articles == 1
    summary = fetch_and_extract(db_url, ids[1:], settings)
    assert summary.linked == 1
    assert summary.failed == 2
    assert set(summary.errors) == {"http_4xx", "blocked"}

    with transaction(db_url) as s:
        article = s.scalars(select(Article)).one()
        assert "Unit 8200" in (article.text or "")
        assert "cookie" not in (article.text or "").lower()
        assert article.source == "ledger.example"
        assert article.canonical_url.endswith(LEDGER_MAIN)
        html = articles_repo.load_raw_page(s, article.raw_sha256 or "")
        assert html is not None and b"<html" in html.lower()
        statuses = dict(s.execute(select(Entry.url, Entry.fetch_status)).all())
        assert statuses[urls[0]] == statuses[urls[1]] == "fetched"
        assert statuses[urls[2]] == statuses[urls[3]] == "failed"

    # Rerunning the same ids (an Airflow retry) changes nothing.
    again = fetch_and_extract(db_url, ids, settings)
    assert again.entries == 0
    assert count(db_url, Article) == 1
    assert count(db_url, RawPage) == 1


def test_revision_is_a_new_version_not_a_new_article(
    db_url: str, served: ServedCorpus, settings: Settings
) -> None:
    ledger = next(o for o in served.outlets if o.outlet.key == "ledger")
    revision_paths = [p for p in ledger.outlet.routes if p.startswith(LEDGER_MAIN + "/revisions/")]
    assert revision_paths, "the corpus has an earlier version of the ledger article"
    ids = add_entries(db_url, [ledger.base + revision_paths[0]])
    assert fetch_and_extract(db_url, ids, settings).new_articles == 1
    # The feed item changes (the poller requeues the same entry); the page now serves
    # the revised text.
    with transaction(db_url) as s:
        s.execute(
            Entry.__table__.update()
            .where(Entry.id == ids[0])
            .values(fetch_status="pending", url=ledger.base + LEDGER_MAIN)
        )
    summary = fetch_and_extract(db_url, ids, settings)
    assert summary.revised == 1, summary
    with transaction(db_url) as s:
        article = s.scalars(select(Article)).one()
        assert article.version == 2
        assert s.scalar(select(func.count()).select_from(ArticleVersion)) == 2


def test_reextract_from_stored_raw_html(
    db_url: str, served: ServedCorpus, settings: Settings
) -> None:
    from ingest.pipeline.fetch import reextract

    ledger = next(o for o in served.outlets if o.outlet.key == "ledger")
    ids = add_entries(db_url, [ledger.base + LEDGER_MAIN])
    fetch_and_extract(db_url, ids, settings)
    first = reextract(db_url, workers=1)
    assert (first.articles, first.revised) == (1, 0)
    # As if an older extractor had produced worse text: re-extraction makes a new version.
    with transaction(db_url) as s:
        s.execute(Article.__table__.update().values(text="old", content_hash="0" * 64))
        s.execute(ArticleVersion.__table__.update().values(text="old", content_hash="0" * 64))
    second = reextract(db_url, workers=1)
    assert second.revised == 1
    with transaction(db_url) as s:
        article = s.scalars(select(Article)).one()
        assert article.version == 2 and "Unit 8200" in (article.text or "")


def test_claims_take_turns_across_feeds(db_url: str) -> None:
    """A batch holds the first entry of every feed before the second of any, so one slow
    (polite) host does not serialise a whole batch."""
    with transaction(db_url) as s:
        insert_ignore(
            s,
            Feed,
            [
                {"id": 1, "url": "https://a.example/rss", "source": "a.example"},
                {"id": 2, "url": "https://b.example/rss", "source": "b.example"},
            ],
            ["url"],
        )
        rows = [
            {"feed_id": feed, "item_key": f"{feed}-{i}", "url": f"https://x.example/{feed}/{i}"}
            for feed in (1, 2)
            for i in range(3)
        ]
        insert_ignore(s, Entry, rows, ["feed_id", "item_key"])
    first = claim_pending_entries(db_url, 2)
    with transaction(db_url) as s:
        feeds = {s.get_one(Entry, i).feed_id for i in first}
    assert feeds == {1, 2}
    rest = claim_pending_entries(db_url, 10)
    assert len(rest) == 4 and not set(rest) & set(first)


def test_changed_feed_item_is_fetched_again_as_a_revision(
    db_url: str, served: ServedCorpus, settings: Settings
) -> None:
    """A feed item whose title changes after its page was fetched is queued again; the
    changed page becomes a new version of the same article (not a new article), and an
    unchanged repeat of the item queues nothing."""
    from ingest.store.feeds_repo import insert_entries_bulk

    ledger = next(o for o in served.outlets if o.outlet.key == "ledger")
    revision = next(p for p in ledger.outlet.routes if p.startswith(LEDGER_MAIN + "/revisions/"))
    with transaction(db_url) as s:
        insert_ignore(
            s, Feed, [{"id": 1, "url": "https://ledger.example/rss", "source": "ledger"}], ["url"]
        )
    item = {"key": "k" * 64, "url": ledger.base + revision, "title": "First title"}
    with transaction(db_url) as s:
        assert insert_entries_bulk(s, {1: [item]}) == {1: 1}
    assert fetch_and_extract(db_url, claim_pending_entries(db_url, 10), settings).new_articles == 1
    with transaction(db_url) as s:  # the same item again: nothing to do
        assert insert_entries_bulk(s, {1: [item]}) == {1: 0}
    assert claim_pending_entries(db_url, 10) == []
    # The publisher revises the article: new title, and the link now serves the new text.
    revised = {**item, "title": "Revised title", "url": ledger.base + LEDGER_MAIN}
    with transaction(db_url) as s:
        assert insert_entries_bulk(s, {1: [revised]}) == {1: 0}  # not a new item
    again = claim_pending_entries(db_url, 10)
    assert len(again) == 1
    assert fetch_and_extract(db_url, again, settings).revised == 1
    with transaction(db_url) as s:
        assert s.scalar(select(func.count()).select_from(Article)) == 1
        assert s.scalars(select(Article)).one().version == 2
