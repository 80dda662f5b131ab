"""Airflow test environment: a private AIRFLOW_HOME per test session, set before any
``airflow`` import (Airflow reads its configuration at import time)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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
