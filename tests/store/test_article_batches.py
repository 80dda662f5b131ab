"""Storing a batch of articles equals storing them one after another."""

from __future__ import annotations

from sqlalchemy import select

from ingest.store import articles_repo as repo
from ingest.store.db import transaction
from ingest.store.models import Article, ArticleVersion


def _values(key: str, text: str) -> repo.ArticleValues:
    return repo.ArticleValues(
        canonical_url=f"https://news.example/{key}",
        url_key=f"news.example/{key}",
        url=f"https://news.example/{key}?utm_source=x",
        source="news.example",
        site_name=None,
        title=f"Title {key}",
        text=text,
        author=None,
        published=None,
        language="en",
        content_hash=f"hash-{key}-{text}",
        raw_sha256=None,
        extraction_status="ok",
        extraction_error=None,
        extractor_version="test",
    )


def test_a_url_twice_in_one_batch_is_inserted_then_revised(db_url: str) -> None:
    batch = [_values("a", "first"), _values("b", "only"), _values("a", "second")]
    with transaction(db_url) as session:
        writes = repo.upsert_articles(session, batch)
    assert [w.outcome for w in writes] == ["new", "new", "revised"]
    assert writes[0].article_id == writes[2].article_id
    assert writes[0].article_id < writes[1].article_id  # ids follow the batch order
    assert [w.version for w in writes] == [1, 1, 2]
    with transaction(db_url) as session:
        texts = dict(session.execute(select(Article.url_key, Article.text)).all())
        versions = session.scalars(select(ArticleVersion.version).order_by("version")).all()
    assert texts == {"news.example/a": "second", "news.example/b": "only"}
    assert versions == [1, 1, 2]


def test_storing_the_same_batch_again_changes_nothing(db_url: str) -> None:
    batch = [_values("a", "first"), _values("b", "only")]
    with transaction(db_url) as session:
        first = repo.upsert_articles(session, batch)
    with transaction(db_url) as session:
        again = repo.upsert_articles(session, batch)
    assert [w.outcome for w in again] == ["unchanged", "unchanged"]
    assert [w.article_id for w in again] == [w.article_id for w in first]


def test_an_older_text_served_again_is_not_a_revision(db_url: str) -> None:
    with transaction(db_url) as session:
        repo.upsert_articles(session, [_values("a", "v1"), _values("a", "v2")])
    with transaction(db_url) as session:
        (write,) = repo.upsert_articles(session, [_values("a", "v1")])
    assert (write.outcome, write.version) == ("unchanged", 2)
