"""The query index (anchor terms -> candidate topics) never changes the answer."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.topics import Document, PreparedDocument, Topic, TopicMatcher, anchors, parse_query
from ingest.topics.anchors import anchor_clauses
from ingest.topics.lexicon import NATIVE_AVAILABLE, PythonScanner

WORDS = ["azure", "aws", "cloud", "contract", "military", "unit", "8200", "café", "protest"]
SOURCES = ["nytimes.com", "news.bbc.co.uk", "bbc.co.uk", "example.org", ""]
LANGUAGES = ["en", "en-US", "fr", "de", ""]

word = st.sampled_from(WORDS)
leaf = st.one_of(
    word,
    word.filter(lambda w: len(w) >= 4).map(lambda w: w[:3] + "*"),
    st.tuples(word, word).map(lambda p: f'"{p[0]} {p[1]}"'),
    st.sampled_from(["source:bbc.co.uk", "source:nytimes.com", "lang:en", "lang:fr", "source:bb*"]),
    st.tuples(st.sampled_from(["title:", "text:", "author:"]), word).map("".join),
)
near = st.tuples(word, st.integers(0, 4), word).map(lambda p: f"{p[0]} NEAR/{p[1]} {p[2]}")


def combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(children, children)
    return st.one_of(
        pair.map(lambda p: f"({p[0]}) AND ({p[1]})"),
        pair.map(lambda p: f"({p[0]}) ({p[1]})"),
        pair.map(lambda p: f"({p[0]}) OR ({p[1]})"),
        pair.map(lambda p: f"({p[0]}) NOT ({p[1]})"),
        children.map(lambda c: f"NOT ({c})"),
    )


queries = st.recursive(st.one_of(leaf, near), combine, max_leaves=5)
documents = st.builds(
    Document,
    title=st.lists(word, max_size=4).map(" ".join),
    text=st.lists(st.one_of(word, st.just("the")), max_size=12).map(" ".join),
    source=st.sampled_from(SOURCES),
    language=st.sampled_from(LANGUAGES),
    author=st.lists(word, max_size=2).map(" ".join),
)


@pytest.mark.parametrize("native", [True, False], ids=["c", "python"])
@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(queries, min_size=1, max_size=8), st.lists(documents, min_size=1, max_size=5))
def test_index_gives_the_same_matches_as_brute_force(
    native: bool, query_list: list[str], document_list: list[Document]
) -> None:
    if native and not NATIVE_AVAILABLE:
        pytest.skip("the C scanner was not built (no C compiler at install time)")
    matcher = TopicMatcher([Topic(f"t{n}", q) for n, q in enumerate(query_list)], native=native)
    assert matcher.lexicon.native == native
    # The C filter and its Python twin pick exactly the same candidates.
    twin = TopicMatcher(matcher.topics, native=False) if native else None
    for document in document_list:
        prepared = PreparedDocument(document)
        indexed = matcher.matching_numbers(prepared)
        assert indexed == matcher.matching_numbers(prepared, use_index=False)
        assert set(indexed) <= set(matcher.candidates(prepared))
        if twin is not None:
            assert matcher.candidates(prepared) == twin.candidates(prepared)
            # Keys given as the numbers the bound scan reports, or as strings: the same.
            scoped = prepared.scoped(matcher.lexicon)
            assert scoped.key_numbers is not None
            by_strings = replace(matcher._plan, numbered_by=None)
            assert matcher._plan.candidates(scoped) == by_strings.candidates(scoped)


def test_anchor_choice() -> None:
    def anchor_values(query: str) -> set[str] | None:
        found = anchors(parse_query(query))
        return None if found is None else {value for _, _, value in found}

    assert anchor_values("azure") == {"azure"}
    assert anchor_values("azure OR aws*") == {"azure", "aws"}
    assert anchor_values("a AND azure") == {"azure"}  # longer word: rarer
    assert anchor_values('"the azure cloud"') == {" the azure cloud "}  # the phrase itself
    assert anchor_values("military NOT azure") == {"military"}
    assert anchor_values("NOT azure") is None
    assert anchor_values("azure OR NOT aws") is None
    assert anchor_values("source:nyt*") is None
    assert anchor_values("source:bbc.co.uk") == {"bbc.co.uk"}


def test_pure_not_topics_are_always_checked() -> None:
    matcher = TopicMatcher([Topic("a", "azure"), Topic("not", "NOT azure"), Topic("b", "aws")])
    assert matcher.always_checked == [1]
    prepared = PreparedDocument(Document(text="nothing relevant"))
    assert matcher.candidates(prepared) == [1]
    assert [r.topic for r in matcher.match(prepared)] == ["not"]


def test_candidates_grow_with_possible_matches_not_with_topics() -> None:
    topics = [Topic(f"t{n}", f"word{n} OR term{n}*") for n in range(2000)]
    matcher = TopicMatcher(topics)
    prepared = PreparedDocument(Document(text="word7 and term1999xyz here"))
    # term1*, term19*, term199* and term1999* all start "term1999xyz".
    assert matcher.candidates(prepared) == [1, 7, 19, 199, 1999]
    assert matcher.matching_numbers(prepared) == [1, 7, 19, 199, 1999]


def test_clauses_keep_phrases_and_near_pairs_whole_inside_an_or() -> None:
    (clause,) = anchor_clauses(parse_query('"hide their" OR (sport NEAR win*)'))
    values = {frozenset(value for _, _, value in group) for group in clause}
    assert values == {frozenset({" hide their "}), frozenset({"sport", "win"})}


def test_a_group_needs_all_its_anchors_to_make_a_candidate() -> None:
    matcher = TopicMatcher([Topic("t", '"hide their" OR (sport NEAR/2 winner)')])
    assert anchors(parse_query('"hide their" OR (sport NEAR/2 winner)')) is not None
    assert matcher.candidates(PreparedDocument(Document(text="their house, their sport"))) == []
    both = PreparedDocument(Document(text="they hide their faces"))
    assert matcher.candidates(both) == [0]
    assert matcher.matching_numbers(both) == [0]
    assert matcher.candidates(PreparedDocument(Document(text="their faces hide"))) == []
    apart = PreparedDocument(Document(text="a winner of no kind of sport"))
    assert matcher.candidates(apart) == [0]  # the query itself rules this one out
    assert matcher.matching_numbers(apart) == []


def test_every_clause_is_checked_before_evaluation() -> None:
    matcher = TopicMatcher([Topic("t", "azure cloud* contract military")])
    partial = PreparedDocument(Document(text="azure cloudy contract"))
    assert matcher.candidates(partial) == []
    full = PreparedDocument(Document(text="azure cloudy contract for the military"))
    assert matcher.candidates(full) == [0]


def test_forgetting_words_keeps_results_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python scanner's prefix memo starts afresh past its limit; answers do not change."""
    monkeypatch.setattr(PythonScanner, "LIMIT", 3)
    topics = [Topic("a", "azu* OR cloud"), Topic("b", "unit NOT 8200"), Topic("c", "café")]
    matcher = TopicMatcher(topics, native=False)
    texts = ["azure cloud", "unit 8200", "unit 8201 cafe", "the café", "azurite", "nothing"]
    for text in texts * 3:
        prepared = PreparedDocument(Document(text=text))
        assert matcher.matching_numbers(prepared) == matcher.matching_numbers(
            prepared, use_index=False
        )
