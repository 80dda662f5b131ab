"""Batch extraction of a directory to JSON Lines: shape, order, failures recorded."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from ingest.extract.batch import extract_directory, extract_file

ARTICLE = (
    '<html lang="en-GB"><head><title>Bridge vote</title>'
    '<meta name="author" content="Ada Lovelace">'
    '<meta property="article:published_time" content="2024-03-05T10:00:00Z">'
    '<link rel="canonical" href="https://example.org/news/bridge-vote"></head><body><article>'
    + "<p>The council voted on Tuesday to rebuild the old bridge over the river. </p>" * 5
    + "<p>Work starts in spring and should take two years, officials said. </p>"
    + "</article></body></html>"
)
KEYS = ["id", "title", "text", "author", "published", "language", "canonical_url", "error"]


def test_directory_to_jsonl(tmp_path: Path) -> None:
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "b-plain.html").write_text(ARTICLE, encoding="utf-8")
    (pages / "a-zipped.html.gz").write_bytes(gzip.compress(ARTICLE.encode()))
    (pages / "c-empty.html").write_bytes(b"")
    (pages / "d-binary.html").write_bytes(bytes(range(256)) * 8)
    (pages / "e-broken.html.gz").write_bytes(b"\x1f\x8bnot really gzip")
    (pages / "notes.txt").write_text("ignored")
    output = tmp_path / "out.jsonl"
    seen: list[tuple[int, int]] = []

    summary = extract_directory(pages, output, workers=2, progress=lambda d, t: seen.append((d, t)))

    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert [line["id"] for line in lines] == [
        "a-zipped",
        "b-plain",
        "c-empty",
        "d-binary",
        "e-broken",
    ]
    assert all(list(line) == KEYS for line in lines)
    first = lines[0]
    assert first["title"] == "Bridge vote"
    assert "rebuild the old bridge" in first["text"]
    assert first["author"] == "Ada Lovelace"
    assert first["published"] == "2024-03-05"
    assert first["language"] == "en"
    assert first["canonical_url"] == "https://example.org/news/bridge-vote"
    assert first["error"] is None
    assert lines[2]["error"].startswith("empty:")
    assert lines[3]["error"].startswith("not_html:")
    assert lines[4]["error"].startswith("not_html:")
    assert summary.total == 5
    assert summary.extracted == 2
    assert summary.errors == {"empty": 1, "not_html": 2}
    assert seen[-1] == (5, 5)


def test_extract_file(tmp_path: Path) -> None:
    path = tmp_path / "one.html"
    path.write_text(ARTICLE)
    record = extract_file(path)
    assert record["id"] == "one"
    assert record["title"] == "Bridge vote"


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="input directory not found"):
        extract_directory(tmp_path / "nope", tmp_path / "out.jsonl", workers=1)


def test_gzip_bomb_is_too_large_without_inflating_in_the_parent(tmp_path: Path) -> None:
    """A small .html.gz that inflates past the byte cap: recorded as too_large (the worker
    inflates at most cap + 1 bytes)."""
    import json

    from ingest.extract.batch import extract_directory

    pages = tmp_path / "pages"
    pages.mkdir()
    bomb = gzip.compress(b"<html><body>" + b"<p>a</p>" * 2_000_000 + b"</body></html>")
    assert len(bomb) < 200_000
    (pages / "bomb.html.gz").write_bytes(bomb)
    out = tmp_path / "out.jsonl"
    extract_directory(pages, out, workers=1)
    record = json.loads(out.read_text())
    assert record["id"] == "bomb"
    assert record["error"].startswith("too_large")
