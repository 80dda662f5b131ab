"""Two processes upserting the same entries and articles at once end with one row each."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import random

import pytest
from sqlalchemy import func, select

from ingest.store.db import get_engine, transaction
from ingest.store.models import Article, Entry, Feed
from ingest.store.upsert import insert_ignore, upsert

N_ITEMS = 300
ROUNDS = 5


def _rows(seed: int) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    rng = random.Random(seed)
    order = list(range(N_ITEMS))
    rng.shuffle(order)  # each worker writes the same keys in a different order
    entries = [
        {"feed_id": 1, "item_key": hashlib.sha256(b"%d" % i).hexdigest(), "title": f"t{i}"}
        for i in order
    ]
    articles = [
        {
            "canonical_url": f"https://a.example/{i}",
            "url_key": hashlib.sha256(f"https://a.example/{i}".encode()).hexdigest(),
            "url": f"https://a.example/{i}?utm_source=x",
            "source": "a.example",
            "title": f"title {i} from {seed}",
        }
        for i in order
    ]
    return entries, articles


def _worker(url: str, seed: int, barrier: mp.synchronize.Barrier, errors: mp.Queue) -> None:  # type: ignore[type-arg]
    try:
        get_engine.cache_clear()
        entries, articles = _rows(seed)
        barrier.wait(timeout=30)
        for r in range(ROUNDS):
            chunk = slice((r * 97) % 50, None)
            with transaction(url) as s:
                insert_ignore(s, Entry, entries[chunk], ["feed_id", "item_key"])
                upsert(s, Article, articles[chunk], ["url_key"], ["title"])
    except Exception as exc:  # reported to the parent, which fails the test
        errors.put(repr(exc))


@pytest.mark.postgres
def test_two_processes_upsert_same_rows(pg_url: str) -> None:
    with transaction(pg_url) as s:
        insert_ignore(s, Feed, [{"id": 1, "url": "https://a.example/rss", "source": "a"}], ["url"])
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    errors: mp.Queue[str] = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(pg_url, seed, barrier, errors)) for seed in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert errors.empty(), errors.get()
    with transaction(pg_url) as s:
        assert s.scalar(select(func.count()).select_from(Entry)) == N_ITEMS
        assert s.scalar(select(func.count()).select_from(Article)) == N_ITEMS
        assert s.scalar(select(func.count(func.distinct(Article.url_key)))) == N_ITEMS
