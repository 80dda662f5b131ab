"""Airflow test environment: a private AIRFLOW_HOME per test session, set before any
``airflow`` import (Airflow reads its configuration at import time)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO / "dags"
PLUGINS_DIR = REPO / "plugins"

if "AIRFLOW_HOME" not in os.environ or not os.environ["AIRFLOW_HOME"].startswith(
    tempfile.gettempdir()
):
    _home = tempfile.mkdtemp(prefix="newsmon-airflow-home-")
    os.environ["AIRFLOW_HOME"] = _home
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_home}/airflow.db"
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS_DIR))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(PLUGINS_DIR))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__PARALLELISM", "4")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    """End-to-end tests start real Airflow components (minutes): locally they run when
    asked for (``pytest -m e2e`` or NEWSMON_E2E=1); in CI (CI=true) they always run."""
    markexpr = config.getoption("markexpr", "") or ""
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    if in_ci or "e2e" in markexpr or os.environ.get("NEWSMON_E2E") == "1":
        return
    skip = pytest.mark.skip(reason="end-to-end: run with `pytest -m e2e`")
    for item in items:
        if item.get_closest_marker("e2e"):
            item.add_marker(skip)


def _migrate_airflow_db() -> None:
    import subprocess
    import sys

    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's metadata database (SQLite in the private AIRFLOW_HOME), migrated once."""
    _migrate_airflow_db()
