"""DAG integrity without a database: every DAG file imports, and every DAG and task
carries the operational settings the project requires."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
EXPECTED_DAGS = {"newsmon_poll", "newsmon_process", "newsmon_alerts", "newsmon_maintenance"}


@pytest.fixture(scope="module")
def dagbag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    sys.path.insert(0, str(DAGS_DIR))
    try:
        bag = DagBag(dag_folder=str(DAGS_DIR))
    finally:
        sys.path.remove(str(DAGS_DIR))
    return bag


def test_no_import_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}


def test_expected_dags(dagbag: Any) -> None:
    assert set(dagbag.dags) == EXPECTED_DAGS


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_dag_settings(dagbag: Any, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert "newsmon" in dag.tags and len(dag.tags) >= 2
    assert dag.doc_md and dag.doc_md.strip()
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.dagrun_timeout is not None
    assert dag.on_failure_callback, "DAG-level failure notifier"


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_every_task_has_retries_backoff_timeout_notifier(dagbag: Any, dag_id: str) -> None:
    from newsmon_common import NewsmonFailureNotifier  # type: ignore[import-not-found]

    for t in dagbag.dags[dag_id].tasks:
        where = f"{dag_id}.{t.task_id}"
        assert t.retries >= 2, where
        assert isinstance(t.retry_exponential_backoff, float), where
        assert t.retry_exponential_backoff > 1.0, where
        assert t.max_retry_delay is not None, where
        assert isinstance(t.execution_timeout, timedelta), where
        assert t.execution_timeout <= timedelta(hours=2), where
        assert t.doc_md, where
        callbacks = t.on_failure_callback
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        assert any(type(c).__name__ == NewsmonFailureNotifier.__name__ for c in callbacks), where


def test_http_tasks_use_the_pool(dagbag: Any) -> None:
    poll = dagbag.dags["newsmon_poll"].get_task("poll_batch")
    fetch = dagbag.dags["newsmon_process"].get_task("fetch_and_extract")
    for t in (poll, fetch):
        assert t.pool == "newsmon_http"
    # Tasks that open no sockets stay out of the HTTP pool.
    assert dagbag.dags["newsmon_process"].get_task("cluster").pool != "newsmon_http"


def test_poll_maps_over_batches(dagbag: Any) -> None:
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    assert isinstance(dagbag.dags["newsmon_poll"].get_task("poll_batch"), MappedOperator)
    assert isinstance(dagbag.dags["newsmon_process"].get_task("fetch_and_extract"), MappedOperator)


def test_assets_chain_the_dags(dagbag: Any) -> None:
    def outlet_uris(dag_id: str) -> set[str]:
        return {o.uri.rstrip("/") for t in dagbag.dags[dag_id].tasks for o in t.outlets}

    assert "newsmon://articles" in outlet_uris("newsmon_poll")
    assert "newsmon://stories" in outlet_uris("newsmon_process")
    process_schedule = dagbag.dags["newsmon_process"].timetable
    assert "newsmon://articles" in repr(process_schedule.asset_condition)
    alerts_schedule = dagbag.dags["newsmon_alerts"].timetable
    assert "newsmon://stories" in repr(alerts_schedule.asset_condition)
    # ...and the alerts DAG also runs on the clock, for digests.
    assert type(alerts_schedule).__name__ == "AssetOrTimeSchedule"


def test_batches_and_summary_helpers() -> None:
    sys.path.insert(0, str(DAGS_DIR))
    try:
        import newsmon_common as common  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(DAGS_DIR))
    assert common.batches([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert common.batches([], 3) == []
    assert common.reported_nothing([{"new_entries": 0}, {"new_entries": 0}], ["new_entries"])
    assert not common.reported_nothing([{"new_entries": 0}, {"new_entries": 2}], ["new_entries"])
    # An unknown summary shape counts as "something happened".
    assert not common.reported_nothing([{"other": 1}], ["new_entries"])
    assert (
        common.normalise_db_uri("postgres://u:p@h:5432/db") == "postgresql+psycopg://u:p@h:5432/db"
    )
    assert common.normalise_db_uri("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_poll_schedule_default_and_override(monkeypatch: pytest.MonkeyPatch, dagbag: Any) -> None:
    assert dagbag.dags["newsmon_poll"].timetable.delta == timedelta(minutes=10)
    sys.path.insert(0, str(DAGS_DIR))
    try:
        import newsmon_common as common  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(DAGS_DIR))
    monkeypatch.setenv("NEWSMON_POLL_SCHEDULE", "none")
    assert common.poll_schedule() is None
    monkeypatch.setenv("NEWSMON_POLL_SCHEDULE", "*/5 * * * *")
    assert common.poll_schedule() == "*/5 * * * *"


def test_worker_processes_start_from_inside_a_task(tmp_path: Path) -> None:
    """A stage must be able to start worker processes from a task process: children
    must not re-run the parent's __main__ file (in a task, the airflow entry script:
    here a main that fails when re-imported), and a daemonic parent with billiard's
    authkey type (a Celery prefork pool process) must be allowed children."""
    script = tmp_path / "entry.py"
    script.write_text(
        "import sys, multiprocessing\n"
        "if __name__ != '__main__':\n"
        "    raise SystemExit('re-imported main')\n"
        f"sys.path.insert(0, {str(DAGS_DIR)!r})\n"
        "from newsmon_common import worker_processes_allowed\n"
        "class BilliardKey(bytes):\n"
        "    def __reduce__(self):\n"
        "        raise TypeError('Pickling an AuthenticationString object is disallowed')\n"
        "def stage(queue):\n"
        "    process = multiprocessing.current_process()\n"
        "    process._config['authkey'] = BilliardKey(bytes(process.authkey))\n"
        "    with worker_processes_allowed():\n"
        "        ctx = multiprocessing.get_context('forkserver')\n"
        "        with ctx.Pool(1) as pool:\n"
        "            queue.put(pool.apply(abs, (-3,)))\n"
        "fork = multiprocessing.get_context('fork')\n"
        "queue = fork.Queue()\n"
        "task = fork.Process(target=stage, args=(queue,), daemon=True)\n"
        "task.start()\n"
        "print(queue.get(timeout=60))\n"
        "task.join(30)\n"
    )
    import subprocess

    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"
