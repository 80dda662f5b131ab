"""`newsmon alerts list|preview|send` end to end on SQLite."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from ingest.cli import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def db_url(sqlite_url: str) -> str:  # the CLI is dialect-blind: SQLite is enough here
    return sqlite_url


def test_list_preview_send(seed: Any, webhook: Any, alert_settings: Any) -> None:
    topic = seed.topic("quake")
    seed.subscription("ops", ["quake"], target=webhook.url, budget_per_hour=1)
    stories = [seed.story(f"<script>x</script>Quake {i}") for i in range(2)]
    for story in stories:
        seed.match(story, topic, snippet="quake in the city", spans=[(0, 5)])
    seed.enqueue(stories)
    db = seed.db_url

    code, out = invoke("alerts", "list", "--db", db, "--json")
    assert code == 0, out
    rows = [json.loads(line) for line in out.splitlines()]
    assert sorted(r["status"] for r in rows) == ["held", "pending"]
    code, out = invoke("alerts", "list", "--db", db, "--status", "held", "--json")
    assert [json.loads(line)["status"] for line in out.splitlines()] == ["held"]
    code, out = invoke("alerts", "list", "--db", db)
    assert code == 0 and "ops" in out
    assert invoke("alerts", "list", "--db", db, "--status", "bogus")[0] == 2

    code, out = invoke("alerts", "preview", "ops", "--db", db)
    assert code == 0, out
    assert "digest due" in out and '"type": "alert"' in out and '"type": "digest"' in out
    assert "<script" not in out
    code, out = invoke("alerts", "preview", "ops", "--db", db, "--format", "html")
    assert code == 0 and "<mark>quake</mark>" in out
    assert webhook.requests == []  # preview sends nothing
    code, out = invoke("alerts", "preview", "nobody", "--db", db)
    assert code == 2 and "no subscription named" in out

    code, out = invoke("alerts", "send", "--db", db, "--json")
    assert code == 0, out
    assert json.loads(out)["sent"] == 1
    assert len(webhook.requests) == 1
    code, out = invoke("alerts", "send", "--db", db)
    assert code == 0 and "0 claimed" in out
