"""Fixtures for the network tests: hostile servers on loopback and guarded settings.

127.0.0.2 plays "the internet" (opted in with NEWSMON_ALLOW_NETWORKS=127.0.0.2/32);
127.0.0.1 plays the internal service an attacker wants to reach.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from ingest.config import Settings


def load_hostile_server() -> ModuleType:
    name = "newsmon_tests_hostile_server"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, Path(__file__).with_name("hostile_server.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def hs() -> ModuleType:
    return load_hostile_server()


@pytest.fixture
def internet(hs: ModuleType) -> Iterator[object]:
    server = hs.HostileServer("127.0.0.2").start()
    yield server
    server.close()


@pytest.fixture
def secret(hs: ModuleType) -> Iterator[object]:
    """An internal service on 127.0.0.1 that must never receive a request."""
    server = hs.HostileServer("127.0.0.1").start()
    server.routes["/"] = hs.respond(200, b"internal secrets")
    yield server
    server.close()


@pytest.fixture
def settings() -> Settings:
    return Settings(
        allow_networks="127.0.0.2/32",
        fetch_deadline_s=2.0,
        connect_timeout_s=1.0,
        max_feed_bytes=1 << 20,
        max_page_bytes=1 << 20,
        per_host_delay_s=0.0,
        per_host_concurrency=4,
    )
