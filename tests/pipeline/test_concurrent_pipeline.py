"""The whole pipeline run by two workers at once on PostgreSQL gives the same rows as one
run: no duplicate articles, stories or alerts (every stage claims its work)."""

from __future__ import annotations

import multiprocessing as mp

import pytest
from sqlalchemy import func, select

from ingest.config import Settings
from ingest.demo.run import demo_config, smtp_sink
from ingest.demo.server import serve_corpus
from ingest.pipeline.run import run_once, sync_config
from ingest.store.db import get_engine, transaction
from ingest.store.models import AlertOutbox, Article, Delivery, Entry, Story, StoryArticle
from ingest.store.reports import table_counts


def _worker(db_url: str, smtp_port: int, barrier: mp.synchronize.Barrier, errors: mp.Queue) -> None:  # type: ignore[type-arg]
    try:
        get_engine.cache_clear()
        settings = Settings(
            allow_networks="127.0.0.0/8",
            per_host_delay_s=0.0,
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            smtp_starttls=False,
            extract_workers=1,
        )
        barrier.wait(timeout=60)
        run_once(db_url, settings, fetch_batch=5)
    except Exception as exc:  # reported to the parent
        import traceback

        errors.put(f"{exc!r}\n{traceback.format_exc()}")


@pytest.mark.postgres
def test_two_workers_run_the_pipeline_at_once(pg_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with serve_corpus(port=0) as served, smtp_sink(tmp_path / "mbox") as smtp_port:
        sync_config(pg_url, demo_config(served))
        ctx = mp.get_context("spawn")
        barrier = ctx.Barrier(2)
        errors: mp.Queue[str] = ctx.Queue()
        procs = [
            ctx.Process(target=_worker, args=(pg_url, smtp_port, barrier, errors)) for _ in range(2)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(300)
        assert errors.empty(), errors.get()
        assert all(p.exitcode == 0 for p in procs)

    with transaction(pg_url) as s:
        counts = table_counts(s)
        # One article per page, one story membership per article, one entry per item.
        assert counts["articles"] == 44, counts
        assert counts["entries"] == 44, counts
        assert s.scalar(select(func.count()).select_from(StoryArticle)) == counts["articles"]
        assert s.scalar(select(func.count(func.distinct(Article.url_key)))) == counts["articles"]
        assert s.scalar(select(func.count(func.distinct(Entry.url)))) == counts["entries"]
        # Every alert was delivered once, whoever sent it.
        sent = s.scalar(select(func.count()).where(AlertOutbox.status == "sent"))
        assert sent == counts["alerts"] > 0
        deliveries = s.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.outcome == "sent")
        )
        assert deliveries == sent
        # The founding case is one story (not split by the race): one story carries
        # most of the nine outlets.
        founding = [st for st in s.scalars(select(Story)) if st.source_count >= 7]
        assert len(founding) == 1, [(st.headline, st.source_count) for st in founding]
