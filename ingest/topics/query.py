"""The topic query language: lexer, parser and syntax tree.

Grammar (loosest binding first; see docs/query-language.md)::

    query   := or_expr EOF
    or_expr := and_expr ("OR" and_expr)*
    and_expr:= unary (["AND"] unary)*          -- juxtaposition is an implicit AND
    unary   := "NOT" unary | near
    near    := operand [("NEAR" | "NEAR/n") operand]
    operand := [field ":"] ( WORD | WORD* | "phrase" | "(" or_expr ")" )

Operators are upper case (``and`` is a word). Field restrictions are resolved while
parsing: every leaf of the tree carries the set of fields it may match in, so the matcher
and the FTS5 translation never need to track field context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from ingest.topics.tokens import tokenize_terms

TEXT_FIELDS: Final = ("title", "text", "author")
"""Fields holding free text: tokenised, searched word by word."""
KEYWORD_FIELDS: Final = ("source", "lang")
"""Fields holding one value (an outlet's domain, a language tag), compared whole."""
ALL_FIELDS: Final = TEXT_FIELDS + KEYWORD_FIELDS
DEFAULT_FIELDS: Final = frozenset({"title", "text"})
"""Where a term without ``field:`` is looked for."""

MIN_PREFIX_LETTERS: Final = 3
DEFAULT_NEAR_DISTANCE: Final = 10
MAX_NEAR_DISTANCE: Final = 1000
MAX_QUERY_CHARS: Final = 10_000
MAX_DEPTH: Final = 64
MAX_LEAVES: Final = 1000


class QueryError(ValueError):
    """A malformed query: where (1-based ``column``) and what was ``expected`` there."""

    def __init__(self, query: str, column: int, expected: str, detail: str) -> None:
        self.query = query
        self.column = column
        self.expected = expected
        self.detail = detail
        super().__init__(str(self))

    def __str__(self) -> str:
        line = self.query.replace("\n", " ").replace("\t", " ")
        caret = " " * (self.column - 1) + "^"
        return f"column {self.column}: expected {self.expected} {self.detail}\n  {line}\n  {caret}"


# --- syntax tree -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    """One word: matches a token equal to ``term`` (already folded)."""

    term: str
    fields: frozenset[str]


@dataclass(frozen=True, slots=True)
class Prefix:
    """``word*``: matches tokens starting with ``prefix`` (folded, >= 3 characters)."""

    prefix: str
    fields: frozenset[str]


@dataclass(frozen=True, slots=True)
class Phrase:
    """Consecutive tokens; with ``last_is_prefix`` the last one matches as a prefix."""

    terms: tuple[str, ...]
    fields: frozenset[str]
    last_is_prefix: bool = False


@dataclass(frozen=True, slots=True)
class Keyword:
    """``source:`` / ``lang:``: the document's value equals ``value`` (or is under it).

    ``source:example.com`` also matches ``news.example.com``; ``lang:en`` matches
    ``en-GB``. With ``is_prefix`` the value only has to start with ``value``.
    """

    field: str
    value: str
    is_prefix: bool = False


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class Near:
    """Both operands occur with at most ``distance`` tokens between them, either order.

    Operands are leaves (terms, prefixes, phrases) or OR-groups of leaves.
    """

    left: Node
    right: Node
    distance: int


def phrase_needle(phrase: Phrase) -> str:
    """The phrase as a substring of a field's single-spaced terms (`` a b c ``): tokens
    hold no spaces, so the phrase "a b" is exactly `` a b `` and "a b*" is `` a b``
    (then any rest of the last token)."""
    return " " + " ".join(phrase.terms) + ("" if phrase.last_is_prefix else " ")


Leaf = Term | Prefix | Phrase
Node = Term | Prefix | Phrase | Keyword | And | Or | Not | Near


def leaf_label(leaf: Leaf | Keyword) -> str:
    """How a leaf is shown in hits: ``azure``, ``azur*``, ``"project nimbus"``."""
    if isinstance(leaf, Term):
        return leaf.term
    if isinstance(leaf, Prefix):
        return leaf.prefix + "*"
    if isinstance(leaf, Phrase):
        return '"' + " ".join(leaf.terms) + ('*"' if leaf.last_is_prefix else '"')
    return leaf.value + ("*" if leaf.is_prefix else "")


def near_leaves(node: Node) -> list[Leaf]:
    """The leaves of a NEAR operand (a leaf or an OR-group of leaves)."""
    if isinstance(node, Term | Prefix | Phrase):
        return [node]
    if isinstance(node, Or):
        return [leaf for child in node.children for leaf in near_leaves(child)]
    raise TypeError(f"not a NEAR operand: {node!r}")


def _fields_of(node: Node) -> frozenset[str]:
    return frozenset().union(*(leaf.fields for leaf in near_leaves(node)))


# --- lexer -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Lexeme:
    kind: str  # WORD, PHRASE, FIELD, LPAREN, RPAREN, AND, OR, NOT, NEAR, EOF
    text: str
    column: int  # 1-based
    near_distance: int = DEFAULT_NEAR_DISTANCE


_LEXEME = re.compile(
    r"""(?P<space>\s+)
      | (?P<lparen>\()
      | (?P<rparen>\))
      | (?P<phrase>"[^"]*"\*?)
      | (?P<open_phrase>"[^"]*$)
      | (?P<field>[^\s()":]+):
      | (?P<word>[^\s()":]+)
      | (?P<colon>:)""",
    re.VERBOSE,
)
_NEAR = re.compile(r"NEAR(?:/(?P<n>.*))?")


def _lex(query: str) -> list[_Lexeme]:
    lexemes: list[_Lexeme] = []
    for match in _LEXEME.finditer(query):
        kind = match.lastgroup or ""
        text = match.group(kind)
        column = match.start() + 1
        if kind == "space":
            continue
        if kind == "open_phrase":
            raise QueryError(
                query, len(query) + 1, "'\"'", f"to close the phrase at column {column}"
            )
        if kind == "colon":
            raise QueryError(query, column, "a field name", "before ':' (quote text with a colon)")
        if kind == "field":
            name = text.lower()
            if name not in ALL_FIELDS:
                raise QueryError(
                    query, column, "a field (" + ", ".join(ALL_FIELDS) + ")", f"not {text!r}"
                )
            lexemes.append(_Lexeme("FIELD", name, column))
        elif kind == "word" and text in ("AND", "OR", "NOT"):
            lexemes.append(_Lexeme(text, text, column))
        elif kind == "word" and (near := _NEAR.fullmatch(text)):
            lexemes.append(_Lexeme("NEAR", text, column, _near_distance(query, column, near)))
        else:
            lexemes.append(_Lexeme(kind.upper(), text, column))
    lexemes.append(_Lexeme("EOF", "", len(query) + 1))
    return lexemes


def _near_distance(query: str, column: int, near: re.Match[str]) -> int:
    digits = near.group("n")
    if digits is None:
        return DEFAULT_NEAR_DISTANCE
    if not digits.isascii() or not digits.isdigit() or int(digits) > MAX_NEAR_DISTANCE:
        raise QueryError(
            query, column + 5, f"a number from 0 to {MAX_NEAR_DISTANCE}", "after 'NEAR/'"
        )
    return int(digits)


# --- parser ------------------------------------------------------------------------------

_OPERAND_START = ("WORD", "PHRASE", "FIELD", "LPAREN")
_UNARY_START = (*_OPERAND_START, "NOT")
_EXPECTED_OPERAND = "a word, a \"phrase\", a field: or '('"


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.lexemes = _lex(query)
        self.pos = 0
        self.depth = 0
        self.leaves = 0

    # helpers
    @property
    def current(self) -> _Lexeme:
        return self.lexemes[self.pos]

    def _after(self) -> str:
        if self.pos == 0:
            return "at the start of the query"
        previous = self.lexemes[self.pos - 1]
        shown = previous.text if len(previous.text) <= 30 else previous.text[:27] + "..."
        return f"after {shown!r}"

    def error(self, expected: str, detail: str | None = None) -> QueryError:
        lexeme = self.current
        found = "end of query" if lexeme.kind == "EOF" else repr(lexeme.text)
        detail = detail or f"{self._after()}, found {found}"
        return QueryError(self.query, lexeme.column, expected, detail)

    def advance(self) -> _Lexeme:
        lexeme = self.lexemes[self.pos]
        self.pos += 1
        return lexeme

    # grammar
    def parse(self) -> Node:
        if len(self.query) > MAX_QUERY_CHARS:
            raise QueryError(self.query, MAX_QUERY_CHARS + 1, "a shorter query", "(too long)")
        node = self.or_expr(None)
        if self.current.kind == "RPAREN":
            raise self.error("an operator or the end of the query", "(this ')' closes nothing)")
        if self.current.kind != "EOF":
            raise self.error("an operator or the end of the query")
        return node

    def or_expr(self, field: str | None) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("fewer nested groups", f"(at most {MAX_DEPTH} levels)")
        children = [self.and_expr(field)]
        while self.current.kind == "OR":
            self.advance()
            children.append(self.and_expr(field))
        self.depth -= 1
        return children[0] if len(children) == 1 else Or(tuple(children))

    def and_expr(self, field: str | None) -> Node:
        children = [self.unary(field)]
        while True:
            if self.current.kind == "AND":
                self.advance()
            elif self.current.kind not in _UNARY_START:
                break
            children.append(self.unary(field))
        return children[0] if len(children) == 1 else And(tuple(children))

    def unary(self, field: str | None) -> Node:
        if self.current.kind == "NOT":
            self.advance()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error("fewer nested NOTs", f"(at most {MAX_DEPTH} levels)")
            child = self.unary(field)
            self.depth -= 1
            return Not(child)
        return self.near(field)

    def near(self, field: str | None) -> Node:
        left_column = self.current.column
        left = self.operand(field)
        if self.current.kind != "NEAR":
            return left
        near = self.advance()
        self._check_near_operand(left, left_column, "before")
        right_column = self.current.column
        right = self.operand(field)
        self._check_near_operand(right, right_column, "after")
        if not _fields_of(left) & _fields_of(right):
            raise QueryError(self.query, near.column, "operands in a common field", "around NEAR")
        if self.current.kind == "NEAR":
            raise self.error(
                "AND/OR between NEARs", "(NEAR cannot be chained: write (a NEAR b) AND (b NEAR c))"
            )
        return Near(left, right, near.near_distance)

    def _check_near_operand(self, node: Node, column: int, where: str) -> None:
        try:
            leaves = near_leaves(node)
        except TypeError:
            raise QueryError(
                self.query,
                column,
                "a word, phrase or OR-group of them",
                f"{where} NEAR (no AND, NOT, NEAR, source: or lang: inside)",
            ) from None
        del leaves

    def operand(self, field: str | None) -> Node:
        lexeme = self.current
        if lexeme.kind == "FIELD":
            self.advance()
            if field is not None and field != lexeme.text:
                raise QueryError(
                    self.query,
                    lexeme.column,
                    f"no other field inside {field}:(...)",
                    f"found {lexeme.text}:",
                )
            if self.current.kind not in ("WORD", "PHRASE", "LPAREN"):
                raise self.error("a word, a \"phrase\" or '('")
            return self.operand(lexeme.text)
        if lexeme.kind == "LPAREN":
            self.advance()
            if self.current.kind == "RPAREN":
                raise self.error(_EXPECTED_OPERAND, "inside '(' ')' (empty group)")
            node = self.or_expr(field)
            if self.current.kind != "RPAREN":
                raise self.error("')'", f"{self._after()} to close '(' at column {lexeme.column}")
            self.advance()
            return node
        if lexeme.kind in ("WORD", "PHRASE"):
            self.advance()
            self.leaves += 1
            if self.leaves > MAX_LEAVES:
                raise QueryError(
                    self.query, lexeme.column, f"at most {MAX_LEAVES} words", "in one query"
                )
            return self.leaf(lexeme, field)
        raise self.error(_EXPECTED_OPERAND)

    def leaf(self, lexeme: _Lexeme, field: str | None) -> Node:
        text = lexeme.text
        is_prefix = text.endswith("*")
        body = text[:-1] if is_prefix else text
        if lexeme.kind == "PHRASE":
            body = body[1:-1].rstrip()
            if body.endswith("*"):  # "cloud contract*" is "cloud contract"*
                body, is_prefix = body[:-1], True
        if field in KEYWORD_FIELDS:
            return self.keyword(lexeme, field or "", body, is_prefix)
        fields = DEFAULT_FIELDS if field is None else frozenset({field})
        terms = tokenize_terms(body)
        if not terms:
            raise QueryError(
                self.query, lexeme.column, "a word with letters or digits", f"not {text!r}"
            )
        if is_prefix and len(terms[-1]) < MIN_PREFIX_LETTERS:
            raise QueryError(
                self.query,
                lexeme.column,
                f"at least {MIN_PREFIX_LETTERS} letters before '*'",
                f"in {text!r}",
            )
        if len(terms) > 1:
            return Phrase(tuple(terms), fields, is_prefix)
        if is_prefix:
            return Prefix(terms[0], fields)
        return Term(terms[0], fields)

    def keyword(self, lexeme: _Lexeme, field: str, body: str, is_prefix: bool) -> Keyword:
        value = body.strip().lower().rstrip(".")
        if field == "source":
            value = value.removeprefix("www.")
        if not value:
            raise QueryError(self.query, lexeme.column, f"a value after {field}:", "(empty)")
        return Keyword(field, value, is_prefix)


def parse_query(query: str) -> Node:
    """Parse ``query`` into a syntax tree; raises :class:`QueryError` when malformed."""
    return _Parser(query).parse()
