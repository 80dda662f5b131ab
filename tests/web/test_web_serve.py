"""``newsmon serve``: the bind policy and its own login, on a real server process."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from ingest.cli import app
from ingest.web.auth import BindPolicyError, check_bind, is_loopback
from tests.web.web_world import World

PASSWORD = "correct horse battery"


def test_bind_policy() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.7")
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", PASSWORD)
    with pytest.raises(BindPolicyError, match="NEWSMON_WEB_PASSWORD"):
        check_bind("0.0.0.0", None)
    with pytest.raises(BindPolicyError, match="too short"):
        check_bind("127.0.0.1", "abc")


def test_cli_refuses_network_bind_without_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSMON_WEB_PASSWORD", raising=False)
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "without a login" in result.output
    assert "Traceback" not in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_requires_its_login(world: World, tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "NEWSMON_WEB_PASSWORD": PASSWORD, "NEWSMON_WEB_USER": "analyst"}
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("newsmon")),
            "serve",
            "--port",
            str(port),
            "--db",
            world.url,
        ],
        env=env,
        stdout=(tmp_path / "serve.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"{base}/stories", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError((tmp_path / "serve.log").read_text()) from None
                time.sleep(0.2)
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Basic")
        assert httpx.get(f"{base}/metrics", auth=("analyst", "wrong password")).status_code == 401
        ok = httpx.get(f"{base}/api/stories?since=all", auth=("analyst", PASSWORD))
        assert ok.status_code == 200 and len(ok.json()) == 3
        assert httpx.get(f"{base}/metrics", auth=("analyst", PASSWORD)).status_code == 200
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
