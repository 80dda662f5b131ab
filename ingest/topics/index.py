"""Matching many topics against each article, at the cost of the few it could match.

Like Lucene's Monitor or the Elasticsearch percolator, the *queries* are indexed: for
each query we pick a set of anchor terms such that any matching document must contain at
least one of them (a word, a prefix, or a ``source:``/``lang:`` value). An article then
looks up its own distinct terms in that index and evaluates only the queries it hit, plus
the few queries that have no anchor at all (``NOT sport``, ``source:nyt*``), which are
always checked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.topics.match import (
    CompiledQuery,
    Document,
    Hit,
    PreparedDocument,
    Snippet,
    make_snippet,
)
from ingest.topics.query import (
    MIN_PREFIX_LETTERS,
    Keyword,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    QueryError,
    Term,
    parse_query,
)

Anchor = tuple[str, str, str]  # (kind, field, value): ("term", "", w), ("prefix", "", p), ...


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


def anchors(node: Node) -> frozenset[Anchor] | None:
    """Terms of which every document matching ``node`` contains at least one.

    ``None`` when no such set exists (a pure NOT, a ``source:`` prefix).
    """
    if isinstance(node, Term):
        return frozenset({("term", "", node.term)})
    if isinstance(node, Prefix):
        return frozenset({("prefix", "", node.prefix)})
    if isinstance(node, Phrase):
        candidates = node.terms[:-1] if node.last_is_prefix else node.terms
        return frozenset({("term", "", max(candidates, key=len))})
    if isinstance(node, Keyword):
        return None if node.is_prefix else frozenset({("keyword", node.field, node.value)})
    if isinstance(node, Not):
        return None
    if isinstance(node, Or):
        union: set[Anchor] = set()
        for child in node.children:
            found = anchors(child)
            if found is None:
                return None
            union |= found
        return frozenset(union)
    children = (node.left, node.right) if isinstance(node, Near) else node.children
    options = [found for child in children if (found := anchors(child)) is not None]
    return min(options, key=_anchor_cost) if options else None


def _anchor_cost(options: frozenset[Anchor]) -> float:
    """Rough chance that a document contains one of ``options``: short words are common."""
    cost = 0.0
    for kind, _field, value in options:
        if kind == "term":
            cost += 1.0 + 8.0 / max(1, len(value))
        elif kind == "prefix":
            cost += 3.0 + 16.0 / max(1, len(value))
        else:
            cost += 4.0
    return cost


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
    """All topics, indexed by their anchor terms; :meth:`match` tags one document."""

    def __init__(self, topics: Sequence[Topic]) -> None:
        self._topics: list[_IndexedTopic] = []
        self._by_term: dict[str, list[int]] = defaultdict(list)
        self._by_prefix: dict[str, list[int]] = defaultdict(list)
        self._by_keyword: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.always_checked: list[int] = []
        for number, topic in enumerate(topics):
            try:
                node = parse_query(topic.query)
            except QueryError as error:
                raise TopicError(topic.name, error) from None
            self._topics.append(
                _IndexedTopic(
                    topic,
                    CompiledQuery.from_node(node),
                    tuple(s.lower().removeprefix("www.") for s in topic.sources),
                    tuple(lang.lower().replace("_", "-") for lang in topic.languages),
                )
            )
            found = anchors(node)
            if found is None:
                self.always_checked.append(number)
                continue
            for kind, field_name, value in found:
                if kind == "term":
                    self._by_term[value].append(number)
                elif kind == "prefix":
                    self._by_prefix[value].append(number)
                else:
                    self._by_keyword[(field_name, value)].append(number)
        self._term_keys = frozenset(self._by_term)
        self._prefix_lengths = sorted({len(prefix) for prefix in self._by_prefix})
        self._prefix_heads = frozenset(prefix[:MIN_PREFIX_LETTERS] for prefix in self._by_prefix)

    @property
    def topics(self) -> list[Topic]:
        return [indexed.topic for indexed in self._topics]

    def candidates(self, doc: PreparedDocument) -> list[int]:
        """Numbers of the topics ``doc`` could match (a superset of the real matches)."""
        found: set[int] = set(self.always_checked)
        vocabulary, by_term, by_prefix = doc.vocabulary, self._by_term, self._by_prefix
        for term in vocabulary & self._term_keys:  # a C-level set intersection
            found.update(by_term[term])
        if by_prefix:
            heads, lengths = self._prefix_heads, self._prefix_lengths
            for term in vocabulary:
                if term[:MIN_PREFIX_LETTERS] not in heads:
                    continue
                for length in lengths:
                    if length > len(term):
                        break
                    numbers = by_prefix.get(term[:length])
                    if numbers:
                        found.update(numbers)
        for key in doc.keyword_anchors:
            numbers = self._by_keyword.get(key)
            if numbers:
                found.update(numbers)
        return sorted(found)

    def matching_numbers(self, doc: PreparedDocument, *, use_index: bool = True) -> list[int]:
        """Numbers of the topics that match; ``use_index=False`` checks every topic."""
        numbers = self.candidates(doc) if use_index else range(len(self._topics))
        document = doc.document
        matched = []
        for number in numbers:
            indexed = self._topics[number]
            if indexed.sources and not _host_matches(document.source, indexed.sources):
                continue
            if indexed.languages and not _language_matches(document.language, indexed.languages):
                continue
            if indexed.query.matches(doc):
                matched.append(number)
        return matched

    def match(self, document: Document | PreparedDocument) -> list[TopicMatch]:
        """Every topic ``document`` matches, in topic order, with hits and a snippet."""
        doc = document if isinstance(document, PreparedDocument) else PreparedDocument(document)
        results = []
        for number in self.matching_numbers(doc):
            indexed = self._topics[number]
            hits = indexed.query.explain(doc)
            results.append(
                TopicMatch(indexed.topic.name, tuple(hits), make_snippet(doc.document, hits))
            )
        return results
