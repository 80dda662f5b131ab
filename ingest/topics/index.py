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


def anchor_clauses(node: Node) -> list[frozenset[Anchor]]:
    """Sets of anchors of which a document matching ``node`` contains one *from each*.

    ``"azure cloud" AND (army OR navy)`` gives ``[{azure}, {cloud}, {army, navy}]``;
    an empty list when nothing is required (a pure NOT, a ``source:`` prefix).
    """
    if isinstance(node, Term):
        return [frozenset({("term", "", node.term)})]
    if isinstance(node, Prefix):
        return [frozenset({("prefix", "", node.prefix)})]
    if isinstance(node, Phrase):
        exact = node.terms[:-1] if node.last_is_prefix else node.terms
        return [frozenset({("term", "", term)}) for term in dict.fromkeys(exact)]
    if isinstance(node, Keyword):
        return [] if node.is_prefix else [frozenset({("keyword", node.field, node.value)})]
    if isinstance(node, Not):
        return []
    if isinstance(node, Or):
        union: set[Anchor] = set()
        for child in node.children:
            clauses = anchor_clauses(child)
            if not clauses:
                return []
            best: frozenset[Anchor] = min(clauses, key=_anchor_cost)
            union |= best
        return [frozenset(union)]
    children = (node.left, node.right) if isinstance(node, Near) else node.children
    return [clause for child in children for clause in anchor_clauses(child)]


def anchors(node: Node) -> frozenset[Anchor] | None:
    """The most selective set of terms of which every match contains at least one.

    ``None`` when no such set exists (a pure NOT, a ``source:`` prefix).
    """
    clauses = anchor_clauses(node)
    return min(clauses, key=_anchor_cost) if clauses else None


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


class _AnchorIndex:
    """Anchor -> topic numbers, for both passes of the prefilter (pass 0 and pass 1)."""

    def __init__(self) -> None:
        self.by_term: tuple[dict[str, list[int]], ...] = (defaultdict(list), defaultdict(list))
        self.by_keyword: dict[tuple[str, str], tuple[list[int], list[int]]] = defaultdict(
            lambda: ([], [])
        )
        self.by_prefix: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
        self.term_keys: tuple[frozenset[str], ...] = (frozenset(), frozenset())
        self.prefixes_by_head: dict[str, list[tuple[str, tuple[list[int], list[int]]]]] = {}

    def add(self, number: int, clause: frozenset[Anchor], pass_number: int) -> None:
        for kind, field_name, value in clause:
            if kind == "term":
                self.by_term[pass_number][value].append(number)
            elif kind == "prefix":
                self.by_prefix[value][pass_number].append(number)
            else:
                self.by_keyword[(field_name, value)][pass_number].append(number)

    def freeze(self) -> None:
        self.term_keys = tuple(frozenset(by_term) for by_term in self.by_term)
        by_head: dict[str, list[tuple[str, tuple[list[int], list[int]]]]] = defaultdict(list)
        for prefix, numbers in self.by_prefix.items():
            by_head[prefix[:MIN_PREFIX_LETTERS]].append((prefix, numbers))
        self.prefixes_by_head = dict(by_head)

    def hits(self, doc: PreparedDocument) -> tuple[set[int], set[int]]:
        """Topics with an anchor in ``doc``, per pass."""
        found: tuple[set[int], set[int]] = (set(), set())
        vocabulary = doc.vocabulary
        for pass_number in (0, 1):
            by_term, into = self.by_term[pass_number], found[pass_number]
            for term in vocabulary & self.term_keys[pass_number]:  # C-level intersection
                into.update(by_term[term])
        if self.prefixes_by_head:
            # Prefixes are grouped by their first letters: one dict lookup per word.
            by_head = self.prefixes_by_head
            for term in vocabulary:
                entries = by_head.get(term[:MIN_PREFIX_LETTERS])
                if entries:
                    for prefix, (first, second) in entries:
                        if term.startswith(prefix):
                            found[0].update(first)
                            found[1].update(second)
        for key in doc.keyword_anchors:
            if key in self.by_keyword:
                first, second = self.by_keyword[key]
                found[0].update(first)
                found[1].update(second)
        return found


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
        # Two passes, like Lucene Monitor's multipass presearcher: a topic is a candidate
        # when the document holds an anchor of its most selective clause and, if it has
        # one, of its second most selective clause too.
        self._anchors = _AnchorIndex()
        two_pass: set[int] = set()
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
            clauses = sorted(set(anchor_clauses(node)), key=_anchor_cost)
            if not clauses:
                self.always_checked.append(number)
                continue
            self._anchors.add(number, clauses[0], 0)
            if len(clauses) > 1:
                self._anchors.add(number, clauses[1], 1)
                two_pass.add(number)
        self._two_pass = frozenset(two_pass)
        self._anchors.freeze()

    @property
    def topics(self) -> list[Topic]:
        return [indexed.topic for indexed in self._topics]

    def candidates(self, doc: PreparedDocument) -> list[int]:
        """Numbers of the topics ``doc`` could match (a superset of the real matches)."""
        found, second = self._anchors.hits(doc)
        two_pass = self._two_pass
        if not found.isdisjoint(two_pass):
            found = {n for n in found if n not in two_pass or n in second}
        found.update(self.always_checked)
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
