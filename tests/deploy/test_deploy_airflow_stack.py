"""tests/support/airflow_stack.py: the helpers the native end-to-end test uses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.deploy.compose_model import environment
from tests.support.airflow_stack import (
    CELERY_ENV,
    CELERY_WORKER_SERVICE,
    COMPONENTS,
    PROJECT_DB_CONN_ENV,
    REQUIRED_ENV,
    StackConfigError,
    airflow_argv,
    native_env,
    project_db_connection,
    simple_auth_passwords,
    url_password,
)

PATHS: dict[str, Any] = {
    "airflow_db_url": "sqlite:////tmp/airflow.db",
    "newsmon_db_url": "postgresql+psycopg://u:p@127.0.0.1:5432/n",
    "config_path": "/tmp/newsmon.yaml",
    "dags_folder": "/repo/dags",
    "plugins_folder": "/repo/plugins",
    "passwords_file": "/tmp/passwords.json",
    "jwt_secret": "jwt",
    "api_secret_key": "api",
}


def test_argv_for_every_component() -> None:
    assert airflow_argv("scheduler") == ["airflow", "scheduler"]
    assert airflow_argv("api-server", api_port=18080) == [
        "airflow",
        "api-server",
        "--port",
        "18080",
    ]
    assert airflow_argv(CELERY_WORKER_SERVICE) == ["airflow", "celery", "worker"]
    assert COMPONENTS["api-server"][-1] == "8080"  # the default is not mutated
    with pytest.raises(StackConfigError, match="unknown Airflow component 'webserver'"):
        airflow_argv("webserver")


def test_native_env_sets_everything_a_component_needs() -> None:
    env = native_env({"PATH": "/bin"}, api_port=18080, **PATHS)
    assert env.keys() >= REQUIRED_ENV
    assert env["PATH"] == "/bin"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env[PROJECT_DB_CONN_ENV] == "postgresql://u:p@127.0.0.1:5432/n"
    assert not CELERY_ENV & env.keys()


def test_native_env_needs_a_broker_for_celery() -> None:
    with pytest.raises(StackConfigError, match="celery_broker_url"):
        native_env({}, executor="CeleryExecutor", **PATHS)
    env = native_env(
        {},
        executor="CeleryExecutor",
        celery_broker_url="redis://127.0.0.1:6379/0",
        celery_result_backend="db+postgresql://a@127.0.0.1/a",
        **PATHS,
    )
    assert env.keys() >= CELERY_ENV


def test_native_env_has_the_same_names_as_compose() -> None:
    """Whatever compose sets for Airflow, the native stack sets too (values differ)."""
    compose_names = {
        name
        for name in environment("scheduler")
        if name.startswith("AIRFLOW__") and name in REQUIRED_ENV
    }
    assert compose_names <= native_env({}, **PATHS).keys()


def test_project_db_connection_for_sqlite_uses_the_extra() -> None:
    value = json.loads(project_db_connection("sqlite:////tmp/n.db"))
    assert value["extra"]["sqlalchemy_url"] == "sqlite:////tmp/n.db"


def test_passwords_file_and_url_quoting() -> None:
    assert json.loads(simple_auth_passwords({"admin": "s3cret"})) == {"admin": "s3cret"}
    assert url_password("a@b:c/d") == "a%40b%3Ac%2Fd"
