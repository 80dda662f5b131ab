"""The whole chain in process with ``dag.test()``: poll -> process -> alerts (then
maintenance), on SQLite, against the demo corpus served on loopback. Asset triggers do
not fire inside ``dag.test()``, so the test runs the DAGs in the order the assets would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.airflow.airflow_support import DAGS_DIR, demo_world, outcome

pytestmark = pytest.mark.slow


@pytest.mark.usefixtures("airflow_db")
def test_whole_chain_with_dag_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db_url = f"sqlite:///{tmp_path}/newsmon.db"
    with demo_world(db_url, tmp_path) as world:
        for key, value in world.env.items():
            monkeypatch.setenv(key, value)
        from ingest.config import get_settings

        get_settings.cache_clear()
        from airflow.dag_processing.dagbag import DagBag

        monkeypatch.syspath_prepend(str(DAGS_DIR))
        bag = DagBag(dag_folder=str(DAGS_DIR))
        assert bag.import_errors == {}
        states: dict[str, Any] = {}
        chain = ("newsmon_poll", "newsmon_process", "newsmon_alerts", "newsmon_maintenance")
        for dag_id in chain:
            run = bag.dags[dag_id].test()
            states[dag_id] = run.state
        assert states == dict.fromkeys(states, "success"), states
        got = outcome(world)
        failures = Path(world.env["NEWSMON_FAILURE_LOG"])
        assert not failures.exists(), failures.read_text()
    assert got.entries > 0 and got.articles > 0
    assert got.stories > 0 and got.story_matches > 0
    assert got.alerts > 0 and got.duplicate_alerts == 0
    assert got.alerts_sent == got.alerts and got.emails == got.alerts
