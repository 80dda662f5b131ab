"""The Airflow plugin without running Airflow: the mounted app answers only to a caller
Airflow's auth manager accepts, and shows the project database's pages."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.web.web_world import World, fill

PLUGIN_FILE = Path(__file__).resolve().parents[2] / "plugins" / "newsmon_plugin.py"


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> tuple[Any, World]:
    world = fill(sqlite_url)
    # The Connection wins over the env fallback: point it at the filled database.
    monkeypatch.setenv(
        "AIRFLOW_CONN_NEWSMON_DB",
        f'{{"conn_type": "sqlite", "extra": {{"sqlalchemy_url": "{sqlite_url}"}}}}',
    )
    spec = importlib.util.spec_from_file_location("newsmon_plugin_under_test", PLUGIN_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, world


def test_plugin_declares_app_and_nav_view(plugin: tuple[Any, World]) -> None:
    module, _ = plugin
    cls = module.NewsmonPlugin
    assert cls.name == "newsmon"
    assert [a["url_prefix"] for a in cls.fastapi_apps] == ["/newsmon"]
    view = cls.external_views[0]
    assert view["name"] == "News monitor"
    assert not view["href"].startswith("/")  # relative: works behind a base_url prefix
    assert view["destination"] == "nav"


@pytest.mark.usefixtures("airflow_db")
def test_plugin_app_requires_airflow_auth(plugin: tuple[Any, World]) -> None:
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    module, world = plugin
    auth_manager = init_auth_manager()
    client = TestClient(module.NewsmonPlugin.fastapi_apps[0]["app"])
    for path in ("/stories", "/api/stories", "/metrics", "/feeds"):
        assert client.get(path).status_code == 401, path
    forged = {"Authorization": "Bearer not-a-token"}
    assert client.get("/api/stories", headers=forged).status_code in (401, 403)

    token = auth_manager.generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    authed = {"Authorization": f"Bearer {token}"}
    stories = client.get("/api/stories", params={"since": "all"}, headers=authed)
    assert stories.status_code == 200, stories.text
    assert {s["id"] for s in stories.json()} == {
        world.flood_story,
        world.hostile_story,
        world.old_story,
    }
    # The UI's session cookie is accepted the same way.
    client.cookies.set("_token", token)
    assert client.get("/feeds").status_code == 200


def test_connection_uri_spelling_is_normalised(
    plugin: tuple[Any, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    module, _ = plugin
    monkeypatch.setenv("AIRFLOW_CONN_NEWSMON_DB", "postgres://u:p@db.example:5432/newsmon")
    assert module.project_db_url() == "postgresql+psycopg://u:p@db.example:5432/newsmon"
    monkeypatch.delenv("AIRFLOW_CONN_NEWSMON_DB")
    monkeypatch.setenv("NEWSMON_DATABASE_URL", "sqlite:////tmp/x.db")
    assert module.project_db_url() == "sqlite:////tmp/x.db"
