"""The native end-to-end cluster starts what docker-compose.yml starts: the same
components with the same arguments and every environment variable compose sets
(tests/support/airflow_stack.py is the one description; tests/deploy checks compose)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from tests.airflow.airflow_cluster import AirflowCluster
from tests.airflow.airflow_support import component_env
from tests.support.airflow_stack import CELERY_ENV, COMPONENTS, REQUIRED_ENV


def world(tmp_path: Path) -> SimpleNamespace:
    config = tmp_path / "newsmon.yaml"
    return SimpleNamespace(
        env={
            "NEWSMON_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/x",
            "NEWSMON_CONFIG_PATH": str(config),
        },
        config_path=config,
    )


def test_native_cluster_env_has_everything_compose_sets(tmp_path: Path) -> None:
    cluster = AirflowCluster(
        tmp_path / "airflow",
        "postgresql+psycopg://postgres@127.0.0.1:5432/meta",
        component_env(world(tmp_path)),  # type: ignore[arg-type]
    )
    cluster.home.mkdir(parents=True)
    env = cluster.env()
    assert set(env) >= REQUIRED_ENV, REQUIRED_ENV - set(env)

    celery = AirflowCluster(
        tmp_path / "celery",
        "postgresql+psycopg://postgres@127.0.0.1:5432/meta",
        component_env(world(tmp_path)),  # type: ignore[arg-type]
        executor="CeleryExecutor",
        celery_broker="redis://127.0.0.1:6379/0",
    )
    celery.home.mkdir(parents=True)
    assert set(celery.env()) >= REQUIRED_ENV | CELERY_ENV


def test_native_cluster_spawns_the_compose_components(tmp_path: Path) -> None:
    spawned: list[tuple[str, tuple[str, ...]]] = []
    cluster = AirflowCluster(tmp_path, "postgresql://x/y", {})
    cluster._spawn = lambda name, *args: spawned.append((name, args))  # type: ignore[method-assign]
    cluster.run_cli = lambda *a, **k: ""  # type: ignore[method-assign]
    cluster.wait_api = lambda *a, **k: None  # type: ignore[method-assign]
    cluster.start()
    assert [name for name, _ in spawned] == list(COMPONENTS)
    for name, args in spawned:
        expected = list(COMPONENTS[name])
        if name == "api-server":
            expected[expected.index("--port") + 1] = str(cluster.port)
        assert list(args) == expected
