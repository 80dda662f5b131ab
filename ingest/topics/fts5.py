"""Translating a query tree to an SQLite FTS5 ``MATCH`` expression.

Used to search history in an FTS5 table (columns named like our fields) and, in the
tests, to check newsmon against FTS5 document for document. The translation is fully
parenthesised with explicit ``AND``, so FTS5's precedence quirks (its implicit AND binds
tighter than NOT) never apply. What FTS5 cannot say raises :class:`Fts5TranslationError`:
a NOT with nothing positive beside it, ``source:``/``lang:``, fields the table lacks.
"""

from __future__ import annotations

from collections.abc import Sequence

from ingest.topics.query import And, Keyword, Leaf, Near, Node, Not, Or, Phrase, Prefix, Term
from ingest.topics.query import near_leaves as _near_leaves


class Fts5TranslationError(ValueError):
    """The query uses something FTS5 has no way to express."""


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _leaf(leaf: Leaf, columns: Sequence[str], fields: frozenset[str] | None = None) -> str:
    if isinstance(leaf, Term):
        expression = _quote(leaf.term)
    elif isinstance(leaf, Prefix):
        expression = _quote(leaf.prefix) + " *"
    else:
        expression = _quote(" ".join(leaf.terms)) + (" *" if leaf.last_is_prefix else "")
    return _with_columns(expression, leaf.fields if fields is None else fields, columns)


def _with_columns(expression: str, fields: frozenset[str], columns: Sequence[str]) -> str:
    missing = fields - set(columns)
    if missing:
        raise Fts5TranslationError(f"the FTS5 table has no column {sorted(missing)[0]!r}")
    if fields == set(columns):
        return expression
    return "{" + " ".join(c for c in columns if c in fields) + "} : " + expression


def to_fts5(node: Node, columns: Sequence[str] = ("title", "text")) -> str:
    """The FTS5 MATCH expression equivalent to ``node`` over a table with ``columns``."""
    if isinstance(node, Term | Prefix | Phrase):
        return _leaf(node, columns)
    if isinstance(node, Keyword):
        raise Fts5TranslationError(f"{node.field}: has no FTS5 equivalent")
    if isinstance(node, Not):
        raise Fts5TranslationError("FTS5 needs something positive beside NOT (a NOT b)")
    if isinstance(node, Or):
        return " OR ".join(f"({to_fts5(child, columns)})" for child in node.children)
    if isinstance(node, And):
        positives = [c for c in node.children if not isinstance(c, Not)]
        negatives = [c.child for c in node.children if isinstance(c, Not)]
        if not positives:
            raise Fts5TranslationError("FTS5 needs something positive beside NOT (a NOT b)")
        expression = " AND ".join(f"({to_fts5(child, columns)})" for child in positives)
        for negative in negatives:
            expression = f"({expression}) NOT ({to_fts5(negative, columns)})"
        return expression
    return _near(node, columns)


def _near(node: Near, columns: Sequence[str]) -> str:
    # FTS5's NEAR takes phrases only: distribute it over OR-groups, (a OR b) NEAR c
    # being NEAR(a c) OR NEAR(b c); each pair is searched in the fields both allow.
    alternatives = []
    for left in _near_leaves(node.left):
        for right in _near_leaves(node.right):
            fields = left.fields & right.fields
            if not fields:
                continue
            pair = f"NEAR({_bare(left)} {_bare(right)}, {node.distance})"
            alternatives.append(_with_columns(pair, fields, columns))
    if not alternatives:
        raise Fts5TranslationError("NEAR operands share no field")
    return " OR ".join(f"({alternative})" for alternative in alternatives)


def _bare(leaf: Leaf) -> str:
    if isinstance(leaf, Term):
        return _quote(leaf.term)
    if isinstance(leaf, Prefix):
        return _quote(leaf.prefix) + " *"
    return _quote(" ".join(leaf.terms)) + (" *" if leaf.last_is_prefix else "")
