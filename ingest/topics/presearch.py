"""The topic index's per-document work: which topics a document could match.

Like Lucene Monitor's presearcher, each topic is *filed* under the anchors of its most
selective clause (:mod:`ingest.topics.anchors`). A document's keys pull out the topics
filed under them; each must also hold an anchor of its *first check* (its next clause)
and satisfy any further clause before the query itself is evaluated.

A document's keys are what :meth:`PreparedDocument.scoped` found with the topics'
:class:`~ingest.topics.lexicon.Lexicon`: the query words present, ``prefix*`` for each
query prefix that starts a term, `` a b `` for each query phrase it holds, plus
``field:value`` for its source and language. Words hold no ``*``, ``:`` or space, so one
set serves all four kinds. With the C extension, the whole per-document step is one call
(``_textscan.TopicFilter``, given each topic's checks as a flat list of key numbers);
when the lexicon is bound to it (:meth:`~ingest.topics.lexicon.Lexicon.bind`), the scan
reports the document's keys as those numbers and the filter looks nothing up. Without
it, :meth:`Plan.candidates` does the same with set operations (a property test checks
that all pick the same candidates). The C filter keeps per-call scratch arrays: like the
lexicon scanner, it is used under the GIL with plain ``str`` keys, whose comparisons run
no Python code.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.topics._textscan import TopicFilter

from ingest.topics.anchors import (
    Clause,
    anchor_key,
    clause_sort_key,
    has_groups,
    index_anchors,
    second_anchors,
)
from ingest.topics.lexicon import Lexicon
from ingest.topics.match import PreparedDocument

_NativeFilter: type[TopicFilter] | None
try:  # the C filter (ingest/topics/_textscan.c), when pip could compile it
    from ingest.topics._textscan import TopicFilter

    _NativeFilter = TopicFilter
except ImportError:
    _NativeFilter = None

# --- checks ------------------------------------------------------------------------------


def _keys(anchors: frozenset[tuple[str, str, str]]) -> frozenset[str]:
    return frozenset(map(anchor_key, anchors))


@dataclass(frozen=True, slots=True)
class ClauseCheck:
    """One clause as set operations on a document's keys.

    The *loose* test takes one anchor per alternative (the rarest of a group): unless
    the document holds one of :attr:`loose`, the clause fails, and that settles most
    topics in one C-level ``isdisjoint``. A clause with groups is then checked whole
    (:meth:`holds`).
    """

    loose: frozenset[str]
    groups: tuple[frozenset[str], ...]
    singles: frozenset[str]

    @classmethod
    def of(cls, clause: Clause, *, filing: bool = False) -> ClauseCheck:
        """The check of ``clause``; with ``filing``, of the clause the topic was filed
        under, whose rarest anchors are known to be there: the loose test looks for the
        groups' next anchors instead."""
        singles = _keys(frozenset(next(iter(c)) for c in clause if len(c) == 1))
        groups = tuple(sorted((_keys(c) for c in clause if len(c) > 1), key=sorted))
        loose = _keys(second_anchors(clause) if filing else index_anchors(clause))
        return cls(loose, groups, singles)

    def holds(self, keys: frozenset[str]) -> bool:
        """Whether a document with ``keys`` satisfies the whole clause."""
        if not self.singles.isdisjoint(keys):
            return True
        return any(group <= keys for group in self.groups)

    def program(self, key_id: dict[str, int]) -> list[int]:
        """This check in the C filter's form: counted lists of key ids (loose, singles,
        then the groups), new keys numbered in ``key_id`` as they come."""

        def ids(keys: frozenset[str]) -> list[int]:
            ordered = sorted(keys)
            return [len(ordered), *(key_id.setdefault(key, len(key_id)) for key in ordered)]

        out = [*ids(self.loose), *ids(self.singles), len(self.groups)]
        for group in self.groups:
            out += ids(group)
        return out


# --- plans ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """Where each topic is filed and what is checked before it is evaluated."""

    filed: dict[str, tuple[int, ...]]  # key (word, prefix*, field:value) -> topics filed
    checks: tuple[tuple[ClauseCheck, ...], ...]  # per topic, in order
    always_checked: tuple[int, ...]  # topics without anchors (``NOT sport``)
    # The same plan in C (``_textscan.TopicFilter``), when it was compiled: one call per
    # document instead of a few set operations per filed topic.
    native: TopicFilter | None = None
    # The lexicon bound to ``native`` (Lexicon.bind): documents it scoped carry their
    # keys as the filter's key numbers, and the filter needs no lookup per key.
    numbered_by: Lexicon | None = None

    def candidates(self, doc: PreparedDocument) -> list[int]:
        """Numbers of the topics ``doc`` could match (a superset of the real matches).

        ``doc`` is scoped to the topics' lexicon (:meth:`PreparedDocument.scoped`).
        """
        native = self.native
        if native is not None and doc.key_numbers is not None and doc.lexicon is self.numbered_by:
            others = [f"{name}:{value}" for name, value in doc.keyword_anchors]
            return native.candidates_of(doc.key_numbers, others)
        keys = doc.vocabulary
        if doc.keyword_anchors:
            keys = keys.union([f"{name}:{value}" for name, value in doc.keyword_anchors])
        if native is not None:
            return native.candidates(keys)
        found = set(chain.from_iterable(map(self.filed.get, keys, repeat(()))))
        found.update(self.always_checked)
        checks = self.checks
        kept = []
        for number in found:
            for check in checks[number]:
                # Most topics are settled by the loose test, in C.
                if check.loose.isdisjoint(keys) or (check.groups and not check.holds(keys)):
                    break
            else:
                kept.append(number)
        kept.sort()
        return kept


def make_plan(clauses_by_topic: Sequence[list[Clause]], *, native: bool = True) -> Plan:
    """File each topic under its most selective clause and check the next one; with
    ``native`` (and the C extension built), candidates are found in C."""
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
    always = tuple(number for number, clauses in enumerate(clauses_by_topic) if not clauses)
    compiled = None
    if native and _NativeFilter is not None:
        key_id: dict[str, int] = {}
        programs = [
            [len(topic_checks), *chain.from_iterable(c.program(key_id) for c in topic_checks)]
            for topic_checks in checks
        ]
        compiled = _NativeFilter(by_key, list(key_id), programs, always)
    return Plan(by_key, tuple(checks), always, compiled)
