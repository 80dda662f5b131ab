"""Shared fixtures: a migrated database on SQLite and on the real PostgreSQL server.

Every storage test runs on both. The PostgreSQL server (127.0.0.1:5432, trust auth) gets
one uniquely named database per test session, dropped at the end. Outside CI a missing
server skips those tests with a message; with CI=true it fails them instead.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ingest.config import get_settings
from ingest.store import db as store_db
from ingest.store.models import Base

PG_SERVER = os.environ.get("NEWSMON_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pg_unavailable(reason: str) -> None:
    """Skip outside CI, fail inside CI: CI must never silently skip PostgreSQL tests."""
    if IN_CI:
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL not reachable at {PG_SERVER} ({reason}); skipping")


def _admin_engine():  # type: ignore[no-untyped-def]
    return create_engine(
        f"{PG_SERVER}/postgres",
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 3},
    )


def create_pg_database(prefix: str = "newsmon_test") -> str:
    """Create a uniquely named database and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        engine = _admin_engine()
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
    except Exception as exc:
        pg_unavailable(str(exc).splitlines()[0])
    return f"{PG_SERVER}/{name}"


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    store_db.get_engine.cache_clear()
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test gets its own NEWSMON_HOME and fresh settings."""
    monkeypatch.setenv("NEWSMON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NEWSMON_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    """One migrated PostgreSQL database for the whole test session."""
    url = create_pg_database()
    store_db.upgrade(url)
    yield url
    drop_pg_database(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    url = f"sqlite:///{path}"
    store_db.upgrade(url)
    store_db.get_engine(url).dispose()
    store_db.get_engine.cache_clear()
    return path


def _truncate_all(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with store_db.get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "newsmon.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def pg_url(pg_session_url: str) -> Iterator[str]:
    _truncate_all(pg_session_url)
    yield pg_session_url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database: each test using it runs on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))
