"""The topic index's per-document work: which topics a document could match.

Like Lucene Monitor's presearcher, each topic is *filed* under the anchors of its most
selective clause (:mod:`ingest.topics.anchors`). A document's words pull out the topics
filed under them; each must also hold an anchor of its *first check* (its next clause)
and satisfy any further clause before the query itself is evaluated.

Everything per document is a few C-level set and ``map``/``chain`` operations over the
document's *relevant* words (those that file a topic or start an indexed prefix): one
set difference subtracts the words already known to be irrelevant. News vocabulary
repeats article after article, so after a short warm-up an article brings only a handful
of new words to classify in Python.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import cast

from ingest.topics.anchors import (
    Clause,
    anchor_key,
    clause_sort_key,
    has_groups,
    index_anchors,
    second_anchors,
    split_keys,
)
from ingest.topics.match import PreparedDocument
from ingest.topics.query import MIN_PREFIX_LETTERS

# --- checks ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClauseCheck:
    """One clause as set operations.

    The *loose* test takes one anchor per alternative (the rarest of a group): unless
    the document holds one of :attr:`words` or :attr:`others`, the clause fails, and
    that settles most topics in one or two C-level ``isdisjoint``. A clause with groups
    is then checked whole (:meth:`holds`).
    """

    words: frozenset[str]
    others: frozenset[str]
    groups: tuple[tuple[frozenset[str], frozenset[str]], ...]
    single_words: frozenset[str]
    single_others: frozenset[str]
    needs_others: bool  # whether :meth:`holds` looks at the document's other keys

    @classmethod
    def of(cls, clause: Clause, *, filing: bool = False) -> ClauseCheck:
        """The check of ``clause``; with ``filing``, of the clause the topic was filed
        under, whose rarest anchors are known to be there: the loose test looks for the
        groups' next anchors instead."""
        single_words, single_others = split_keys(
            frozenset(next(iter(c)) for c in clause if len(c) == 1)
        )
        groups = tuple(sorted(split_keys(c) for c in clause if len(c) > 1))
        words, others = split_keys(second_anchors(clause) if filing else index_anchors(clause))
        needs_others = bool(single_others) or any(group_others for _, group_others in groups)
        return cls(words, others, groups, single_words, single_others, needs_others)

    def holds(self, words: frozenset[str], others: set[str]) -> bool:
        """Whether the document's ``words`` and ``others`` satisfy the whole clause."""
        if not self.single_words.isdisjoint(words):
            return True
        if self.single_others and not self.single_others.isdisjoint(others):
            return True
        for group_words, group_others in self.groups:
            if group_words <= words and group_others <= others:
                return True
        return False


_NO_OTHERS: set[str] = set()


# --- the word lookup ---------------------------------------------------------------------

_Entry = tuple[tuple[int, ...], frozenset[str]]
"""What a word brings: the topics filed under it (or under a prefix it starts with),
and the ``prefix*`` keys of the indexed prefixes it starts with."""
_NO_KEYS: frozenset[str] = frozenset()
_NO_ENTRY: _Entry = ((), _NO_KEYS)
_topics_of = itemgetter(0)
_prefix_keys_of = itemgetter(1)


class Prefixes:
    """The indexed prefixes, grouped by their first letters."""

    def __init__(self, prefixes: Iterable[str]) -> None:
        by_head: dict[str, list[str]] = defaultdict(list)
        for prefix in sorted(set(prefixes)):
            by_head[prefix[:MIN_PREFIX_LETTERS]].append(prefix)
        self._by_head = dict(by_head)

    def keys(self, word: str) -> frozenset[str]:
        """``prefix*`` keys of the indexed prefixes ``word`` starts with."""
        heads = self._by_head.get(word[:MIN_PREFIX_LETTERS])
        if heads is None:
            return _NO_KEYS
        return frozenset(prefix + "*" for prefix in heads if word.startswith(prefix))


class Presearcher:
    """Word -> the topics it files and the indexed prefixes it starts with (memoised)."""

    LIMIT = 500_000  # distinct irrelevant words remembered; then it starts afresh

    def __init__(self, filed: dict[str, tuple[int, ...]], prefixes: Prefixes) -> None:
        self._filed = filed  # key (word, prefix*, field:value) -> topics filed under it
        self._prefixes = prefixes
        self._entries: dict[str, _Entry] = {}
        self._irrelevant: set[str] = set()

    def _learn(self, word: str) -> _Entry:
        if len(self._irrelevant) >= self.LIMIT:
            # New objects, not clear(): a caller in another thread keeps a sound view.
            self._irrelevant, self._entries = set(), {}
        keys = self._prefixes.keys(word)
        topics = self._filed.get(word, ())
        if keys:
            merged = set(topics)
            for key in keys:
                merged.update(self._filed.get(key, ()))
            topics = tuple(sorted(merged))
        elif not topics:
            self._irrelevant.add(word)
            return _NO_ENTRY
        entry = (topics, keys)
        self._entries[word] = entry
        return entry

    def entries(self, vocabulary: frozenset[str]) -> list[_Entry]:
        """The entries of the words of ``vocabulary`` that file a topic or start a prefix."""
        relevant = vocabulary.difference(self._irrelevant)
        found: list[_Entry | None] = list(map(self._entries.get, relevant))
        if None in found:  # words never seen before
            found = [
                self._learn(word) if entry is None else entry
                for word, entry in zip(relevant, found, strict=True)
            ]
        return cast(list[_Entry], found)  # no None left

    def filed(self, entries: list[_Entry], keyword_keys: list[str]) -> set[int]:
        """Topics filed under the document's words, prefixes and keyword values."""
        found = set(chain.from_iterable(map(_topics_of, entries)))
        for key in keyword_keys:
            found.update(self._filed.get(key, ()))
        return found

    @staticmethod
    def prefix_keys(entries: list[_Entry]) -> set[str]:
        return set(chain.from_iterable(map(_prefix_keys_of, entries)))


# --- plans ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """Where each topic is filed and what is checked before it is evaluated."""

    presearcher: Presearcher
    checks: tuple[tuple[ClauseCheck, ...], ...]  # per topic, in order
    always_checked: tuple[int, ...]  # topics without anchors (``NOT sport``)

    def candidates(self, doc: PreparedDocument) -> list[int]:
        """Numbers of the topics ``doc`` could match (a superset of the real matches)."""
        presearcher = self.presearcher
        vocabulary = doc.vocabulary
        entries = presearcher.entries(vocabulary)
        keyword_keys = [f"{field_name}:{value}" for field_name, value in doc.keyword_anchors]
        found = presearcher.filed(entries, keyword_keys)
        found.update(self.always_checked)
        checks = self.checks
        others: set[str] | None = None  # the document's prefix and keyword keys, if needed
        kept = []
        for number in found:
            for check in checks[number]:
                # Most topics are settled by the loose test, in C.
                if check.words.isdisjoint(vocabulary):
                    if not check.others:
                        break
                    if others is None:
                        others = presearcher.prefix_keys(entries)
                        others.update(keyword_keys)
                    if check.others.isdisjoint(others):
                        break
                if check.groups:
                    if others is None and check.needs_others:
                        others = presearcher.prefix_keys(entries)
                        others.update(keyword_keys)
                    if not check.holds(vocabulary, _NO_OTHERS if others is None else others):
                        break
            else:
                kept.append(number)
        kept.sort()
        return kept


def make_plan(clauses_by_topic: Sequence[list[Clause]]) -> Plan:
    """File each topic under its most selective clause and check the next one."""
    filed: dict[str, set[int]] = defaultdict(set)
    checks: list[tuple[ClauseCheck, ...]] = []
    for number, unsorted in enumerate(clauses_by_topic):
        clauses = sorted(unsorted, key=clause_sort_key)
        if clauses:
            for anchor in index_anchors(clauses[0]):
                filed[anchor_key(anchor)].add(number)
        # Then every other clause, most selective first; the filing clause again if it
        # has groups (``"hide their" OR (x NEAR y)``): filing under one anchor of a
        # group does not show that the group's other anchors are there.
        topic_checks = [ClauseCheck.of(clause) for clause in clauses[1:]]
        if clauses and has_groups(clauses[0]):
            topic_checks.insert(0, ClauseCheck.of(clauses[0], filing=True))
        checks.append(tuple(topic_checks))
    by_key = {key: tuple(sorted(numbers)) for key, numbers in filed.items()}
    prefixes = Prefixes(
        value
        for clauses in clauses_by_topic
        for clause in clauses
        for conjunction in clause
        for kind, _, value in conjunction
        if kind == "prefix"
    )
    always = tuple(number for number, clauses in enumerate(clauses_by_topic) if not clauses)
    return Plan(Presearcher(by_key, prefixes), tuple(checks), always)
