"""`newsmon db upgrade` and `newsmon feeds add|list|remove|import-opml` end to end."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ingest.cli import app

runner = CliRunner()

OPML = """<?xml version="1.0"?>
<opml version="2.0"><head><title>subs</title></head><body>
  <outline text="World"><outline text="A" type="rss" xmlUrl="https://a.example/rss"/>
  <outline text="B" type="rss" xmlUrl="https://b.example/atom.xml"/></outline>
  <outline text="dup" xmlUrl="https://a.example/rss"/>
</body></opml>
"""


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_feed_lifecycle(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    assert invoke("db", "upgrade", "--db", db)[0] == 0
    assert invoke("db", "upgrade", "--db", db)[0] == 0  # idempotent
    code, out = invoke("feeds", "add", "https://c.example/feed", "--db", db, "--title", "C")
    assert code == 0, out
    code, out = invoke("feeds", "add", "https://c.example/feed", "--db", db)
    assert code == 0 and "already" in out
    code, out = invoke("feeds", "add", "javascript:alert(1)", "--db", db)
    assert code == 2 and "http(s)" in out

    opml = tmp_path / "subs.opml"
    opml.write_text(OPML)
    code, out = invoke("feeds", "import-opml", str(opml), "--db", db)
    assert code == 0 and "2 feeds" in out and "2 new" in out, out

    code, out = invoke("feeds", "list", "--db", db, "--json")
    urls = [json.loads(line)["url"] for line in out.splitlines()]
    assert urls == ["https://c.example/feed", "https://a.example/rss", "https://b.example/atom.xml"]

    assert invoke("feeds", "remove", "https://a.example/rss", "--db", db)[0] == 0
    code, out = invoke("feeds", "remove", "https://a.example/rss", "--db", db)
    assert code == 1 and "no feed" in out


def test_bad_opml_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.opml"
    bad.write_text("<opml><body><outline xmlUrl='gopher://x.example/'/></body></opml>")
    code, out = invoke("feeds", "import-opml", str(bad), "--db", f"sqlite:///{tmp_path}/d.db")
    assert code == 2
    assert "bad.opml:1" in out.replace("\n", "")


def test_missing_schema_gives_hint(tmp_path: Path) -> None:
    code, out = invoke("feeds", "list", "--db", f"sqlite:///{tmp_path / 'empty.db'}")
    assert code == 1
    assert "newsmon db upgrade" in out
