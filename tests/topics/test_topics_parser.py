"""The query parser: operators, precedence, fields, and error messages with columns."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.topics.query import (
    DEFAULT_FIELDS,
    MAX_DEPTH,
    And,
    Keyword,
    Near,
    Not,
    Or,
    Phrase,
    Prefix,
    QueryError,
    Term,
    parse_query,
)

D = DEFAULT_FIELDS


def t(word: str, *fields: str) -> Term:
    return Term(word, frozenset(fields) if fields else D)


def test_word_is_folded() -> None:
    assert parse_query("Café") == t("cafe")


def test_and_or_not() -> None:
    assert parse_query("a AND b") == And((t("a"), t("b")))
    assert parse_query("a OR b") == Or((t("a"), t("b")))
    assert parse_query("a NOT b") == And((t("a"), Not(t("b"))))
    assert parse_query("NOT b") == Not(t("b"))


def test_implicit_and_is_and() -> None:
    assert parse_query("a b c") == parse_query("a AND b AND c") == And((t("a"), t("b"), t("c")))


def test_lowercase_operators_are_words() -> None:
    assert parse_query("cats and dogs") == And((t("cats"), t("and"), t("dogs")))
    assert parse_query("near") == t("near")


def test_precedence_not_over_and_over_or() -> None:
    # a OR b AND NOT c  ==  a OR (b AND (NOT c))
    assert parse_query("a OR b AND NOT c") == Or((t("a"), And((t("b"), Not(t("c"))))))
    # NOT binds to the next operand only
    assert parse_query("NOT a AND b") == And((Not(t("a")), t("b")))
    assert parse_query("a AND b OR c") == Or((And((t("a"), t("b"))), t("c")))
    assert parse_query("a OR b c") == Or((t("a"), And((t("b"), t("c")))))


def test_parentheses() -> None:
    assert parse_query("(a OR b) c") == And((Or((t("a"), t("b"))), t("c")))
    assert parse_query("NOT (a OR b)") == Not(Or((t("a"), t("b"))))


def test_phrase_and_multi_token_word() -> None:
    assert parse_query('"Project  Nimbus"') == Phrase(("project", "nimbus"), D)
    assert parse_query("Israel's") == Phrase(("israel", "s"), D)
    assert parse_query("sit-in") == Phrase(("sit", "in"), D)
    assert parse_query('"azure"') == t("azure")


def test_prefix() -> None:
    assert parse_query("intercept*") == Prefix("intercept", D)
    assert parse_query('"cloud contract*"') == Phrase(("cloud", "contract"), D, True)
    assert parse_query('"cloud contract"*') == Phrase(("cloud", "contract"), D, True)


@pytest.mark.parametrize("query", ["ab*", "a*", "*", "é*", "title:xy*"])
def test_prefix_needs_three_letters(query: str) -> None:
    with pytest.raises(QueryError) as error:
        parse_query(query)
    assert "3 letters" in error.value.expected or "letters or digits" in error.value.expected


def test_prefix_error_names_column() -> None:
    with pytest.raises(QueryError) as error:
        parse_query("azure OR ab*")
    assert error.value.column == 10
    assert str(error.value).startswith("column 10: expected at least 3 letters before '*'")


def test_fields() -> None:
    assert parse_query("title:Azure") == t("azure", "title")
    assert parse_query("TEXT:azure") == t("azure", "text")
    assert parse_query('author:"Jane Doe"') == Phrase(("jane", "doe"), frozenset({"author"}))
    assert parse_query("title:(a OR b)") == Or((t("a", "title"), t("b", "title")))
    assert parse_query("source:www.NYTimes.com") == Keyword("source", "nytimes.com")
    assert parse_query("lang:en") == Keyword("lang", "en")
    assert parse_query("source:nyt*") == Keyword("source", "nyt", is_prefix=True)
    assert parse_query("source:(a.com OR b.org)") == Or(
        (Keyword("source", "a.com"), Keyword("source", "b.org"))
    )


def test_near() -> None:
    assert parse_query("a NEAR b") == Near(t("a"), t("b"), 10)
    assert parse_query("a NEAR/3 b") == Near(t("a"), t("b"), 3)
    assert parse_query('(a OR "b c") NEAR/0 dee*') == Near(
        Or((t("a"), Phrase(("b", "c"), D))), Prefix("dee", D), 0
    )


def test_near_binds_tighter_than_not_and_or() -> None:
    assert parse_query("NOT a NEAR/2 b OR c") == Or((Not(Near(t("a"), t("b"), 2)), t("c")))


@pytest.mark.parametrize(
    ("query", "column", "expected"),
    [
        ("(azure OR aws", 14, "')'"),
        ("azure AND", 10, "a word"),
        ("", 1, "a word"),
        ("azure )", 7, "an operator or the end"),
        ("()", 2, "a word"),
        ('"unclosed phrase', 17, "'\"'"),
        ("foo:bar", 1, "a field"),
        ("title:", 7, "a word"),
        ("azure NEAR/x aws", 12, "a number"),
        ("azure NEAR/5000 aws", 12, "a number"),
        ("a NEAR b NEAR c", 10, "AND/OR between NEARs"),
        ("(a AND b) NEAR c", 1, "a word, phrase or OR-group"),
        ("a NEAR NOT b", 8, "a word"),
        ("title:a NEAR text:b", 9, "operands in a common field"),
        ("title:(text:a)", 8, "no other field"),
        ("source:a.com NEAR b", 1, "a word, phrase or OR-group"),
        ("& OR b", 1, "a word with letters or digits"),
        ("x OR : b", 6, "a field name"),
        ("a : b", 3, "a field name"),
        ("NOT", 4, "a word"),
    ],
)
def test_errors_name_column_and_expectation(query: str, column: int, expected: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    error = caught.value
    assert (error.column, error.expected.startswith(expected)) == (column, True), str(error)
    message = str(error)
    assert message.startswith(f"column {column}: expected ")
    lines = message.split("\n")
    assert lines[1] == "  " + query
    assert lines[2] == "  " + " " * (column - 1) + "^"


def test_unclosed_paren_message() -> None:
    with pytest.raises(QueryError) as caught:
        parse_query("(azure OR aws")
    assert str(caught.value).split("\n")[0] == (
        "column 14: expected ')' after 'aws' to close '(' at column 1"
    )


def test_limits() -> None:
    with pytest.raises(QueryError, match="nested"):
        parse_query("(" * (MAX_DEPTH + 5) + "a" + ")" * (MAX_DEPTH + 5))
    with pytest.raises(QueryError, match="nested"):
        parse_query("NOT " * (MAX_DEPTH + 5) + "a")
    with pytest.raises(QueryError, match="too long"):
        parse_query("a " * 10_000)
    with pytest.raises(QueryError, match="words"):
        parse_query(" OR ".join(["azure"] * 1001))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet=st.sampled_from(list('ab "()*:/-NEAROTDtitle é0123')), max_size=40))
def test_parser_never_crashes(query: str) -> None:
    """Any string either parses or raises QueryError with a column inside the query."""
    try:
        parse_query(query)
    except QueryError as error:
        assert 1 <= error.column <= len(query) + 1
        assert str(error).startswith(f"column {error.column}: expected ")
