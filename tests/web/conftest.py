"""A migrated SQLite database filled with a small, known world for the page tests."""

from __future__ import annotations

import pytest

from tests.web.web_world import World, fill


@pytest.fixture
def world(sqlite_url: str) -> World:
    return fill(sqlite_url)
