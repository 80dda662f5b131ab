"""Migrations that move data keep it: an older schema with rows upgrades to head intact."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from ingest.store.db import get_engine, upgrade
from tests.conftest import create_pg_database, drop_pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database with no schema at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    url = create_pg_database("newsmon_migrate")
    try:
        yield url
    finally:
        get_engine(url).dispose()
        drop_pg_database(url)


def test_0004_copies_each_story_first_seen_into_its_story_terms(blank_url: str) -> None:
    upgrade(blank_url, "0003")
    first, last = datetime(2025, 9, 25, 8, 0), datetime(2025, 9, 26, 9, 30)
    with get_engine(blank_url).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO stories (id, first_seen, last_seen, article_count, source_count,"
                " profile, updated_at) VALUES (7, :first, :last, 2, 2, '{}', :last)"
            ),
            {"first": first, "last": last},
        )
        conn.execute(
            text(
                "INSERT INTO story_terms (term, story_id, weight, last_seen)"
                " VALUES (11, 7, 0.0, :last), (12, 7, 0.0, :last)"
            ),
            {"last": last},
        )
    upgrade(blank_url)
    with get_engine(blank_url).connect() as conn:
        rows = conn.execute(text("SELECT term, first_seen FROM story_terms ORDER BY term")).all()
    assert [(term, str(seen)[:19]) for term, seen in rows] == [
        (11, "2025-09-25 08:00:00"),
        (12, "2025-09-25 08:00:00"),
    ]
