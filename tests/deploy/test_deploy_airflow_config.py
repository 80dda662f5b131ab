"""The compose stack's settings, checked by the real Airflow and newsmon code.

Airflow is imported in a subprocess with a throw-away AIRFLOW_HOME (it reads and writes
its configuration at import time), once for the whole module.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from functools import cache
from typing import Any

import pytest

from ingest.config import load_config
from tests.deploy.compose_model import REPO, environment, services
from tests.support.airflow_stack import HTTP_POOL, PROJECT_DB_CONN_ENV, PROJECT_DB_CONN_ID

_PROBE = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])  # dags/, for newsmon_common
    from airflow.configuration import conf
    from airflow.models.connection import Connection
    from newsmon_common import normalise_db_uri

    request = json.load(sys.stdin)
    known = conf.configuration_description
    options = {
        name: name_parts[1].lower() in known.get(name_parts[0].lower(), {}).get("options", {})
        for name, name_parts in ((n, n.split("__")[1:]) for n in request["options"])
    }
    connections = {}
    for conn_id, uri in request["connections"].items():
        conn = Connection(conn_id=conn_id, uri=uri)
        connections[conn_id] = {
            "conn_type": conn.conn_type, "host": conn.host, "port": conn.port,
            "schema": conn.schema, "login": conn.login, "password": conn.password,
            "extra": conn.extra_dejson, "sqlalchemy": normalise_db_uri(conn.get_uri()),
        }
    print(json.dumps({"options": options, "connections": connections}))
    """
)


def airflow_options_in_compose() -> set[str]:
    return {
        name
        for service in ("init", "scheduler", "api-server")
        for name in environment(service)
        if re.fullmatch(r"AIRFLOW__[A-Z_]+__[A-Z_]+", name)
    }


@cache
def probe(tmp_home: str) -> dict[str, Any]:
    scheduler = environment("scheduler")
    request = {
        "options": sorted(airflow_options_in_compose()),
        "connections": {
            PROJECT_DB_CONN_ID: scheduler[PROJECT_DB_CONN_ENV],
            "smtp_default": scheduler["AIRFLOW_CONN_SMTP_DEFAULT"],
        },
    }
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))
    }
    env |= {"AIRFLOW_HOME": tmp_home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(REPO / "dags")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert isinstance(result, dict)
    return result


@pytest.fixture(scope="module")
def airflow_view(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return probe(str(tmp_path_factory.mktemp("airflow-home")))


def test_every_airflow_setting_in_compose_is_a_real_airflow_option(
    airflow_view: dict[str, Any],
) -> None:
    unknown = sorted(name for name, known in airflow_view["options"].items() if not known)
    assert not unknown, f"not Airflow 3.3 options (typo?): {unknown}"


def test_project_database_connection_parses_to_the_cli_database(
    airflow_view: dict[str, Any],
) -> None:
    conn = airflow_view["connections"][PROJECT_DB_CONN_ID]
    assert (conn["conn_type"], conn["host"], conn["port"], conn["schema"], conn["login"]) == (
        "postgres",
        "postgres",
        5432,
        "newsmon",
        "newsmon",
    )
    # What the DAGs connect to is exactly what the CLI in the init job migrated.
    assert conn["sqlalchemy"] == environment("scheduler")["NEWSMON_DATABASE_URL"]


def test_failure_mail_connection_points_at_mailpit_without_tls(
    airflow_view: dict[str, Any],
) -> None:
    conn = airflow_view["connections"]["smtp_default"]
    assert (conn["conn_type"], conn["host"], conn["port"]) == ("smtp", "mailpit", 1025)
    assert conn["extra"]["disable_tls"] is True
    assert conn["extra"]["disable_ssl"] is True
    assert "@" in conn["extra"]["from_email"]


def test_stack_constants_match_the_dags() -> None:
    """The pool and Connection id the init job and compose use are the DAGs' own."""
    source = (REPO / "dags" / "newsmon_common.py").read_text(encoding="utf-8")
    assert f'HTTP_POOL = "{HTTP_POOL}"' in source
    assert f'DB_CONN_ID = "{PROJECT_DB_CONN_ID}"' in source


def test_example_config_is_valid() -> None:
    config = load_config(REPO / "deploy" / "newsmon.yaml")
    assert config.feeds and config.topics and config.subscriptions


def test_mounted_config_path_is_where_compose_says() -> None:
    for service in ("init", "scheduler", "api-server"):
        target = f"./deploy/newsmon.yaml:{environment(service)['NEWSMON_CONFIG_PATH']}:ro"
        assert target in services()[service]["volumes"], service
