"""The Airflow components newsmon runs, described once for every way of running them.

Two things start the same stack: ``docker-compose.yml`` (one container per component) and
the native end-to-end test in ``tests/airflow/`` (one ``airflow`` process per component on
this machine). Both read this module, so the compose test can check that the compose file
starts exactly these components with exactly this environment, and the native test starts
what production starts.

Usage::

    from tests.support.airflow_stack import COMPONENTS, airflow_argv, native_env

    env = native_env(os.environ, airflow_db_url=..., newsmon_db_url=..., ...)
    for name in COMPONENTS:
        subprocess.Popen(airflow_argv(name, api_port=port), env=env)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final
from urllib.parse import quote, urlsplit

#: Port the api-server listens on inside the compose network (and by default natively).
API_SERVER_PORT: Final = 8080
#: Port of the scheduler's health server (``AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK``).
SCHEDULER_HEALTH_PORT: Final = 8974

#: Long-running Airflow components: compose service name -> ``airflow`` arguments.
#: The compose file runs each service with exactly these arguments as its ``command``
#: (the image's entrypoint prefixes ``airflow``).
COMPONENTS: Final[Mapping[str, tuple[str, ...]]] = {
    "api-server": ("api-server", "--port", str(API_SERVER_PORT)),
    "scheduler": ("scheduler",),
    "dag-processor": ("dag-processor",),
    "triggerer": ("triggerer",),
}

#: Compose service name and ``airflow`` arguments of a Celery worker (``celery`` profile).
CELERY_WORKER_SERVICE: Final = "celery-worker"
CELERY_WORKER: Final[tuple[str, ...]] = ("celery", "worker")
#: The compose profile that adds Redis and Celery workers.
CELERY_PROFILE: Final = "celery"

#: Airflow's pool for outbound HTTP (``dags/newsmon_common.HTTP_POOL``); the init job
#: creates it.
HTTP_POOL: Final = "newsmon_http"
#: Connection id of the project database (``dags/newsmon_common.DB_CONN_ID``).
PROJECT_DB_CONN_ID: Final = "newsmon_db"
PROJECT_DB_CONN_ENV: Final = "AIRFLOW_CONN_" + PROJECT_DB_CONN_ID.upper()

#: Environment every Airflow component needs. Each name has the same value in every
#: component (the JWT secret in particular must match, or tasks cannot talk to the
#: api-server). Paths are set explicitly rather than left to AIRFLOW_HOME defaults so that
#: compose and the native run are configured the same way.
REQUIRED_ENV: Final[frozenset[str]] = frozenset(
    {
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__CORE__PARALLELISM",
        "AIRFLOW__CORE__DAGS_FOLDER",
        "AIRFLOW__CORE__PLUGINS_FOLDER",
        "AIRFLOW__CORE__LOAD_EXAMPLES",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__API__BASE_URL",
        "AIRFLOW__API__SECRET_KEY",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK",
        PROJECT_DB_CONN_ENV,
        "NEWSMON_CONFIG_PATH",
    }
)

#: Extra environment when the executor is CeleryExecutor (scheduler and workers).
CELERY_ENV: Final[frozenset[str]] = frozenset(
    {"AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__RESULT_BACKEND"}
)

#: newsmon's alert mail settings; compose points them at Mailpit.
SMTP_ENV: Final[frozenset[str]] = frozenset(
    {"NEWSMON_SMTP_HOST", "NEWSMON_SMTP_PORT", "NEWSMON_SMTP_STARTTLS"}
)


class StackConfigError(ValueError):
    """A component name or environment that does not describe a runnable stack."""


def airflow_argv(component: str, *, api_port: int = API_SERVER_PORT) -> list[str]:
    """The full command line of one component, e.g. ``["airflow", "scheduler"]``.

    ``component`` is a key of :data:`COMPONENTS` or :data:`CELERY_WORKER_SERVICE`;
    ``api_port`` replaces the api-server's port (native runs pick a free one).
    """
    if component == CELERY_WORKER_SERVICE:
        return ["airflow", *CELERY_WORKER]
    if component not in COMPONENTS:
        known = ", ".join([*COMPONENTS, CELERY_WORKER_SERVICE])
        raise StackConfigError(f"unknown Airflow component {component!r} (known: {known})")
    args = list(COMPONENTS[component])
    if component == "api-server":
        args[args.index("--port") + 1] = str(api_port)
    return ["airflow", *args]


def project_db_connection(url: str) -> str:
    """The value of ``AIRFLOW_CONN_NEWSMON_DB`` for a SQLAlchemy URL of the project database.

    PostgreSQL becomes a plain ``postgresql://`` Connection URI (what compose writes; the
    DAGs turn it back into a psycopg URL). Anything else (SQLite) has no host/login to put
    in a Connection, so it travels as the ``sqlalchemy_url`` extra of a JSON Connection.
    """
    parts = urlsplit(url)
    if parts.scheme.split("+")[0] in {"postgresql", "postgres"}:
        return parts._replace(scheme="postgresql").geturl()
    return json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": url}})


def native_env(
    base: Mapping[str, str],
    *,
    airflow_db_url: str,
    newsmon_db_url: str,
    config_path: str,
    dags_folder: str,
    plugins_folder: str,
    passwords_file: str,
    jwt_secret: str,
    api_secret_key: str,
    fernet_key: str = "",
    api_port: int = API_SERVER_PORT,
    executor: str = "LocalExecutor",
    parallelism: int = 4,
    users: str = "admin:admin",
    celery_broker_url: str | None = None,
    celery_result_backend: str | None = None,
) -> dict[str, str]:
    """The environment of every component of a native (no-Docker) stack.

    Starts from ``base`` (usually ``os.environ``), sets every :data:`REQUIRED_ENV` name
    (and :data:`CELERY_ENV` for CeleryExecutor), and raises :class:`StackConfigError` if a
    Celery setting is missing. The values mirror ``docker-compose.yml`` with local paths
    and a loopback api-server.
    """
    api_url = f"http://127.0.0.1:{api_port}"
    env = dict(base)
    env.update(
        {
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__DAGS_FOLDER": dags_folder,
            "AIRFLOW__CORE__PLUGINS_FOLDER": plugins_folder,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": fernet_key,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": users,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": passwords_file,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db_url,
            "AIRFLOW__API__BASE_URL": api_url,
            "AIRFLOW__API__SECRET_KEY": api_secret_key,
            "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
            # The health server binds a fixed port; natively only the scheduler's own
            # process list matters, and two stacks on one machine would collide.
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            PROJECT_DB_CONN_ENV: project_db_connection(newsmon_db_url),
            "NEWSMON_CONFIG_PATH": config_path,
            "NEWSMON_DATABASE_URL": newsmon_db_url,
        }
    )
    if executor.rsplit(".", 1)[-1] == "CeleryExecutor":
        if not celery_broker_url or not celery_result_backend:
            raise StackConfigError(
                "CeleryExecutor needs celery_broker_url and celery_result_backend "
                f"({', '.join(sorted(CELERY_ENV))})"
            )
        env["AIRFLOW__CELERY__BROKER_URL"] = celery_broker_url
        env["AIRFLOW__CELERY__RESULT_BACKEND"] = celery_result_backend
    missing = sorted(name for name in REQUIRED_ENV if name not in env)
    if missing:  # guards this function against REQUIRED_ENV growing without it
        raise StackConfigError(f"native_env does not set: {', '.join(missing)}")
    return env


def simple_auth_passwords(passwords: Mapping[str, str]) -> str:
    """Contents of the simple auth manager's passwords file (``{"user": "password"}``):
    writing it before the api-server starts fixes the passwords instead of letting Airflow
    generate and print them."""
    return json.dumps(dict(passwords)) + "\n"


def url_password(password: str) -> str:
    """A password quoted for the userinfo part of a database or broker URL."""
    return quote(password, safe="")
