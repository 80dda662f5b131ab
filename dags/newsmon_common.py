"""Glue shared by the newsmon DAG files: where the project database and config are,
default task arguments, the failure notifier, and the assets that chain the DAGs.

Kept free of ``ingest`` imports at module level so that parsing a DAG file stays cheap
(the dag-processor re-parses every file often); tasks import ``ingest.pipeline`` inside
their bodies.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import multiprocessing
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, BaseHook, BaseNotifier, Variable

log = logging.getLogger(__name__)

# The assets that chain the DAGs: poll -> articles -> process -> stories -> alerts.
ARTICLES = Asset("newsmon://articles")
STORIES = Asset("newsmon://stories")

DB_CONN_ID = "newsmon_db"
CONFIG_VARIABLE = "newsmon_config_path"
HTTP_POOL = "newsmon_http"
TAGS = ["newsmon"]
# A fixed date in the past: with catchup=False only the latest interval runs.
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)


class ProjectDatabaseMissingError(RuntimeError):
    """Neither the Airflow Connection nor NEWSMON_DATABASE_URL names the project database."""


def normalise_db_uri(uri: str) -> str:
    """Airflow's ``Connection.get_uri()`` says ``postgres://``; SQLAlchemy wants
    ``postgresql+psycopg://`` (psycopg 3 is the project's driver)."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg://" + uri[len(prefix) :]
    return uri


def project_db_url() -> str:
    """The project database: the ``newsmon_db`` Connection, else ``NEWSMON_DATABASE_URL``."""
    try:
        conn = BaseHook.get_connection(DB_CONN_ID)
    except Exception:  # AirflowNotFoundException, or no API/DB to ask (tests)
        conn = None
    if conn is not None:
        extra_url = conn.extra_dejson.get("sqlalchemy_url") if conn.extra else None
        if extra_url:  # e.g. SQLite, which has no host/login to put in a Connection
            return str(extra_url)
        return normalise_db_uri(conn.get_uri())
    url = os.environ.get("NEWSMON_DATABASE_URL", "")
    if not url:
        raise ProjectDatabaseMissingError(
            f"set the Airflow Connection {DB_CONN_ID!r} or the environment variable "
            "NEWSMON_DATABASE_URL to the newsmon project database"
        )
    return url


def config_path() -> str | None:
    """newsmon.yaml: the Airflow Variable ``newsmon_config_path``, else the env."""
    try:
        value = Variable.get(CONFIG_VARIABLE, default=None)
    except Exception:  # no Variable backend reachable (tests)
        value = None
    return value or os.environ.get("NEWSMON_CONFIG_PATH") or None


def setting_int(name: str, default: int) -> int:
    """An integer knob from the environment (``NEWSMON_<NAME>``), e.g. batch sizes."""
    raw = os.environ.get(f"NEWSMON_{name.upper()}", "")
    try:
        return int(raw) if raw else default
    except ValueError:
        log.warning("NEWSMON_%s=%r is not an integer; using %d", name.upper(), raw, default)
        return default


def poll_schedule() -> timedelta | str | None:
    """How often newsmon_poll runs: every 10 minutes unless ``NEWSMON_POLL_SCHEDULE``
    says otherwise (a cron expression or preset, or ``none`` for REST/manual triggers
    only, e.g. when an external scheduler drives polling)."""
    raw = os.environ.get("NEWSMON_POLL_SCHEDULE", "").strip()
    if not raw:
        return timedelta(minutes=10)
    return None if raw.lower() in ("none", "manual") else raw


@contextlib.contextmanager
def worker_processes_allowed() -> Iterator[None]:
    """Let a stage start its own worker processes (extraction, parsing) inside a task.

    Two things in a task process stop ``multiprocessing`` children from starting:

    - forkserver/spawn children re-import the parent's ``__main__``: in a task that is
      the ``airflow`` entry script, which cannot be imported there (the task runner
      masks the metadata database URL), so every child dies at start. Hiding
      ``__main__``'s file and spec while the stage runs makes them start clean.
    - under CeleryExecutor the task process is forked from a billiard prefork pool
      process: it is daemonic (daemonic processes may not have children) and its
      authkey is billiard's type, which the standard library cannot hand to a new
      child. The task process owns its lifetime (the stage's pool joins its
      children), so for the duration of the stage the flag is lifted and the authkey
      re-wrapped as the standard library's type (same bytes).
    """
    main = sys.modules.get("__main__")
    saved = {}
    if main is not None:
        saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
        main.__dict__.pop("__file__", None)
        main.__dict__["__spec__"] = None
    config = multiprocessing.current_process()._config  # type: ignore[attr-defined]
    saved_config = {k: config[k] for k in ("daemon", "authkey") if k in config}
    config["daemon"] = False
    authkey = config.get("authkey")
    if authkey is not None and type(authkey) is not multiprocessing.process.AuthenticationString:
        config["authkey"] = multiprocessing.process.AuthenticationString(bytes(authkey))
    try:
        yield
    finally:
        config.update(saved_config)
        if main is not None:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)


def batches(ids: Sequence[int], size: int) -> list[list[int]]:
    """Split ids into lists of at most ``size`` (one mapped task instance each)."""
    size = max(1, size)
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def reported_nothing(summaries: Iterable[Mapping[str, Any]], keys: Sequence[str]) -> bool:
    """True when every summary reports zero for one of ``keys``.

    Used to skip emitting an asset event when a stage made nothing new (so the
    downstream DAG does not run for nothing). Unknown summary shapes count as
    "something happened": running downstream needlessly is cheap, missing work is not.
    """
    seen_key = False
    for summary in summaries:
        for key in keys:
            if key in summary:
                seen_key = True
                if summary[key]:
                    return False
    return seen_key


def summary_dict(summary: Any) -> dict[str, Any]:
    """A stage summary as a small dict for XCom (``as_dict()`` or a plain dataclass)."""
    if hasattr(summary, "as_dict"):
        return dict(summary.as_dict())
    if dataclasses.is_dataclass(summary) and not isinstance(summary, type):
        return dataclasses.asdict(summary)
    if isinstance(summary, Mapping):
        return dict(summary)
    return {"result": summary}


class NewsmonFailureNotifier(BaseNotifier):
    """Logs a task or DAG-run failure and records it.

    Records go to a JSON Lines file when ``NEWSMON_FAILURE_LOG`` is set (what an
    operator greps, and what the tests read); when ``NEWSMON_FAILURE_EMAIL`` is set the
    failure is also mailed with the SMTP provider's notifier (``smtp_default``).
    """

    def notify(self, context: Any) -> None:
        ti = context.get("ti") or context.get("task_instance")
        dag_run = context.get("dag_run")
        record = {
            "at": datetime.now(UTC).isoformat(),
            "dag_id": getattr(dag_run, "dag_id", None) or getattr(ti, "dag_id", None),
            "run_id": getattr(dag_run, "run_id", None),
            "task_id": getattr(ti, "task_id", None),
            "map_index": getattr(ti, "map_index", None),
            "try_number": getattr(ti, "try_number", None),
            "error": str(context.get("exception") or context.get("reason") or "")[:2000],
        }
        log.error("newsmon failure: %s", json.dumps(record))
        record_path = os.environ.get("NEWSMON_FAILURE_LOG")
        if record_path:
            path = Path(record_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
        recipient = os.environ.get("NEWSMON_FAILURE_EMAIL")
        if recipient:
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier

            SmtpNotifier(
                to=recipient,
                subject=f"[newsmon] {record['dag_id']}.{record['task_id']} failed",
                html_content=f"<pre>{json.dumps(record, indent=2)}</pre>",
            ).notify(context)


def default_args(timeout: timedelta = timedelta(minutes=10)) -> dict[str, Any]:
    """Retries with exponential backoff, a timeout and the notifier on every task."""
    return {
        "owner": "newsmon",
        "retries": 3,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": timeout,
        "on_failure_callback": [NewsmonFailureNotifier()],
    }
