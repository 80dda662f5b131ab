"""``newsmon match``: topics against a JSON Lines file of documents, streaming.

Input lines: ``{"id", "title", "text", "url"?, "source"?, "published"?, "language"?,
"author"?}``. Output: one line per (document, matching topic):
``{"id", "topic", "hits": [{"field", "start", "end", "term"}, ...]}``. Offsets are
character offsets into the document's own field text. Memory stays constant: one
document is held at a time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ingest.topics.index import Topic, TopicMatcher
from ingest.topics.match import Document, PreparedDocument, normalise_source

DEFAULT_TOPICS_PATH = Path(__file__).with_name("default_topics.yaml")
"""The topics shipped for the founding case (a YAML file with a ``topics:`` list)."""


class BatchInputError(ValueError):
    """An input line that is not a JSON object with the expected fields (names the line)."""


class TopicFileError(ValueError):
    """A topics file that is not a ``topics:`` list of {name, query, ...} mappings."""


def _string_tuple(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise TopicFileError(f"{where}: expected a string or a list of strings")


def topics_from_data(data: object, origin: str = "topics") -> list[Topic]:
    """Topics from decoded YAML/JSON: ``{"topics": [{name, query, description?,
    sources?, languages?}, ...]}`` (a bare list is accepted too). Queries are not parsed
    here: :class:`TopicMatcher` does that and names the topic on error."""
    entries = data.get("topics") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise TopicFileError(f"{origin}: expected a 'topics:' list")
    topics = []
    for number, entry in enumerate(entries, start=1):
        where = f"{origin}: topic #{number}"
        if not isinstance(entry, dict):
            raise TopicFileError(f"{where}: expected a mapping with 'name' and 'query'")
        name, query = entry.get("name"), entry.get("query")
        if not isinstance(name, str) or not name.strip():
            raise TopicFileError(f"{where}: 'name' must be a non-empty string")
        if not isinstance(query, str) or not query.strip():
            raise TopicFileError(f"{where} ({name!r}): 'query' must be a non-empty string")
        description = entry.get("description") or ""
        if not isinstance(description, str):
            raise TopicFileError(f"{where} ({name!r}): 'description' must be a string")
        topics.append(
            Topic(
                name=name.strip(),
                query=query,
                description=description,
                sources=_string_tuple(entry.get("sources"), f"{where} sources"),
                languages=_string_tuple(entry.get("languages"), f"{where} languages"),
            )
        )
    return topics


def load_topics(path: Path = DEFAULT_TOPICS_PATH) -> list[Topic]:
    """Read a topics YAML file (default: the shipped founding-case topics)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise TopicFileError(f"{path}: cannot read ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise TopicFileError(f"{path}: not valid YAML ({error})") from None
    return topics_from_data(data, str(path))


def _text(row: dict[str, Any], key: str, line_number: int) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BatchInputError(f"line {line_number}: {key!r} must be a string")
    return value


def document_from_json(row: object, line_number: int = 0) -> tuple[str, Document]:
    """(id, Document) from one decoded input line; ``source`` falls back to the URL host."""
    if not isinstance(row, dict):
        raise BatchInputError(f"line {line_number}: expected a JSON object")
    identifier = row.get("id")
    if not isinstance(identifier, str | int) or isinstance(identifier, bool):
        raise BatchInputError(f"line {line_number}: 'id' must be a string or an integer")
    document = Document(
        title=_text(row, "title", line_number),
        text=_text(row, "text", line_number),
        source=normalise_source(_text(row, "source", line_number), _text(row, "url", line_number)),
        language=_text(row, "language", line_number),
        author=_text(row, "author", line_number),
    )
    return str(identifier), document


def match_jsonl(topics: Sequence[Topic], input_path: Path, output_path: Path) -> int:
    """Match every document of ``input_path`` against ``topics``; returns matches written.

    Raises :class:`~ingest.topics.index.TopicError` for a bad query (before reading any
    input) and :class:`BatchInputError` naming the line for a bad input line.
    """
    matcher = TopicMatcher(topics)
    written = 0
    with (
        input_path.open(encoding="utf-8") as lines,
        output_path.open("w", encoding="utf-8") as out,
    ):
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise BatchInputError(f"line {line_number}: not JSON ({error.msg})") from None
            identifier, document = document_from_json(row, line_number)
            prepared = PreparedDocument(document)
            for found in matcher.match(prepared):
                hits = [hit.as_dict() for hit in found.hits]
                record = {"id": identifier, "topic": found.topic, "hits": hits}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                written += 1
    return written
