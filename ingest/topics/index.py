"""Matching many topics against each article, at the cost of the few it could match.

Like Lucene's Monitor or the Elasticsearch percolator, the *queries* are indexed: each
query is filed under anchors (words, prefixes, phrases, ``source:``/``lang:`` values)
such that any matching document holds one of them (:mod:`ingest.topics.anchors`). An
article is scanned once for the words, prefixes and phrases the queries use
(:mod:`ingest.topics.lexicon`);
those pull out the queries filed under them; cheap set checks rule most of those out
(:mod:`ingest.topics.presearch`), and only the rest are evaluated, plus the few queries
that have no anchor at all (``NOT sport``, ``source:nyt*``), which are always checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ingest.topics.anchors import Anchor, Clause, anchor_clauses, anchors
from ingest.topics.lexicon import Lexicon
from ingest.topics.match import (
    CompiledQuery,
    Document,
    Hit,
    PreparedDocument,
    Snippet,
    make_snippet,
)
from ingest.topics.presearch import Plan, make_plan
from ingest.topics.query import QueryError, parse_query

__all__ = ["Anchor", "Topic", "TopicError", "TopicMatch", "TopicMatcher", "anchors"]


@dataclass(frozen=True, slots=True)
class Topic:
    """What an analyst watches. Empty ``sources``/``languages`` mean no filter."""

    name: str
    query: str
    description: str = ""
    sources: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()


class TopicError(ValueError):
    """A topic whose query does not parse; names the topic and wraps the QueryError."""

    def __init__(self, topic: str, error: QueryError) -> None:
        self.topic = topic
        self.error = error
        super().__init__(f"topic {topic!r}: {error}")


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """A topic that matched, with why: its hits and a snippet that marks them."""

    topic: str
    hits: tuple[Hit, ...]
    snippet: Snippet | None


def _host_matches(source: str, allowed: tuple[str, ...]) -> bool:
    return any(source == domain or source.endswith("." + domain) for domain in allowed)


def _language_matches(language: str, allowed: tuple[str, ...]) -> bool:
    tag = language.lower().replace("_", "-")
    return any(tag == want or tag.startswith(want + "-") for want in allowed)


@dataclass(frozen=True, slots=True)
class _IndexedTopic:
    topic: Topic
    query: CompiledQuery
    sources: tuple[str, ...]
    languages: tuple[str, ...]


class TopicMatcher:
    """All topics, indexed by their anchors; :meth:`match` tags one document."""

    def __init__(self, topics: Sequence[Topic], *, native: bool = True) -> None:
        """Index ``topics``; ``native=False`` keeps to the pure-Python scan and filter
        (what runs where the C extension could not be built; tests compare the two)."""
        self._topics: list[_IndexedTopic] = []
        self._clauses: list[list[Clause]] = []
        self.always_checked: list[int] = []
        nodes = []
        for number, topic in enumerate(topics):
            try:
                node = parse_query(topic.query)
            except QueryError as error:
                raise TopicError(topic.name, error) from None
            nodes.append(node)
            self._topics.append(
                _IndexedTopic(
                    topic,
                    CompiledQuery.from_node(node),
                    tuple(s.lower().removeprefix("www.") for s in topic.sources),
                    tuple(lang.lower().replace("_", "-") for lang in topic.languages),
                )
            )
            clauses = sorted(set(anchor_clauses(node)), key=lambda c: sorted(map(sorted, c)))
            self._clauses.append(clauses)
            if not clauses:
                self.always_checked.append(number)
        plan = make_plan(self._clauses, native=native)
        self.lexicon = Lexicon.of_queries(nodes, native=native)
        # With both in C, the scan reports the filter's keys as numbers.
        if plan.native is not None and self.lexicon.bind(plan.native.key_list()):
            plan = replace(plan, numbered_by=self.lexicon)
        self._plan: Plan = plan

    @property
    def topics(self) -> list[Topic]:
        return [indexed.topic for indexed in self._topics]

    def candidates(self, doc: PreparedDocument) -> list[int]:
        """Numbers of the topics ``doc`` could match (a superset of the real matches)."""
        return self._plan.candidates(doc.scoped(self.lexicon))

    def matching_numbers(self, doc: PreparedDocument, *, use_index: bool = True) -> list[int]:
        """Numbers of the topics that match; ``use_index=False`` checks every topic.

        With the index, queries run on ``doc`` scoped to the topics' lexicon (the same
        answers, without building the document's full word sets).
        """
        if use_index:
            doc = doc.scoped(self.lexicon)
        document = doc.document
        matched = []
        numbers = self._plan.candidates(doc) if use_index else range(len(self._topics))
        for number in numbers:
            indexed = self._topics[number]
            if indexed.sources and not _host_matches(document.source, indexed.sources):
                continue
            if indexed.languages and not _language_matches(document.language, indexed.languages):
                continue
            # A candidate has passed the index's clause checks, which cover the screen.
            if indexed.query.predicate(doc) if use_index else indexed.query.matches(doc):
                matched.append(number)
        return matched

    def match(self, document: Document | PreparedDocument) -> list[TopicMatch]:
        """Every topic ``document`` matches, in topic order, with hits and a snippet."""
        if not isinstance(document, PreparedDocument):
            document = PreparedDocument(document)
        doc = document.scoped(self.lexicon)
        results = []
        for number in self.matching_numbers(doc):
            indexed = self._topics[number]
            hits = indexed.query.explain(doc)
            results.append(
                TopicMatch(indexed.topic.name, tuple(hits), make_snippet(doc.document, hits))
            )
        return results
