"""Real Airflow components as subprocesses, for the end-to-end tests.

api-server, scheduler, dag-processor and triggerer (plus Celery workers when asked) on a
private PostgreSQL metadata database, each in its own process group so that ``stop()``
can always end them and everything they forked.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.airflow.airflow_support import DAGS_DIR, PLUGINS_DIR
from tests.support.airflow_stack import CELERY_WORKER_SERVICE, COMPONENTS, airflow_argv

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
ADMIN = "admin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def psycopg2_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql+psycopg2://", 1)


@dataclass
class AirflowCluster:
    home: Path
    metadata_url: str
    extra_env: dict[str, str]
    executor: str = "LocalExecutor"
    celery_broker: str | None = None
    celery_workers: int = 0
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def key_prefix(self) -> str:
        """Our own prefix for every broker key in the shared Redis."""
        return f"newsmon-e2e-{self.port}-"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fernet_key(self) -> str:
        """One Fernet key per cluster home (connections' passwords are encrypted with it)."""
        path = self.home / "fernet"
        if not path.exists():
            from cryptography.fernet import Fernet

            path.write_text(Fernet.generate_key().decode())
        return path.read_text()

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.pop("PYTEST_CURRENT_TEST", None)
        passwords = self.home / "passwords.json"
        passwords.write_text(json.dumps({ADMIN: self.password}))
        secret = (self.home / "secret").read_text() if (self.home / "secret").exists() else ""
        if not secret:
            secret = secrets.token_hex(24)
            (self.home / "secret").write_text(secret)
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": psycopg2_url(self.metadata_url),
                "AIRFLOW__CORE__EXECUTOR": self.executor,
                "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_DIR),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                "AIRFLOW__API_AUTH__JWT_SECRET": secret,
                "AIRFLOW__CORE__FERNET_KEY": self.fernet_key(),
                "AIRFLOW__API__SECRET_KEY": secret,
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            }
        )
        if self.celery_broker:
            env["AIRFLOW__CELERY__BROKER_URL"] = self.celery_broker
            env["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + psycopg2_url(self.metadata_url)
            # Our own key prefix in the shared Redis: nothing of ours touches others' keys.
            env["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX"] = self.key_prefix
            env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = "2"
        env.update(self.extra_env)
        return env

    def run_cli(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run(
            [AIRFLOW, *args],
            env=self.env(),
            capture_output=True,
            timeout=timeout,
            start_new_session=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed: {done.stderr.decode()[-3000:]}")
        return done.stdout.decode()

    def _spawn(self, name: str, *args: str) -> None:
        log = (self.home / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            [AIRFLOW, *args],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() kills all it forks
            cwd=self.home,
        )

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.run_cli("db", "migrate")
        self.run_cli("pools", "set", "newsmon_http", "4", "newsmon outbound HTTP")
        # Exactly the components (and arguments) docker-compose.yml runs: one description,
        # tests/support/airflow_stack.py, checked against the compose file by tests/deploy.
        for name in COMPONENTS:
            self._spawn(name, *airflow_argv(name, api_port=self.port)[1:])
        for i in range(self.celery_workers):
            self._spawn(
                f"worker{i + 1}",
                *airflow_argv(CELERY_WORKER_SERVICE)[1:],
                "--celery-hostname",
                f"newsmon-w{i + 1}-{self.port}@%h",
                "--concurrency",
                "2",
                "--skip-serve-logs",
                "--without-gossip",
                "--without-mingle",
            )
        self.wait_api()

    def wait_api(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=3).is_success:
                    return
            time.sleep(1)
        raise TimeoutError("the api-server did not come up:\n" + self.log_tail("api-server"))

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({proc.returncode}):\n{self.log_tail(name)}")

    def log_tail(self, name: str, chars: int = 4000) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs.values():
            # Whatever is left of the group (task runners, gunicorn/uvicorn children).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        if self.celery_broker:
            self._drop_broker_keys()

    def _drop_broker_keys(self) -> None:
        """Delete the keys this run left in Redis (only ours: they carry our prefix)."""
        import redis

        with contextlib.suppress(redis.RedisError):
            client = redis.Redis.from_url(self.celery_broker or "", socket_connect_timeout=3)
            keys = list(client.scan_iter(match=f"{self.key_prefix}*", count=500))
            if keys:
                client.delete(*keys)

    # ------------------------------------------------------------------ REST API v2

    def token(self) -> str:
        r = httpx.post(
            f"{self.base_url}/auth/token",
            json={"username": ADMIN, "password": self.password},
            timeout=30,
        )
        r.raise_for_status()
        return str(r.json()["access_token"])

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=30,
        )

    def wait_dags(self, api: httpx.Client, dag_ids: list[str], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        missing = list(dag_ids)
        while time.monotonic() < deadline:
            self.check_alive()
            missing = [d for d in dag_ids if api.get(f"/api/v2/dags/{d}").status_code != 200]
            if not missing:
                return
            time.sleep(1)
        raise TimeoutError(f"DAGs not parsed: {missing}\n{self.log_tail('dag-processor')}")

    def dag_runs(self, api: httpx.Client, dag_id: str) -> list[dict[str, Any]]:
        r = api.get(f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100})
        r.raise_for_status()
        return list(r.json()["dag_runs"])

    def task_states(self, api: httpx.Client, dag_id: str) -> list[tuple[str, str, Any, Any]]:
        out = []
        for run in self.dag_runs(api, dag_id):
            r = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances")
            if r.is_success:
                out.extend(
                    (run["dag_run_id"], t["task_id"], t["map_index"], t["state"])
                    for t in r.json()["task_instances"]
                )
        return out


@contextlib.contextmanager
def running(cluster: AirflowCluster) -> Iterator[AirflowCluster]:
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
