"""What a query requires of a document, as anchors: words, prefixes, phrases, keyword values.

A query is reduced to *clauses* that every matching document satisfies (never the
reverse: clauses only rule documents out). A clause is a set of alternatives, each a
*conjunction* of anchors the document must all hold::

    "azure cloud" AND (army OR navy)     ->  [{azure}, {cloud}, {army | navy}]
    "hide their" OR (sport NEAR win)     ->  [{hide & their | sport & win}]

The topic index files each query under one clause and checks another; which clause, and
which anchor of a conjunction, is a matter of cost: how likely a document holds an
anchor, guessed from the anchor alone (:func:`anchor_cost`: short words are common).
"""

from __future__ import annotations

from ingest.topics.query import Keyword, Near, Node, Not, Or, Phrase, Prefix, Term, phrase_needle

# (kind, field, value): ("term", "", w), ("prefix", "", p), ("phrase", "", " a b "), ...
Anchor = tuple[str, str, str]
Conjunction = frozenset[Anchor]
"""Anchors that a matching document holds *all* of (``"project nimbus"``: both words)."""
Clause = frozenset[Conjunction]
"""Alternatives of which a matching document holds at least one."""


def anchor_clauses(node: Node) -> list[Clause]:
    """Clauses that a document matching ``node`` satisfies *every one* of.

    An empty list when nothing is required (a pure NOT, a ``source:`` prefix).
    """
    if isinstance(node, Term):
        return [_single(("term", "", node.term))]
    if isinstance(node, Prefix):
        return [_single(("prefix", "", node.prefix))]
    if isinstance(node, Phrase):
        # The lexicon scan finds the phrase itself (through its anchor word).
        return [_single(("phrase", "", phrase_needle(node)))] if phrase_anchor_terms(node) else []
    if isinstance(node, Keyword):
        return [] if node.is_prefix else [_single(("keyword", node.field, node.value))]
    if isinstance(node, Not):
        return []
    if isinstance(node, Or):
        alternatives: set[Conjunction] = set()
        for child in node.children:
            clauses = anchor_clauses(child)
            if not clauses:
                return []
            # All the anchors the child requires on their own make one conjunction;
            # failing that, the alternatives of its most selective clause.
            required = frozenset(
                anchor for clause in clauses if len(clause) == 1 for anchor in next(iter(clause))
            )
            if required:
                alternatives.add(required)
            else:
                best: Clause = min(clauses, key=clause_sort_key)
                alternatives.update(best)
        return [frozenset(alternatives)]
    children = (node.left, node.right) if isinstance(node, Near) else node.children
    return [clause for child in children for clause in anchor_clauses(child)]


def phrase_anchor_terms(phrase: Phrase) -> tuple[str, ...]:
    """The word through which the lexicon scan finds a phrase: its rarest whole word
    (none if it has none, ``"th*"``). Where the scan meets that word, it compares the
    text around it with the phrase. Looking for every word instead would put the
    commonest words of the language (``"the hague"``) in every lexicon, and their
    thousands of occurrences in every scan.
    """
    exact = phrase.terms[:-1] if phrase.last_is_prefix else phrase.terms
    if not exact:
        return ()
    return (min(exact, key=lambda term: (anchor_cost(("term", "", term)), term)),)


def _single(anchor: Anchor) -> Clause:
    return frozenset({frozenset({anchor})})


def anchors(node: Node) -> frozenset[Anchor] | None:
    """The anchors a query is filed under: every match contains at least one of them.

    ``None`` when there is no such set (a pure NOT, a ``source:`` prefix).
    """
    clauses = anchor_clauses(node)
    return index_anchors(min(clauses, key=clause_sort_key)) if clauses else None


def anchor_cost(anchor: Anchor) -> float:
    """Rough chance that a document holds ``anchor``: short words are common, prefixes
    commoner (only the order matters)."""
    kind, _field, value = anchor
    if kind == "term":
        return 1.0 + 8.0 / max(1, len(value))
    if kind == "prefix":
        return 3.0 + 16.0 / max(1, len(value))
    if kind == "phrase":  # rarer than any of its words
        return 0.5 + 8.0 / max(1, len(value))
    return 4.0


def _ranked(conjunction: Conjunction) -> list[Anchor]:
    # Ties broken by content, so that a topic is filed the same way in every run.
    return sorted(conjunction, key=lambda anchor: (anchor_cost(anchor), anchor))


def index_anchors(clause: Clause) -> frozenset[Anchor]:
    """One anchor per alternative, the rarest: a conjunction is found through any of its."""
    return frozenset(_ranked(conjunction)[0] for conjunction in clause)


def second_anchors(clause: Clause) -> frozenset[Anchor]:
    """Per alternative, the anchor after the rarest (the rarest if it is alone): what to
    look for once the rarest anchors have been found."""
    chosen = set()
    for conjunction in clause:
        ranked = _ranked(conjunction)
        chosen.add(ranked[1] if len(ranked) > 1 else ranked[0])
    return frozenset(chosen)


def has_groups(clause: Clause) -> bool:
    return any(len(conjunction) > 1 for conjunction in clause)


def clause_sort_key(clause: Clause) -> tuple[float, list[Anchor]]:
    """Rough chance that a document holds one of the clause's filing anchors."""
    chosen = index_anchors(clause)
    return sum(anchor_cost(anchor) for anchor in chosen), sorted(chosen)


# Anchors as string keys. A document's words are matched as themselves; its other keys
# are ``prefix*`` for each indexed prefix one of its words starts with, `` a b `` (the
# spaced form, see phrase_needle) for each indexed phrase it holds, and ``field:value``
# for its source and language. Words hold no ``*``, ``:`` or space.


def anchor_key(anchor: Anchor) -> str:
    kind, field_name, value = anchor
    if kind in ("term", "phrase"):
        return value
    return value + "*" if kind == "prefix" else f"{field_name}:{value}"
