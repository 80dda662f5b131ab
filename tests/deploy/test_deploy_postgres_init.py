"""deploy/postgres-init/ on the real PostgreSQL server: it creates both databases, each
owned by its role, can run again, and the newsmon role can migrate its schema.

Roles are cluster-wide, so the test uses uniquely named roles and databases (the script
takes the names from the environment; compose leaves them at airflow/newsmon) and drops
them afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine, create_engine, inspect, text

from ingest.store import db as store_db
from tests.deploy.compose_model import REPO
from tests.support.airflow_stack import url_password

SCRIPT = REPO / "deploy" / "postgres-init" / "10-newsmon-databases.sh"
PG_SERVER = os.environ.get("NEWSMON_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

pytestmark = pytest.mark.postgres


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL not reachable at {PG_SERVER} ({reason}); skipping")


def _admin_engine() -> Engine:
    return create_engine(
        f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )


@pytest.fixture(scope="module")
def names() -> Iterator[dict[str, str]]:
    """Unique role/database names, dropped after the module (dropping is the slow part;
    every test runs the script itself, which is idempotent)."""
    if shutil.which("psql") is None:
        _unavailable("no psql client")
    probe = _admin_engine()
    try:
        with probe.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        _unavailable(str(exc).splitlines()[0])
    finally:
        probe.dispose()
    suffix = uuid.uuid4().hex[:10]
    chosen = {
        "AIRFLOW_DB_USER": f"nm_af_{suffix}",
        "AIRFLOW_DB_NAME": f"nm_af_{suffix}",
        "NEWSMON_DB_USER": f"nm_nm_{suffix}",
        "NEWSMON_DB_NAME": f"nm_nm_{suffix}",
    }
    yield chosen
    store_db.get_engine.cache_clear()
    engine = _admin_engine()
    with engine.connect() as conn:
        for key in ("AIRFLOW_DB_NAME", "NEWSMON_DB_NAME"):
            conn.execute(text(f'DROP DATABASE IF EXISTS "{chosen[key]}" WITH (FORCE)'))
        for key in ("AIRFLOW_DB_USER", "NEWSMON_DB_USER"):
            conn.execute(text(f'DROP ROLE IF EXISTS "{chosen[key]}"'))
    engine.dispose()


def run_script(names: dict[str, str], passwords: dict[str, str]) -> str:
    server = urlsplit(PG_SERVER)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PGHOST": server.hostname or "127.0.0.1",
        "PGPORT": str(server.port or 5432),
        "POSTGRES_USER": server.username or "postgres",
        "POSTGRES_DB": "postgres",
        **names,
        **passwords,
    }
    if server.password:
        env["PGPASSWORD"] = server.password
    done = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_init_script_creates_owned_databases_idempotently(names: dict[str, str]) -> None:
    # Quotes and backslashes must reach SQL as data, not syntax.
    passwords = {"AIRFLOW_DB_PASSWORD": "a'b\"c\\d;--", "NEWSMON_DB_PASSWORD": "n-" + "x" * 30}
    first = run_script(names, passwords)
    again = run_script(names, passwords)  # a re-run changes nothing and does not fail
    assert first == again
    assert names["NEWSMON_DB_NAME"] in first

    admin = _admin_engine()
    with admin.connect() as conn:
        owners: dict[str, str] = dict(
            conn.execute(
                text(
                    "SELECT datname, pg_get_userbyid(datdba) FROM pg_database "
                    "WHERE datname IN (:a, :n)"
                ),
                {"a": names["AIRFLOW_DB_NAME"], "n": names["NEWSMON_DB_NAME"]},
            ).all()
        )
    admin.dispose()
    assert owners == {
        names["AIRFLOW_DB_NAME"]: names["AIRFLOW_DB_USER"],
        names["NEWSMON_DB_NAME"]: names["NEWSMON_DB_USER"],
    }


def test_newsmon_role_can_migrate_its_database(names: dict[str, str]) -> None:
    """What the init job's `newsmon db upgrade` does, as the newsmon role (not superuser)."""
    password = "n-" + uuid.uuid4().hex
    run_script(names, {"AIRFLOW_DB_PASSWORD": "a-pw", "NEWSMON_DB_PASSWORD": password})
    server = urlsplit(PG_SERVER)
    url = (
        f"postgresql+psycopg://{names['NEWSMON_DB_USER']}:{url_password(password)}"
        f"@{server.hostname}:{server.port or 5432}/{names['NEWSMON_DB_NAME']}"
    )
    store_db.upgrade(url)
    engine = create_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
        store_db.get_engine.cache_clear()
    assert {"feeds", "articles", "stories"} <= tables


def test_init_script_refuses_to_run_without_passwords() -> None:
    done = subprocess.run(
        ["bash", str(SCRIPT)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert "AIRFLOW_DB_PASSWORD" in done.stderr
