"""The cluster stage on SQLite and PostgreSQL: same decisions as the in-memory state,
idempotent, safe to retry, and safe with two workers at once."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from ingest.dedupe import Clusterer, Doc
from ingest.dedupe.stream import cluster_records, parse_time
from ingest.pipeline.cluster import cluster_all_pending, cluster_pending
from ingest.store import cluster_state
from ingest.store.db import transaction
from ingest.store.models import Article, LshBand, Story, StoryArticle, StoryTerm, TermStat


def _insert(db_url: str, records: list[dict[str, Any]]) -> dict[str, int]:
    ids: dict[str, int] = {}
    with transaction(db_url) as session:
        for r in records:
            url = f"https://{r['source']}.example/{r['id']}"
            article = Article(
                canonical_url=url,
                url_key=hashlib.sha256(url.encode()).hexdigest(),
                url=url,
                source=r["source"],
                title=r["title"],
                text=r["text"],
                published=parse_time(r["published"]),
            )
            session.add(article)
            session.flush()
            ids[r["id"]] = article.id
    return ids


def _results(db_url: str, ids: dict[str, int]) -> tuple[set[frozenset[str]], dict[str, str | None]]:
    names = {v: k for k, v in ids.items()}
    with transaction(db_url) as session:
        rows = session.execute(select(Article.id, Article.story_id, Article.duplicate_of)).all()
    groups: dict[int, set[str]] = {}
    dups: dict[str, str | None] = {}
    for aid, sid, dup in rows:
        assert sid is not None
        groups.setdefault(sid, set()).add(names[aid])
        dups[names[aid]] = names[dup] if dup else None
    return {frozenset(g) for g in groups.values()}, dups


def _memory(records: list[dict[str, Any]]) -> tuple[set[frozenset[str]], dict[str, str | None]]:
    groups: dict[str, set[str]] = {}
    dups: dict[str, str | None] = {}
    for out in cluster_records(records):
        groups.setdefault(out["story"], set()).add(out["id"])
        dups[out["id"]] = out["duplicate_of"]
    return {frozenset(g) for g in groups.values()}, dups


def _snapshot(db_url: str) -> dict[str, Any]:
    with transaction(db_url) as session:
        return {
            "articles": session.execute(
                select(
                    Article.id, Article.story_id, Article.duplicate_of, Article.cluster_status
                ).order_by(Article.id)
            ).all(),
            "stories": session.execute(
                select(
                    Story.id,
                    Story.article_count,
                    Story.source_count,
                    Story.headline,
                    Story.first_seen,
                    Story.last_seen,
                ).order_by(Story.id)
            ).all(),
            "story_articles": session.scalar(select(func.count()).select_from(StoryArticle)),
            "lsh": session.scalar(select(func.count()).select_from(LshBand)),
            "terms": session.scalar(select(func.count()).select_from(StoryTerm)),
            "df": session.scalar(select(func.sum(TermStat.df))),
        }


def _check_consistent(db_url: str) -> None:
    with transaction(db_url) as session:
        per_story = Counter(sid for (sid,) in session.execute(select(StoryArticle.story_id)).all())
        stories = session.execute(select(Story.id, Story.article_count)).all()
        n_articles = session.scalar(select(func.count()).select_from(Article))
    assert sum(per_story.values()) == n_articles  # one story_articles row per article
    assert dict(stories) == dict(per_story)


def test_sql_state_gives_the_same_output_as_memory(db_url: str, basil_stream: Any) -> None:
    stream = basil_stream(6)
    ids = _insert(db_url, stream)
    summary = cluster_all_pending(db_url, batch=7)
    assert summary.articles == len(stream)
    assert _results(db_url, ids) == _memory(stream)
    _check_consistent(db_url)


def test_running_again_changes_nothing(db_url: str, basil_stream: Any) -> None:
    stream = basil_stream(3)
    _insert(db_url, stream)
    cluster_all_pending(db_url, batch=5)
    before = _snapshot(db_url)
    assert cluster_pending(db_url, limit=50).articles == 0
    assert _snapshot(db_url) == before


def test_a_batch_that_fails_midway_leaves_no_trace(db_url: str, basil_stream: Any) -> None:
    stream = basil_stream(4)
    ids = _insert(db_url, stream)
    cluster_pending(db_url, limit=4)
    before = _snapshot(db_url)

    class CrashError(Exception):
        pass

    with pytest.raises(CrashError), transaction(db_url) as session:  # a worker dies mid-batch
        cluster_state.lock_clustering(session)
        clusterer = Clusterer(cluster_state.SqlClusterState(session))
        for article in cluster_state.claim_pending_articles(session, 6):
            clusterer.process(
                Doc(
                    article.id,
                    article.title or "",
                    article.text or "",
                    article.published or article.first_seen_at,
                    article.source,
                )
            )
        raise CrashError
    assert _snapshot(db_url) == before
    cluster_all_pending(db_url, batch=3)
    assert _results(db_url, ids) == _memory(stream)
    _check_consistent(db_url)


def test_failed_extractions_are_skipped(db_url: str, basil_stream: Any) -> None:
    stream = basil_stream(1)
    ids = _insert(db_url, stream)
    with transaction(db_url) as session:
        first = session.get(Article, ids[stream[0]["id"]])
        assert first is not None
        first.extraction_status = "failed"
    summary = cluster_all_pending(db_url)
    assert summary.skipped == 1 and summary.articles == len(stream) - 1


@pytest.mark.postgres
def test_two_workers_make_one_story_per_event(pg_url: str, basil_stream: Any) -> None:
    stream = basil_stream(8)
    first_half, second_half = stream[0::2], stream[1::2]
    ids = _insert(pg_url, first_half)
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker() -> None:
        try:
            start.wait()
            for _ in range(200):
                if cluster_pending(pg_url, limit=2).articles == 0 and done.is_set():
                    return
        except BaseException as exc:  # reported below
            errors.append(exc)

    done = threading.Event()
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    ids.update(_insert(pg_url, second_half))  # more articles arrive while they work
    done.set()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    cluster_all_pending(pg_url)  # anything inserted after both workers stopped
    # The same stories as one worker alone would make on the same arrival order (no
    # split or merge caused by the race).
    stories, dups = _results(pg_url, ids)
    assert (stories, dups) == _memory(first_half + second_half)
    # Copies arrive in either order: in each copy group the first to arrive is the
    # original and the others point to it.
    copy_groups: dict[str, list[str]] = {}
    for name in dups:
        copy_groups.setdefault(name.removesuffix("_copy").removesuffix("_wire"), []).append(name)
    for members in copy_groups.values():
        originals = [m for m in members if dups[m] is None]
        assert len(originals) == 1
        assert all(dups[m] == originals[0] for m in members if m != originals[0])
    _check_consistent(pg_url)
