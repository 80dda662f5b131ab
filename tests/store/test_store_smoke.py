from __future__ import annotations

from sqlalchemy import func, select

from ingest.store.db import transaction
from ingest.store.models import Feed
from ingest.store.upsert import insert_ignore, upsert


def test_upsert_is_idempotent(db_url: str) -> None:
    rows = [{"url": "https://a.example/feed", "source": "a.example", "title": "A"}]
    with transaction(db_url) as s:
        assert insert_ignore(s, Feed, rows, ["url"]) == 1
    with transaction(db_url) as s:
        assert insert_ignore(s, Feed, rows, ["url"]) == 0
        upsert(s, Feed, [{**rows[0], "title": "B"}], ["url"], ["title"])
    with transaction(db_url) as s:
        assert s.scalar(select(func.count()).select_from(Feed)) == 1
        assert s.scalar(select(Feed.title)) == "B"
