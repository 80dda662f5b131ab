"""``newsmon cluster``: the stable batch interface."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from ingest.cli import app

runner = CliRunner()


def _write(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_cluster_command_writes_one_line_per_input(tmp_path: Path, basil_stream: Any) -> None:
    stream = [{k: v for k, v in r.items() if k != "cluster"} for r in basil_stream(3)]
    src, out = tmp_path / "docs.jsonl", tmp_path / "out.jsonl"
    _write(src, stream)
    result = runner.invoke(app, ["cluster", "--input", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in lines] == [r["id"] for r in stream]
    assert all(set(r) == {"id", "story", "duplicate_of"} for r in lines)
    assert all(isinstance(r["story"], str) for r in lines)
    seen: set[str] = set()
    for r in lines:  # duplicate_of is null or an earlier id
        assert r["duplicate_of"] is None or r["duplicate_of"] in seen
        seen.add(r["id"])
    assert len({r["story"] for r in lines}) == 3


def test_optional_fields_may_be_missing(tmp_path: Path) -> None:
    src, out = tmp_path / "docs.jsonl", tmp_path / "out.jsonl"
    _write(src, [{"id": "a", "title": "One", "text": "Some text."}, {"id": 2, "title": "Two"}])
    result = runner.invoke(app, ["cluster", "--input", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["a", "2"]


def test_missing_input_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["cluster", "--input", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "not found" in result.output
    assert "Traceback" not in result.output


def test_bad_line_is_named(tmp_path: Path) -> None:
    src = tmp_path / "docs.jsonl"
    src.write_text('{"id": "a", "title": "x", "text": "y"}\n{not json\n', encoding="utf-8")
    result = runner.invoke(app, ["cluster", "--input", str(src), "--output", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "line 2" in result.output
    assert not (tmp_path / "o").exists()


def test_missing_id_is_named(tmp_path: Path) -> None:
    src = tmp_path / "docs.jsonl"
    _write(src, [{"title": "x", "text": "y"}])
    result = runner.invoke(app, ["cluster", "--input", str(src), "--output", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "'id'" in result.output
