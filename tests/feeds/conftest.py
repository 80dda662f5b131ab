"""Fixtures for the feed tests: a loopback feed server ("the internet" = 127.0.0.2)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from ingest.config import Settings


def _load_hostile_server() -> ModuleType:
    name = "newsmon_tests_hostile_server"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).parent.parent / "net" / "hostile_server.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def hs() -> ModuleType:
    return _load_hostile_server()


@pytest.fixture
def internet(hs: ModuleType) -> Iterator[object]:
    server = hs.HostileServer("127.0.0.2").start()
    yield server
    server.close()


@pytest.fixture
def settings() -> Settings:
    return Settings(
        allow_networks="127.0.0.2/32",
        fetch_deadline_s=3.0,
        connect_timeout_s=1.0,
        max_feed_bytes=1 << 20,
        per_host_delay_s=0.0,
        per_host_concurrency=4,
    )
