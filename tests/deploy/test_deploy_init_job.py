"""The compose ``init`` job's script, run for real on this machine (no Docker): the exact
shell text from docker-compose.yml, with the environment compose gives it except for
paths and database URLs, which point at this machine's PostgreSQL and the repository.

Run twice, because compose runs it on every ``docker compose up``. Marked slow: two
``airflow db migrate`` runs take from ~20 s to over a minute on a busy machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from tests.deploy.compose_model import REPO, environment, services
from tests.support.airflow_stack import HTTP_POOL

PG_SERVER = os.environ.get("NEWSMON_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _admin_engine() -> Engine:
    return create_engine(
        f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )


@pytest.fixture(scope="module")
def databases() -> Iterator[dict[str, str]]:
    """Two fresh databases, standing in for the stack's `airflow` and `newsmon`."""
    suffix = uuid.uuid4().hex[:10]
    names = {"airflow": f"nm_init_af_{suffix}", "newsmon": f"nm_init_nm_{suffix}"}
    engine = _admin_engine()
    try:
        with engine.connect() as conn:
            for name in names.values():
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        engine.dispose()
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_SERVER}; skipping")
    server = PG_SERVER.split("://", 1)[1]
    yield {
        "airflow": f"postgresql+psycopg2://{server}/{names['airflow']}",
        "newsmon": f"postgresql+psycopg://{server}/{names['newsmon']}",
    }
    with engine.connect() as conn:
        for name in names.values():
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def run_init(databases: dict[str, str], home: Path) -> subprocess.CompletedProcess[str]:
    init = services()["init"]
    assert init["entrypoint"] == "/bin/bash" and init["command"][0] == "-c"
    env = environment("init") | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": databases["airflow"],
        "NEWSMON_DATABASE_URL": databases["newsmon"],
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "NEWSMON_CONFIG_PATH": str(REPO / "deploy" / "newsmon.yaml"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "NEWSMON_HOME": str(home / "newsmon"),
    }
    return subprocess.run(
        ["bash", "-c", init["command"][1]],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_init_job_prepares_a_fresh_stack_and_can_run_again(
    databases: dict[str, str], tmp_path: Path
) -> None:
    for attempt in (1, 2):
        done = run_init(databases, tmp_path)
        assert done.returncode == 0, f"run {attempt}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        assert "newsmon init: done" in done.stdout

    admin = environment("init")["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(":")[0]
    passwords = json.loads((tmp_path / "passwords.json").read_text())
    assert passwords == {admin: environment("init")["_NEWSMON_ADMIN_PASSWORD"]}
    assert (tmp_path / "passwords.json").stat().st_mode & 0o077 == 0

    airflow_db = create_engine(databases["airflow"].replace("+psycopg2", "+psycopg"))
    newsmon_db = create_engine(databases["newsmon"])
    try:
        with airflow_db.connect() as conn:
            slots = conn.execute(
                text("SELECT slots FROM slot_pool WHERE pool = :p"), {"p": HTTP_POOL}
            ).scalar_one()
        with newsmon_db.connect() as conn:
            feeds = conn.execute(text("SELECT count(*) FROM feeds")).scalar_one()
    finally:
        airflow_db.dispose()
        newsmon_db.dispose()
    assert slots == int(environment("init")["NEWSMON_HTTP_POOL_SLOTS"])
    assert feeds == 3  # deploy/newsmon.yaml's feeds, once each after two runs
