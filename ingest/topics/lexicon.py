"""The words, prefixes and phrases a set of queries asks about, found in a text in one pass.

The topic index needs, per article, only which of its queries' words, prefixes and
phrases occur
(a few hundred out of thousands of distinct words the article holds). Splitting the
article into a Python string per token and hashing each into a set costs more than all
the matching after it, so :class:`Lexicon` scans the tokenised text (the single-spaced
form, :func:`ingest.topics.tokens.joined_terms`) for the lexicon alone:

- natively, with the C scanner in ``_textscan.c`` (built by ``pip install`` when a
  C compiler is there): one pass over the characters, no object per token;
- otherwise in Python: the same answer from ``str.split`` and set operations, with the
  prefix tests of each distinct word remembered across texts (news vocabulary repeats).

Both return the same keys (a property test checks it): each lexicon word that is a term
of the text, ``prefix + "*"`` for each lexicon prefix that starts a term, and the spaced
form of each lexicon phrase the text holds (`` project nimbus ``, see
:func:`~ingest.topics.query.phrase_needle`). A phrase is looked for only where its
anchor word occurs (:func:`~ingest.topics.anchors.phrase_anchor_terms`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from ingest.topics._textscan import LexiconScanner

from ingest.topics.anchors import phrase_anchor_terms
from ingest.topics.query import (
    MIN_PREFIX_LETTERS,
    And,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    Term,
    phrase_needle,
)

_NativeScanner: type[LexiconScanner] | None
try:  # the C scanner (ingest/topics/_textscan.c), when pip could compile it
    from ingest.topics._textscan import LexiconScanner

    _NativeScanner = LexiconScanner
except ImportError:
    _NativeScanner = None

NATIVE_AVAILABLE: Final = _NativeScanner is not None


class _Scanner(Protocol):
    def scan(self, spaced: str, /) -> frozenset[str]: ...


Phrases = set[tuple[str, str]]  # (spaced form, anchor word)


def query_lexicon(node: Node) -> tuple[set[str], set[str], Phrases]:
    """(words, prefixes, phrases) that evaluating ``node`` can ask about, in any field."""
    words: set[str] = set()
    prefixes: set[str] = set()
    phrases: Phrases = set()
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, Term):
            words.add(current.term)
        elif isinstance(current, Prefix):
            prefixes.add(current.prefix)
        elif isinstance(current, Phrase):
            # Found through its anchor word, which is a lexicon word too (the scan
            # adds it); a phrase without one is answered by a substring search.
            for anchor in phrase_anchor_terms(current):
                words.add(anchor)
                phrases.add((phrase_needle(current), anchor))
        elif isinstance(current, And | Or):
            pending.extend(current.children)
        elif isinstance(current, Not):
            pending.append(current.child)
        elif isinstance(current, Near):
            pending += [current.left, current.right]
    return words, prefixes, phrases


class PythonScanner:
    """The pure-Python scan: the same keys as the C scanner, from ``str.split``."""

    LIMIT = 500_000  # distinct words whose prefix keys are remembered; then afresh

    def __init__(
        self, words: Iterable[str], prefixes: Iterable[str], phrases: Iterable[tuple[str, str]] = ()
    ) -> None:
        by_anchor: dict[str, list[str]] = defaultdict(list)
        for needle, anchor in sorted(set(phrases)):
            by_anchor[anchor].append(needle)
        self._phrases = dict(by_anchor)
        self._words = frozenset(words) | self._phrases.keys()
        by_head: dict[str, list[str]] = defaultdict(list)
        short: list[str] = []
        for prefix in sorted(set(prefixes)):
            if len(prefix) >= MIN_PREFIX_LETTERS:
                by_head[prefix[:MIN_PREFIX_LETTERS]].append(prefix)
            else:
                short.append(prefix)
        self._by_head = dict(by_head)
        self._short = tuple(short)
        self._has_prefixes = bool(by_head or short)
        self._prefix_keys: dict[str, tuple[str, ...]] = {}
        self._no_prefix: set[str] = set()

    def _keys_of(self, term: str) -> tuple[str, ...]:
        heads = self._by_head.get(term[:MIN_PREFIX_LETTERS], ())
        return tuple(p + "*" for p in (*self._short, *heads) if term.startswith(p))

    def scan(self, spaced: str) -> frozenset[str]:
        # split(" ") like the C scanner: only U+0020 separates (runs give "" terms).
        terms = set(spaced.split(" "))
        found = terms.intersection(self._words)
        for anchor in found.intersection(self._phrases):
            found.update(needle for needle in self._phrases[anchor] if needle in spaced)
        if not self._has_prefixes:
            return frozenset(found)
        if len(self._no_prefix) + len(self._prefix_keys) >= self.LIMIT:
            # New objects, not clear(): a caller in another thread keeps a sound view.
            self._no_prefix, self._prefix_keys = set(), {}
        known, no_prefix = self._prefix_keys, self._no_prefix
        for term in terms.difference(no_prefix):
            keys = known.get(term)
            if keys is None:
                keys = self._keys_of(term)
                if keys:
                    known[term] = keys
                else:
                    no_prefix.add(term)
            found.update(keys)
        return frozenset(found)


class Lexicon:
    """A fixed set of words, prefixes and phrases; :meth:`scan` tells which occur in a text.

    ``phrases`` are (spaced form, anchor word) pairs; each anchor is a word of the
    lexicon too.
    """

    __slots__ = ("_native_scanner", "_scanner", "bound", "native", "phrases", "prefixes", "words")

    def __init__(
        self,
        words: Iterable[str],
        prefixes: Iterable[str],
        phrases: Iterable[tuple[str, str]] = (),
        *,
        native: bool = True,
    ) -> None:
        # Empty strings would be "in" every text as prefixes: never part of a lexicon.
        self.phrases = frozenset(phrases)
        self.words = frozenset(word for word in words if word) | {a for _, a in self.phrases}
        self.prefixes = frozenset(prefix for prefix in prefixes if prefix)
        self.native = native and _NativeScanner is not None
        scanner: _Scanner
        self._native_scanner: LexiconScanner | None = None
        if self.native and _NativeScanner is not None:
            scanner = self._native_scanner = _NativeScanner(
                sorted(self.words), sorted(self.prefixes), sorted(self.phrases)
            )
        else:
            scanner = PythonScanner(self.words, self.prefixes, self.phrases)
        self._scanner = scanner
        self.bound = False

    @classmethod
    def of_queries(cls, nodes: Iterable[Node], *, native: bool = True) -> Lexicon:
        """Every word and prefix that evaluating any of ``nodes`` can ask about."""
        words: set[str] = set()
        prefixes: set[str] = set()
        phrases: Phrases = set()
        for node in nodes:
            node_words, node_prefixes, node_phrases = query_lexicon(node)
            words |= node_words
            prefixes |= node_prefixes
            phrases |= node_phrases
        return cls(words, prefixes, phrases, native=native)

    def covers(self, node: Node) -> bool:
        """Whether every word, prefix and phrase of ``node`` is in this lexicon."""
        words, prefixes, phrases = query_lexicon(node)
        return words <= self.words and prefixes <= self.prefixes and phrases <= self.phrases

    def bind(self, keys: list[str]) -> bool:
        """Number this lexicon's keys by their position in ``keys`` (a C topic filter's
        ``key_list()``), so that :meth:`scan_numbered` reports them to that filter as
        numbers; whether it could (only the C scanner can). A lexicon serves one filter:
        binding again renumbers."""
        if self._native_scanner is None:
            return False
        self._native_scanner.bind(keys)
        self.bound = True
        return True

    def scan_numbered(self, spaced: str) -> tuple[frozenset[str], bytes]:
        """:meth:`scan`, and the numbers :meth:`bind` gave the keys found (native int32);
        only for a bound lexicon."""
        if self._native_scanner is None or not self.bound:
            raise RuntimeError("scan_numbered() needs a lexicon bound to a C topic filter")
        return self._native_scanner.scan_numbered(spaced)

    def scan(self, spaced: str) -> frozenset[str]:
        """The lexicon's words that are terms of ``spaced`` (terms separated by U+0020),
        ``prefix*`` for each prefix that starts one of its terms, and the spaced form of
        each phrase it holds."""
        return self._scanner.scan(spaced)
