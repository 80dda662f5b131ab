"""The batch interface's logic: JSON records in stream order -> story/duplicate records.

Pure: takes parsed records, returns output records. The CLI reads and writes the files.
Input ``{"id", "title", "text", "url"?, "source"?, "published"?}``; output
``{"id", "story", "duplicate_of"}``. A record without a usable ``published`` takes the
stream clock (the latest time seen so far): the stream order is the arrival order.
``date`` is read when ``published`` is absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from ingest.dedupe.clusterer import Clusterer, ClusterParams, ClusterState, Doc
from ingest.dedupe.memory_state import InMemoryClusterState
from ingest.dedupe.urls import UrlError, canonical_url

MAX_FIELD_CHARS = 200_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RecordError(ValueError):
    """An input record is unusable (names the record number and the field)."""


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from an ISO 8601 string / date, or None if unusable."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _text_field(record: Mapping[str, Any], name: str, number: int) -> str:
    value = record.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(f"record {number}: field {name!r} must be a string")
    return value[:MAX_FIELD_CHARS]


def _source(record: Mapping[str, Any], number: int) -> str | None:
    source = _text_field(record, "source", number)
    if source:
        return source[:255]
    url = _text_field(record, "url", number)
    if url:
        try:
            return canonical_url(url).split("/")[2]
        except UrlError:
            return None
    return None


def cluster_records(
    records: Iterable[Mapping[str, Any]],
    params: ClusterParams | None = None,
    state: ClusterState | None = None,
    on_record: Callable[[int], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Cluster records in stream order; yields one output record per input record, in
    the same order, once the whole stream is clustered.

    A repeated id is the same article again: it gets its first decision back. The
    stories are the final ones: a later article may take an earlier one out of the story
    it first joined (see Clusterer._regroup), so nothing is written before the end.
    ``on_record`` is called with the number of records clustered so far, after each.
    """
    cluster_state: ClusterState = state if state is not None else InMemoryClusterState()
    clusterer = Clusterer(cluster_state, params)
    decided: list[tuple[str, int, int | None]] = []
    numbers: dict[str, int] = {}
    names: dict[int, str] = {}
    clock = EPOCH
    for number, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            raise RecordError(f"record {number}: expected a JSON object")
        raw_id = record.get("id")
        if not isinstance(raw_id, str | int) or isinstance(raw_id, bool) or raw_id == "":
            raise RecordError(f"record {number}: field 'id' must be a non-empty string")
        doc_id = str(raw_id)
        article_id = numbers.setdefault(doc_id, len(numbers) + 1)
        names[article_id] = doc_id
        # "date" is accepted as an alias: dev sets often carry only a day.
        published = parse_time(record.get("published")) or parse_time(record.get("date"))
        time = published or clock
        clock = max(clock, time)
        doc = Doc(
            article_id=article_id,
            title=_text_field(record, "title", number),
            text=_text_field(record, "text", number),
            time=time,
            source=_source(record, number),
        )
        decision = clusterer.process(doc)
        decided.append((doc_id, article_id, decision.duplicate_of))
        if on_record is not None:
            on_record(number)
    stories = cluster_state.story_of(sorted(numbers.values()))
    for doc_id, article_id, duplicate_of in decided:
        yield {
            "id": doc_id,
            "story": f"s{stories[article_id]}",
            "duplicate_of": names[duplicate_of] if duplicate_of else None,
        }
