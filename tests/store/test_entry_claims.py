"""Claiming entries to fetch: round-robin over feeds, disjoint across workers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ingest.store import articles_repo as repo
from ingest.store import feeds_repo
from ingest.store.db import transaction
from ingest.store.models import Entry, Feed

LEASE = timedelta(minutes=10)


def _feeds_with_entries(db_url: str, feeds: int, per_feed: int) -> dict[int, list[int]]:
    with transaction(db_url) as session:
        feeds_repo.add_feed_urls(session, [f"http://h{i}.example/feed" for i in range(feeds)])
    with transaction(db_url) as session:
        feed_ids = sorted(session.scalars(Feed.__table__.select().with_only_columns(Feed.id)))
        items = {
            fid: [
                {"key": f"{fid}-{j}", "url": f"http://f{fid}.example/{j}"} for j in range(per_feed)
            ]
            for fid in feed_ids
        }
        feeds_repo.insert_entries_bulk(session, items)
        rows = session.execute(Entry.__table__.select().with_only_columns(Entry.id, Entry.feed_id))
        by_feed: dict[int, list[int]] = {}
        for entry_id, feed_id in rows:
            by_feed.setdefault(int(feed_id), []).append(int(entry_id))
    return {fid: sorted(ids) for fid, ids in by_feed.items()}


def test_a_batch_takes_every_feed_s_first_entry_before_any_second(db_url: str) -> None:
    by_feed = _feeds_with_entries(db_url, feeds=5, per_feed=4)
    with transaction(db_url) as session:
        claimed = repo.claim_pending_entries(session, 7, LEASE)
    firsts = {ids[0] for ids in by_feed.values()}
    seconds = {ids[1] for ids in by_feed.values()}
    assert firsts <= set(claimed)
    assert len(set(claimed) & seconds) == 2


@pytest.mark.parametrize("batch", [10, 50])
def test_workers_claiming_at_once_get_disjoint_full_batches(pg_url: str, batch: int) -> None:
    _feeds_with_entries(pg_url, feeds=20, per_feed=30)
    # The first worker's claim is still uncommitted (its rows locked) when the second
    # claims: SKIP LOCKED must give the second a full batch of other entries.
    with transaction(pg_url) as first_session:
        first = repo.claim_pending_entries(first_session, batch, LEASE)
        with transaction(pg_url) as second_session:
            second = repo.claim_pending_entries(second_session, batch, LEASE)
    assert len(first) == len(second) == batch
    assert not set(first) & set(second)
    with transaction(pg_url) as session:
        third = repo.claim_pending_entries(session, 1000, LEASE)
    assert len(third) == 20 * 30 - 2 * batch
