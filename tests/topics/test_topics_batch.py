"""match_jsonl: the stable batch interface behind ``newsmon match``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.topics import Topic, TopicError
from ingest.topics.batch import (
    BatchInputError,
    TopicFileError,
    load_topics,
    match_jsonl,
    topics_from_data,
)


def write_lines(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def read_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


ROWS = [
    {
        "id": "a",
        "title": "Azure cut",
        "text": "Microsoft cut Unit 8200 off Azure.",
        "url": "https://www.Example.com/x",
    },
    {"id": "b", "title": "Weather", "text": "Sunny."},
    {"id": 3, "title": "", "text": "AWS and Azure", "source": "bbc.co.uk", "language": "en"},
]


def test_one_line_per_match_with_hits(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "in.jsonl", list(ROWS))
    out = tmp_path / "out.jsonl"
    topics = [Topic("azure", "azure"), Topic("example", "source:example.com"), Topic("aws", "aws")]
    assert match_jsonl(topics, source, out) == 4
    lines = read_lines(out)
    assert [(line["id"], line["topic"]) for line in lines] == [
        ("a", "azure"),
        ("a", "example"),
        ("3", "azure"),
        ("3", "aws"),
    ]
    assert set(lines[0]) == {"id", "topic", "hits"}
    assert lines[0]["hits"] == [
        {"field": "title", "start": 0, "end": 5, "term": "azure"},
        {"field": "text", "start": 28, "end": 33, "term": "azure"},
    ]
    assert lines[1]["hits"] == [{"field": "source", "start": 0, "end": 11, "term": "example.com"}]


def test_query_topic_and_blank_lines(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(ROWS[0]) + "\n\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert match_jsonl([Topic("query", '"unit 8200"')], source, out) == 1
    assert read_lines(out)[0]["topic"] == "query"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "line 1: not JSON"),
        ("[1, 2]", "line 1: expected a JSON object"),
        ('{"title": "x"}', "line 1: 'id' must be"),
        ('{"id": "x", "text": 5}', "line 1: 'text' must be a string"),
    ],
)
def test_bad_input_lines_are_named(tmp_path: Path, line: str, message: str) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(BatchInputError, match=message):
        match_jsonl([Topic("t", "x")], source, tmp_path / "out.jsonl")


def test_bad_topic_fails_before_reading(tmp_path: Path) -> None:
    with pytest.raises(TopicError, match="topic 'bad'"):
        match_jsonl([Topic("bad", "a AND")], tmp_path / "missing.jsonl", tmp_path / "o.jsonl")


def test_topic_files(tmp_path: Path) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text(
        "topics:\n  - name: a\n    query: azure\n    sources: bbc.co.uk\n    languages: [en]\n",
        encoding="utf-8",
    )
    assert load_topics(path) == [Topic("a", "azure", "", ("bbc.co.uk",), ("en",))]
    with pytest.raises(TopicFileError, match="expected a 'topics:' list"):
        topics_from_data({"feeds": []})
    with pytest.raises(TopicFileError, match="'query' must be"):
        topics_from_data({"topics": [{"name": "x"}]})
    with pytest.raises(TopicFileError, match="cannot read"):
        load_topics(tmp_path / "missing.yaml")
    path.write_text("topics: [\n", encoding="utf-8")
    with pytest.raises(TopicFileError, match="not valid YAML"):
        load_topics(path)


def test_streams_many_documents(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    with source.open("w", encoding="utf-8") as out:
        for number in range(3000):
            text = "azure contract" if number % 3 == 0 else "nothing here"
            out.write(json.dumps({"id": number, "title": "", "text": text}) + "\n")
    assert match_jsonl([Topic("t", "azure NEAR/0 contract")], source, tmp_path / "o.jsonl") == 1000
