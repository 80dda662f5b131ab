"""Evaluating a parsed query on one document, with the hits that explain the match.

A document is tokenised once (:class:`PreparedDocument`); each query is compiled once
into a tree of small closures (:class:`CompiledQuery`) that answer "does it match?"
from token sets and positions without building anything per query. Hits, with character
offsets into the original field text, are computed only for queries that matched.
"""

from __future__ import annotations

import bisect
import functools
import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from ingest.topics.anchors import phrase_anchor_terms
from ingest.topics.lexicon import Lexicon
from ingest.topics.query import (
    DEFAULT_FIELDS,
    TEXT_FIELDS,
    And,
    Keyword,
    Leaf,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    Term,
    leaf_label,
    near_leaves,
    phrase_needle,
)
from ingest.topics.tokens import joined_terms, token_offsets

MAX_HITS_PER_LEAF: Final = 50
"""A word that occurs 3,000 times explains the match no better than 50 times."""
SNIPPET_CHARS: Final = 240
MAX_FIELD_CHARS: Final = 2_000_000
"""Longer field values are cut before matching (bounded time on hostile input)."""

Span = tuple[int, int]  # token positions [start, end)


# --- documents ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Document:
    """What a topic is matched against. ``source`` is the outlet's domain."""

    title: str = ""
    text: str = ""
    source: str = ""
    language: str = ""
    author: str = ""


def normalise_source(source: str = "", url: str = "") -> str:
    """The outlet domain: ``source`` as given, else the host of ``url``; lowercase, no www."""
    value = source.strip()
    if not value and url:
        try:
            value = urlsplit(url.strip()).hostname or ""
        except ValueError:
            value = ""
    value = value.lower().rstrip(".")
    return value.removeprefix("www.")


class FieldTokens:
    """One text field tokenised: terms by position, and lazily-built lookups.

    Only :attr:`spaced`, the folded terms between single spaces (`` a b c ``), is made
    up front: term, prefix and phrase tests and token positions are substring searches
    in it. The term list and the set of terms are built when a query first needs them.
    """

    __slots__ = (
        "_lexicon",
        "_offsets",
        "_positions",
        "_terms",
        "_vocab",
        "_within",
        "spaced",
        "text",
    )

    def __init__(self, text: str, within: frozenset[str] | None = None) -> None:
        self.text = text[:MAX_FIELD_CHARS]
        self.spaced = joined_terms(self.text)
        self._terms: list[str] | None = None
        self._vocab: frozenset[str] | None = None
        self._within = within
        self._lexicon: Lexicon | None = None  # a scoped view's: _vocab is what it found
        self._positions: dict[str, list[int]] = {}
        self._offsets: list[tuple[int, int]] | None = None

    def scoped(
        self, lexicon: Lexicon, present: frozenset[str] | None, within: frozenset[str]
    ) -> FieldTokens:
        """This field as seen by queries whose words and prefixes are all in ``lexicon``
        (see :meth:`PreparedDocument.scoped`): its :attr:`vocab` holds the lexicon's words
        found here, ``prefix*`` for its prefixes that start a term and the spaced form of
        its phrases found here, which answers every question those queries ask.
        ``present`` is that set if already known (else it is scanned for on first use);
        ``within`` is a superset of it."""
        view = FieldTokens.__new__(FieldTokens)
        view.text, view.spaced = self.text, self.spaced
        view._terms, view._offsets = self._terms, self._offsets
        view._vocab, view._within = present, within
        view._lexicon = lexicon
        view._positions = {}
        return view

    @property
    def terms(self) -> list[str]:
        """The field's terms in order (built on first use)."""
        if self._terms is None:
            self._terms = self.spaced.split()
        return self._terms

    @property
    def vocab(self) -> frozenset[str]:
        """The field's distinct terms (built on first use)."""
        if self._vocab is None:
            lexicon = self._lexicon
            self._vocab = frozenset(self.terms) if lexicon is None else lexicon.scan(self.spaced)
        return self._vocab

    @property
    def within(self) -> frozenset[str]:
        """A superset of :attr:`vocab`, to rule terms out: the document's vocabulary
        when :class:`PreparedDocument` has built it, so the field's own set is built
        only for words restricted to the field (``text:azure``)."""
        return self.vocab if self._within is None else self._within

    def look_within(self, words: frozenset[str]) -> None:
        """Use ``words``, a superset of this field's terms, to rule terms out."""
        self._within = words

    def positions_of(self, term: str) -> list[int]:
        """Ascending token positions of ``term`` (cached)."""
        found = self._positions.get(term)
        if found is None:
            found = self.starts_of(" " + term + " ") if term in self.within else []
            self._positions[term] = found
        return found

    def prefix_positions(self, prefix: str) -> list[int]:
        """Ascending token positions of the terms starting with ``prefix`` (cached)."""
        key = prefix + "*"
        found = self._positions.get(key)
        if found is None:
            if self._lexicon is None:
                found = self.starts_of(" " + prefix) if " " + prefix in self.spaced else []
            else:  # ruled out without the field's own set, when the document lacks it
                found = self.starts_of(" " + prefix) if key in self.within else []
            self._positions[key] = found
        return found

    def starts_of(self, needle: str) -> list[int]:
        """Positions of the tokens at which ``needle`` (from a token's leading space)
        occurs in :attr:`spaced`: token ``i`` has ``i`` spaces before its own."""
        spaced = self.spaced
        found = []
        index = counted = 0
        offset = spaced.find(needle)
        while offset >= 0:
            index += spaced.count(" ", counted, offset)
            counted = offset
            found.append(index)
            offset = spaced.find(needle, offset + 1)
        return found

    def has_prefix(self, prefix: str) -> bool:
        if self._lexicon is not None:  # a scoped view knows its lexicon's prefixes
            return prefix + "*" in self.vocab
        return " " + prefix in self.spaced

    def has_sequence(self, needle: str) -> bool:
        """Whether ``needle`` (`` a b `` or `` a b``: a phrase) occurs in :attr:`spaced`."""
        return needle in self.spaced

    def char_span(self, span: Span) -> tuple[int, int]:
        """Character offsets in :attr:`text` of the tokens ``span`` covers."""
        if self._offsets is None:
            self._offsets = token_offsets(self.text)
        return self._offsets[span[0]][0], self._offsets[span[1] - 1][1]


_NO_KEYWORDS: frozenset[tuple[str, str]] = frozenset()
_DEFAULT_FIELD_NAMES: Final = tuple(sorted(DEFAULT_FIELDS))


class PreparedDocument:
    """A :class:`Document` tokenised once, ready for many queries.

    The word sets are built on first use. A :class:`~ingest.topics.index.TopicMatcher`
    does not build them at all: it works on :meth:`scoped`, which finds only its
    queries' words.
    """

    __slots__ = (
        "_default_vocab",
        "_vocabulary",
        "document",
        "fields",
        "key_numbers",
        "keyword_anchors",
        "lexicon",
    )

    def __init__(self, document: Document) -> None:
        self.document = document
        title, text, author = (FieldTokens(getattr(document, name)) for name in TEXT_FIELDS)
        self.fields = {"title": title, "text": text, "author": author}
        self.keyword_anchors = _keyword_anchors(document)
        self.lexicon: Lexicon | None = None
        # With a bound lexicon (Lexicon.bind), a scoped view's keys as numbers too.
        self.key_numbers: tuple[bytes, ...] | None = None
        self._default_vocab: frozenset[str] | None = None
        self._vocabulary: frozenset[str] | None = None

    @property
    def default_vocab(self) -> frozenset[str]:
        """The distinct terms of title and text (the fields a plain word searches)."""
        if self._default_vocab is None:
            # One set for title and text, each term hashed once: the body's own set is
            # built only if a word restricted to it (``text:azure``) asks for it.
            title, text = self.fields["title"], self.fields["text"]
            self._default_vocab = frozenset(text.terms + title.terms) if title.terms else text.vocab
            text.look_within(self._default_vocab)
        return self._default_vocab

    @property
    def vocabulary(self) -> frozenset[str]:
        """The distinct terms of every text field."""
        if self._vocabulary is None:
            author = self.fields["author"]
            self._vocabulary = (
                self.default_vocab | author.vocab if author.terms else self.default_vocab
            )
        return self._vocabulary

    def scoped(self, lexicon: Lexicon) -> PreparedDocument:
        """This document for queries whose words and prefixes are all in ``lexicon``.

        Its word sets hold only the lexicon's keys present (its words; ``prefix*`` for its
        prefixes that start a term; `` a b `` for its phrases), found by one scan of
        title and text together, and one of the title and of the author. For those queries
        every answer is the same as on the full document: they never ask about other
        words. ``source``/``lang`` keys and token positions are unchanged.
        """
        if self.lexicon is lexicon:
            return self
        view = PreparedDocument.__new__(PreparedDocument)
        view.document, view.keyword_anchors, view.lexicon = (
            self.document,
            self.keyword_anchors,
            lexicon,
        )
        title, text, author = self.fields["title"], self.fields["text"], self.fields["author"]
        scan = lexicon.scan
        # A bound lexicon also numbers the keys of the whole document for its topic
        # filter (title and text, author), which then needs no lookup per key.
        scan_all = lexicon.scan_numbered if lexicon.bound else _unnumbered(scan)
        if title.spaced == " ":
            title_keys: frozenset[str] = frozenset()
            default, numbers = scan_all(text.spaced)
            text_keys = default
        else:
            # One scan of title and text together is the set plain words search; the
            # body's own set is scanned for only if a query names the field (``text:``).
            title_keys, text_keys = scan(title.spaced), None
            default, numbers = scan_all(title.spaced + text.spaced)
        if author.spaced != " ":
            author_keys, author_numbers = scan_all(author.spaced)
            view.key_numbers = (numbers, author_numbers) if lexicon.bound else None
        else:
            author_keys = frozenset()
            view.key_numbers = (numbers,) if lexicon.bound else None
        view.fields = {
            "title": title.scoped(lexicon, title_keys, title_keys),
            "text": text.scoped(lexicon, text_keys, default),
            "author": author.scoped(lexicon, author_keys, author_keys),
        }
        view._default_vocab = default
        view._vocabulary = default | author_keys if author_keys else default
        return view


def _unnumbered(
    scan: Callable[[str], frozenset[str]],
) -> Callable[[str], tuple[frozenset[str], bytes]]:
    return lambda spaced: (scan(spaced), b"")


def _keyword_anchors(document: Document) -> frozenset[tuple[str, str]]:
    """(field, value) pairs a ``source:``/``lang:`` keyword could equal for this document."""
    if not document.source and not document.language:
        return _NO_KEYWORDS
    anchors = set()
    labels = document.source.lower().split(".") if document.source else []
    for index in range(len(labels)):
        anchors.add(("source", ".".join(labels[index:])))
    language = document.language.strip().lower().replace("_", "-")
    if language:
        anchors.add(("lang", language))
        anchors.add(("lang", language.split("-")[0]))
    return frozenset(anchors)


# --- spans of leaves ---------------------------------------------------------------------


@functools.lru_cache(maxsize=16_384)
def phrase_screen(phrase: Phrase) -> tuple[frozenset[str], frozenset[str]]:
    """Keys a document must hold to contain ``phrase``, a cheap test before the
    substring search: its whole words; for a scoped document
    (:meth:`PreparedDocument.scoped`), the phrase's own key, which the lexicon scan
    adds where the phrase occurs (none if the phrase has no whole word: ``"th*"``)."""
    exact = phrase.terms[:-1] if phrase.last_is_prefix else phrase.terms
    scoped = frozenset({phrase_needle(phrase)}) if phrase_anchor_terms(phrase) else frozenset()
    return frozenset(exact), scoped


def _phrase_starts(tokens: FieldTokens, phrase: Phrase) -> list[int]:
    every_word, phrase_key = phrase_screen(phrase)
    if not (every_word if tokens._lexicon is None else phrase_key) <= tokens.within:
        return []
    return tokens.starts_of(phrase_needle(phrase))


def leaf_spans(leaf: Leaf, tokens: FieldTokens) -> list[Span]:
    """Where ``leaf`` occurs in one field, as sorted token spans."""
    if isinstance(leaf, Term):
        return [(p, p + 1) for p in tokens.positions_of(leaf.term)]
    if isinstance(leaf, Prefix):
        return [(p, p + 1) for p in tokens.prefix_positions(leaf.prefix)]
    length = len(leaf.terms)
    return [(p, p + length) for p in _phrase_starts(tokens, leaf)]


def _operand_spans(leaves: list[Leaf], field_name: str, doc: PreparedDocument) -> list[Span]:
    tokens = doc.fields[field_name]
    spans: set[Span] = set()
    for leaf in leaves:
        if field_name in leaf.fields:
            spans.update(leaf_spans(leaf, tokens))
    return sorted(spans)


def _near_pairs(
    left: list[Span], right: list[Span], distance: int, *, first_only: bool
) -> list[tuple[Span, Span]]:
    """Pairs (x, y) with at most ``distance`` tokens between them, in either order.

    As in FTS5, the later-starting span must start at most ``distance`` tokens after the
    earlier one ends (overlapping spans qualify).
    """
    pairs = []
    for xs, ys, swap in ((left, right, False), (right, left, True)):
        starts = [span[0] for span in ys]
        for x in xs:
            index = bisect.bisect_left(starts, x[0])
            while index < len(ys) and starts[index] <= x[1] + distance:
                pairs.append((ys[index], x) if swap else (x, ys[index]))
                if first_only:
                    return pairs
                index += 1
    return pairs


# --- compilation -------------------------------------------------------------------------

Predicate = Callable[[PreparedDocument], bool]


def _compile_term(node: Term) -> Predicate:
    term = node.term
    if node.fields == DEFAULT_FIELDS:
        return lambda doc: term in doc.default_vocab
    names = tuple(node.fields)
    return lambda doc: any(term in doc.fields[name].vocab for name in names)


def _compile_prefix(node: Prefix) -> Predicate:
    prefix, names = node.prefix, tuple(sorted(node.fields))
    key, needle = prefix + "*", " " + prefix
    if names == _DEFAULT_FIELD_NAMES:

        def in_title_or_text(doc: PreparedDocument) -> bool:
            if doc.lexicon is not None:  # scoped: one set holds title's and text's keys
                return key in doc.default_vocab
            fields = doc.fields
            return needle in fields["text"].spaced or needle in fields["title"].spaced

        return in_title_or_text
    return lambda doc: any(doc.fields[name].has_prefix(prefix) for name in names)


def _compile_phrase(node: Phrase) -> Predicate:
    names = tuple(sorted(node.fields))
    every_word, phrase_key = phrase_screen(node)
    needle = phrase_needle(node)
    if phrase_key and names == _DEFAULT_FIELD_NAMES:

        def in_title_or_text(doc: PreparedDocument) -> bool:
            if doc.lexicon is not None:  # scoped: the scan found the phrase or not
                return needle in doc.default_vocab
            if not every_word <= doc.default_vocab:
                return False
            fields = doc.fields
            return needle in fields["text"].spaced or needle in fields["title"].spaced

        return in_title_or_text

    def matches(doc: PreparedDocument) -> bool:
        if not (every_word if doc.lexicon is None else phrase_key) <= doc.vocabulary:
            return False
        return any(doc.fields[name].has_sequence(needle) for name in names)

    return matches


def _compile_keyword(node: Keyword) -> Predicate:
    value, field_name = node.value, node.field
    if node.is_prefix:
        if field_name == "source":
            return lambda doc: any(
                anchor[1].startswith(value)
                for anchor in doc.keyword_anchors
                if anchor[0] == "source"
            )
        return lambda doc: doc.document.language.lower().startswith(value)
    key = (field_name, value)
    return lambda doc: key in doc.keyword_anchors


def _compile_near(node: Near) -> Predicate:
    left, right, distance = near_leaves(node.left), near_leaves(node.right), node.distance
    left_fields = frozenset().union(*(leaf.fields for leaf in left))
    right_fields = frozenset().union(*(leaf.fields for leaf in right))
    names = tuple(sorted(left_fields & right_fields))
    left_match = compile_node(node.left)
    right_match = compile_node(node.right)

    def matches(doc: PreparedDocument) -> bool:
        if not (left_match(doc) and right_match(doc)):
            return False
        for name in names:
            spans_left = _operand_spans(left, name, doc)
            if spans_left:
                spans_right = _operand_spans(right, name, doc)
                if _near_pairs(spans_left, spans_right, distance, first_only=True):
                    return True
        return False

    return matches


def _split_plain_terms(children: tuple[Node, ...]) -> tuple[frozenset[str], list[Node]]:
    """Words searched in the default fields, and the other children."""
    words = frozenset(
        c.term for c in children if isinstance(c, Term) and c.fields == DEFAULT_FIELDS
    )
    others = [c for c in children if not (isinstance(c, Term) and c.fields == DEFAULT_FIELDS)]
    return words, others


def _compile_and(node: And) -> Predicate:
    # All plain words at once is one C-level subset test; the rest, cheapest first.
    words, others = _split_plain_terms(node.children)
    children = tuple(compile_node(c) for c in sorted(others, key=_cost))

    def matches(doc: PreparedDocument) -> bool:
        if words and not words <= doc.default_vocab:
            return False
        for child in children:  # noqa: SIM110 -- a plain loop is faster than all(genexpr)
            if not child(doc):
                return False
        return True

    return matches


def _compile_or(node: Or) -> Predicate:
    # An OR-list of words is one C-level disjointness test.
    words, others = _split_plain_terms(node.children)
    children = tuple(compile_node(c) for c in sorted(others, key=_cost))

    def matches(doc: PreparedDocument) -> bool:
        if words and not words.isdisjoint(doc.default_vocab):
            return True
        for child in children:  # noqa: SIM110 -- a plain loop is faster than any(genexpr)
            if child(doc):
                return True
        return False

    return matches


def _compile_not(node: Not) -> Predicate:
    child = compile_node(node.child)
    return lambda doc: not child(doc)


def _cost(node: Node) -> int:
    if isinstance(node, Term | Keyword):
        return 1
    if isinstance(node, Prefix):
        return 3
    if isinstance(node, Phrase):
        return 4
    if isinstance(node, Not):
        return _cost(node.child)
    if isinstance(node, Near):
        return 20 + _cost(node.left) + _cost(node.right)
    return sum(_cost(child) for child in node.children)


def compile_node(node: Node) -> Predicate:
    """A predicate telling whether ``node`` matches a prepared document."""
    if isinstance(node, Term):
        return _compile_term(node)
    if isinstance(node, Prefix):
        return _compile_prefix(node)
    if isinstance(node, Phrase):
        return _compile_phrase(node)
    if isinstance(node, Keyword):
        return _compile_keyword(node)
    if isinstance(node, Near):
        return _compile_near(node)
    if isinstance(node, And):
        return _compile_and(node)
    if isinstance(node, Or):
        return _compile_or(node)
    return _compile_not(node)


# --- screening: necessary conditions from word sets only -----------------------------


def _always(doc: PreparedDocument) -> bool:
    return True


def compile_screen(node: Node) -> Predicate:
    """A cheap test that is true whenever ``node`` matches (set lookups only).

    Run before the real predicate, it rejects most candidates without touching token
    positions: ``"azure cloud" AND contract*`` fails fast on a document with no "cloud".
    """
    if isinstance(node, Term | Keyword):
        return compile_node(node)
    if isinstance(node, Phrase):
        every_word, phrase_key = phrase_screen(node)
        return lambda doc: (every_word if doc.lexicon is None else phrase_key) <= doc.vocabulary
    if isinstance(node, Near):
        left, right = compile_screen(node.left), compile_screen(node.right)
        return lambda doc: left(doc) and right(doc)
    if isinstance(node, And | Or):
        words, others = _split_plain_terms(node.children)
        screens = tuple(s for s in map(compile_screen, others) if s is not _always)
        if isinstance(node, Or):
            if len(screens) < len(others):
                return _always  # one branch can match without any known word
            return lambda doc: (
                not words.isdisjoint(doc.default_vocab) or any(screen(doc) for screen in screens)
            )
        return lambda doc: words <= doc.default_vocab and all(screen(doc) for screen in screens)
    return _always  # NOT, prefixes: nothing cheap to require


# --- hits --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hit:
    """One reason for a match: ``term`` found at ``[start, end)`` of ``field``'s text."""

    field: str
    start: int
    end: int
    term: str

    def as_dict(self) -> dict[str, str | int]:
        return {"field": self.field, "start": self.start, "end": self.end, "term": self.term}


_FIELD_ORDER = {name: index for index, name in enumerate(("title", "text", "author", "source"))}


def _leaf_hits(leaf: Leaf, doc: PreparedDocument, spans_by_field: Iterable[str]) -> list[Hit]:
    hits = []
    label = leaf_label(leaf)
    for name in spans_by_field:
        if name not in leaf.fields:
            continue
        tokens = doc.fields[name]
        for span in leaf_spans(leaf, tokens)[:MAX_HITS_PER_LEAF]:
            start, end = tokens.char_span(span)
            hits.append(Hit(name, start, end, label))
    return hits


# Explaining a match asks which children of an AND/OR matched: compile each child once
# per process, not once per explanation (nodes are frozen, hence hashable).
_compiled_child = functools.lru_cache(maxsize=16_384)(compile_node)


def _collect_hits(node: Node, doc: PreparedDocument, out: list[Hit]) -> None:
    """Append the hits of ``node``, which is known to match ``doc``."""
    if isinstance(node, Term | Prefix | Phrase):
        out.extend(_leaf_hits(node, doc, TEXT_FIELDS))
    elif isinstance(node, Keyword):
        if node.field == "source":
            out.append(Hit("source", 0, len(doc.document.source), leaf_label(node)))
        else:
            out.append(Hit("lang", 0, len(doc.document.language), leaf_label(node)))
    elif isinstance(node, And | Or):
        for child in node.children:
            if not isinstance(child, Not) and _compiled_child(child)(doc):
                _collect_hits(child, doc, out)
    elif isinstance(node, Near):
        _collect_near_hits(node, doc, out)


def _collect_near_hits(node: Near, doc: PreparedDocument, out: list[Hit]) -> None:
    left, right = near_leaves(node.left), near_leaves(node.right)
    for name in TEXT_FIELDS:
        tokens = doc.fields[name]
        labelled: dict[Span, str] = {}
        for leaf in (*left, *right):
            if name in leaf.fields:
                for span in leaf_spans(leaf, tokens):
                    labelled.setdefault(span, leaf_label(leaf))
        pairs = _near_pairs(
            _operand_spans(left, name, doc),
            _operand_spans(right, name, doc),
            node.distance,
            first_only=False,
        )
        used = sorted({span for pair in pairs for span in pair})[: 2 * MAX_HITS_PER_LEAF]
        for span in used:
            start, end = tokens.char_span(span)
            out.append(Hit(name, start, end, labelled[span]))


def explain(node: Node, doc: PreparedDocument) -> list[Hit]:
    """The hits of a query that matches ``doc``: sorted by field then offset, no repeats."""
    hits: list[Hit] = []
    _collect_hits(node, doc, hits)
    unique = {(hit.field, hit.start, hit.end): hit for hit in hits}
    return sorted(unique.values(), key=lambda h: (_FIELD_ORDER.get(h.field, 9), h.start, h.end))


# --- snippets ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snippet:
    """A window of one field's text; ``spans`` are the hits, as offsets inside ``text``.

    Format-neutral: render it with :meth:`render` or with your own markup.
    """

    field: str
    text: str
    spans: tuple[tuple[int, int], ...]
    cut_before: bool = False
    cut_after: bool = False

    def render(self, style: str = "text") -> str:
        """``style="text"`` marks hits «like this»; ``"html"`` escapes, then uses <mark>."""
        if style not in ("text", "html"):
            raise ValueError(f"unknown snippet style {style!r}: expected 'text' or 'html'")
        escape: Callable[[str], str] = html.escape if style == "html" else (lambda s: s)
        opening, closing = ("<mark>", "</mark>") if style == "html" else ("«", "»")
        parts = ["…"] if self.cut_before else []
        position = 0
        for start, end in self.spans:
            parts += [escape(self.text[position:start]), opening]
            parts += [escape(self.text[start:end]), closing]
            position = end
        parts.append(escape(self.text[position:]))
        if self.cut_after:
            parts.append("…")
        return "".join(parts)


def make_snippet(document: Document, hits: list[Hit], width: int = SNIPPET_CHARS) -> Snippet:
    """A window of about ``width`` characters around the densest group of hits.

    Body text is preferred to the title; a match with no text hits (``source:`` only)
    gets the opening of the body, unmarked.
    """
    for name in ("text", "title", "author"):
        field_hits = [hit for hit in hits if hit.field == name]
        if field_hits:
            break
    else:
        name, field_hits = ("text" if document.text else "title"), []
    text: str = getattr(document, name)
    if not field_hits:
        return _window(name, text, 0, min(len(text), width), [])
    best, best_count = field_hits[0], 0
    for hit in field_hits:
        count = sum(1 for other in field_hits if hit.start <= other.start < hit.start + width)
        if count > best_count:
            best, best_count = hit, count
    inside = [h for h in field_hits if best.start <= h.start and h.end <= best.start + width]
    inside = inside or [best]
    span_start, span_end = inside[0].start, max(h.end for h in inside)
    slack = max(0, width - (span_end - span_start))
    start = max(0, span_start - slack // 3)
    end = min(len(text), max(span_end, start + width))
    return _window(name, text, start, end, inside)


def _window(name: str, text: str, start: int, end: int, hits: list[Hit]) -> Snippet:
    # Move the cut points onto whitespace so no word is cut in half.
    if start > 0:
        space = text.find(" ", start, hits[0].start if hits else end)
        start = space + 1 if space >= 0 else start
    if end < len(text):
        floor = max(h.end for h in hits) if hits else start
        space = text.rfind(" ", floor, end)
        end = space if space > floor else end
    spans: list[tuple[int, int]] = []
    for hit in sorted(hits, key=lambda h: h.start):
        hit_start, hit_end = hit.start - start, hit.end - start
        if spans and hit_start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], hit_end))
        else:
            spans.append((hit_start, hit_end))
    return Snippet(name, text[start:end], tuple(spans), start > 0, end < len(text))


# --- the query object ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """A parsed query ready to run: ``matches`` is fast, ``explain`` gives the hits."""

    node: Node
    predicate: Predicate = field(repr=False, compare=False)

    screen: Predicate = field(repr=False, compare=False)

    @classmethod
    def from_node(cls, node: Node) -> CompiledQuery:
        return cls(node, compile_node(node), compile_screen(node))

    def matches(self, doc: PreparedDocument) -> bool:
        return self.screen(doc) and self.predicate(doc)

    def explain(self, doc: PreparedDocument) -> list[Hit]:
        return explain(self.node, doc)
