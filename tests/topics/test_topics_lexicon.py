"""The C helpers (``_textscan.c``) and their pure-Python twins give the same results."""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.topics.anchors import phrase_anchor_terms
from ingest.topics.lexicon import NATIVE_AVAILABLE, Lexicon, query_lexicon
from ingest.topics.query import DEFAULT_FIELDS, Phrase, parse_query, phrase_needle
from ingest.topics.tokens import joined_terms, python_squeeze_spaces, regex_terms


def test_the_c_helpers_are_built() -> None:
    """CI builds with a C compiler: the fast path must be there, not silently skipped."""
    if not NATIVE_AVAILABLE:
        if os.environ.get("CI"):
            pytest.fail("ingest.topics._textscan was not compiled (is gcc installed?)")
        pytest.skip("the C helpers were not compiled here: the Python twins are in use")


needs_native = pytest.mark.skipif(
    not NATIVE_AVAILABLE and not os.environ.get("CI"), reason="C helpers not compiled"
)

# Letters with and without accents, other scripts, digits, separators and marks.
texts = st.text(
    alphabet=st.sampled_from(list("abcAZ09 ,.-'\n\té É ç ß İ Σ 北京 😀 \u0301 \u2019 \u00a0")),
    max_size=60,
)


@settings(max_examples=500, deadline=None, derandomize=True)
@given(texts)
def test_joined_terms_are_the_reference_terms_between_single_spaces(text: str) -> None:
    terms = regex_terms(text)
    expected = f" {' '.join(terms)} " if terms else " "
    assert joined_terms(text, native=False) == expected
    assert joined_terms(text) == expected


# Scripts whose letters fold on their own (Latin with accents, Greek, Cyrillic, kana),
# with the few that must not be folded alone (İ, Σ) and a combining mark.
alphabets = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("aZ09 .,\u2019\u2014\u0301İΣ")),
        st.characters(min_codepoint=0xC0, max_codepoint=0x24F),
        st.characters(min_codepoint=0x370, max_codepoint=0x4FF),
        st.characters(min_codepoint=0x3041, max_codepoint=0x30FF),
    ),
    max_size=40,
)


@needs_native
@settings(max_examples=500, deadline=None, derandomize=True)
@given(alphabets)
def test_the_c_joiner_folds_letter_by_letter_as_the_reference_does(text: str) -> None:
    from ingest.topics import tokens

    terms = regex_terms(text)
    expected = f" {' '.join(terms)} " if terms else " "
    assert joined_terms(text, native=False) == expected  # classifies the characters
    joiner = tokens._native_joiner()
    assert joiner is not None
    joined = joiner.join(text)
    if any(char in text for char in "İΣ\u0301"):
        assert joined is None  # never classified as a letter: the Python path folds
    else:
        assert joined == expected  # every character is known now: the C pass answers
    assert joined_terms(text) == expected


@needs_native
def test_the_c_joiner_refuses_malformed_tables() -> None:
    from ingest.topics._textscan import TermJoiner

    assert TermJoiner("\u2019", "é", "e").join("Café’s") == " cafe s "
    assert TermJoiner("", "", "").join("Café") is None
    with pytest.raises(ValueError, match="sorted"):
        TermJoiner("", "éa", "ea")
    with pytest.raises(ValueError, match="same length"):
        TermJoiner("", "é", "")
    with pytest.raises(ValueError, match="both"):
        TermJoiner("é", "é", "e")
    with pytest.raises(TypeError):
        TermJoiner("", "", "").join(b"bytes")  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet=st.sampled_from(list(" ab é北\t")), max_size=30))
def test_squeeze_spaces_matches_its_python_twin(text: str) -> None:
    from ingest.topics.tokens import _native_squeeze

    if _native_squeeze is None:
        pytest.skip("C helpers not compiled")
    assert _native_squeeze(text) == python_squeeze_spaces(text)


words = st.text(alphabet=st.sampled_from(list("abcé北😀")), min_size=1, max_size=5)


@needs_native
@settings(max_examples=500, deadline=None, derandomize=True)
@given(
    st.lists(words, max_size=8),
    st.lists(words, max_size=5),
    st.lists(st.tuples(st.lists(words, min_size=1, max_size=3), st.booleans()), max_size=4),
    st.lists(st.one_of(words, st.just(" "), st.just("  ")), max_size=25),
)
def test_c_and_python_scanners_find_the_same_keys(
    lexicon_words: list[str],
    prefixes: list[str],
    phrase_terms: list[tuple[list[str], bool]],
    pieces: list[str],
) -> None:
    spaced = " " + " ".join(pieces) + " "
    phrases = set()
    for terms_of_phrase, last_is_prefix in phrase_terms:
        phrase = Phrase(tuple(terms_of_phrase), DEFAULT_FIELDS, last_is_prefix)
        phrases.update((phrase_needle(phrase), anchor) for anchor in phrase_anchor_terms(phrase))
    native = Lexicon(lexicon_words, prefixes, phrases)
    python = Lexicon(lexicon_words, prefixes, phrases, native=False)
    assert native.native and not python.native
    terms = set(spaced.split(" "))
    expected = (
        {w for w in native.words if w in terms}
        | {p + "*" for p in prefixes if any(t.startswith(p) for t in terms if t)}
        | {needle for needle, _ in phrases if needle in spaced}
    )
    assert python.scan(spaced) == expected
    assert native.scan(spaced) == expected


long_words = st.text(alphabet=st.sampled_from(list("abé")), min_size=1, max_size=20)


@needs_native
@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(long_words, max_size=6),
    st.lists(long_words, max_size=4),
    st.lists(st.one_of(long_words, st.just(" ")), max_size=30),
)
def test_the_chunked_latin1_scan_finds_what_the_general_scan_finds(
    lexicon_words: list[str], prefixes: list[str], pieces: list[str]
) -> None:
    """A 1-byte text is scanned eight characters per load; the same terms in a 2-byte
    text (one more word, 北) take the character loop: the keys must be the same."""
    lexicon = Lexicon(lexicon_words, prefixes)
    spaced = " " + " ".join(pieces) + " "
    wide = spaced + "北 "
    assert lexicon.scan(spaced) == lexicon.scan(wide)
    assert lexicon.scan(spaced) == Lexicon(lexicon_words, prefixes, native=False).scan(spaced)


@needs_native
def test_phrases_are_found_where_their_anchor_word_is() -> None:
    phrases = [(" project nimbus ", "project"), (" the hague", "hague"), (" go go ", "go")]
    with pytest.raises(ValueError, match="anchor"):
        Lexicon([], [], phrases)  # "hague" is the prefix term, not a whole word
    lexicon = Lexicon(["x"], [], [(" project nimbus ", "project"), (" go go ", "go")])
    assert lexicon.scan(" project nimbus ") == {"project", " project nimbus "}
    assert lexicon.scan(" project nimbu x ") == {"project", "x"}
    assert lexicon.scan(" go go go ") == {"go", " go go "}
    assert lexicon.scan(" nimbus project ") == {"project"}


def test_a_lexicon_holds_every_word_and_prefix_a_query_can_ask_about() -> None:
    node = parse_query('(azure OR "project nimbus" OR "google clo*") NEAR/3 contract* NOT x')
    words, prefixes, phrases = query_lexicon(node)
    assert words == {"azure", "project", "google", "x"}  # each phrase's anchor word
    assert prefixes == {"contract"}  # a phrase's last prefix is in its spaced form
    assert phrases == {(" project nimbus ", "project"), (" google clo", "google")}
    lexicon = Lexicon.of_queries([node])
    assert lexicon.covers(node)
    assert not lexicon.covers(parse_query("aws"))


def test_scanning_long_hostile_terms_stays_linear() -> None:
    lexicon = Lexicon(["a" * 50], ["a" * 3, "a" * 40])
    spaced = " " + "a" * 200_000 + " " + "a" * 50 + " "
    assert lexicon.scan(spaced) == {"a" * 50, "aaa*", "a" * 40 + "*"}


@pytest.mark.skipif(not NATIVE_AVAILABLE, reason="C helpers not compiled")
def test_the_c_topic_filter_refuses_malformed_plans() -> None:
    from ingest.topics._textscan import TopicFilter

    good = TopicFilter({"a": (0,)}, ["b"], [[1, 1, 0, 0, 0]], ())
    assert good.candidates(frozenset({"a", "b"})) == [0]
    assert good.candidates({"a"}) == []
    with pytest.raises(TypeError):
        good.candidates(["a", "b"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="malformed"):
        TopicFilter({}, ["b"], [[1, 1, 5, 0, 0]], ())  # key id 5 of 1 key
    with pytest.raises(ValueError, match="malformed"):
        TopicFilter({}, ["b"], [[2, 1, 0, 0, 0]], ())  # two checks announced, one given
    with pytest.raises(ValueError, match="out of range"):
        TopicFilter({"a": (3,)}, [], [[0]], ())
    with pytest.raises(ValueError, match="out of range"):
        TopicFilter({}, [], [[0]], (1,))


@needs_native
def test_a_bound_scan_numbers_the_keys_of_its_filter() -> None:
    from ingest.topics._textscan import TopicFilter

    topic_filter = TopicFilter(
        {"azure": (0,), " project nimbus ": (1,)}, ["cloud*"], [[0], [0]], ()
    )
    keys = topic_filter.key_list()
    assert keys[0] == "cloud*" and set(keys) == {"cloud*", "azure", " project nimbus "}
    lexicon = Lexicon(["azure", "other"], ["cloud"], [(" project nimbus ", "project")])
    with pytest.raises(RuntimeError, match="bound"):
        lexicon.scan_numbered(" azure ")
    assert lexicon.bind([*keys, "source:nyt.com", "absent"])  # keys it lacks: passed over
    found, numbers = lexicon.scan_numbered(" azure clouds other project nimbus ")
    assert found == {"azure", "cloud*", "other", "project", " project nimbus "}
    numbered = sorted(keys[n] for n in memoryview(numbers).cast("i"))
    assert numbered == sorted(["azure", "cloud*", " project nimbus "])
    assert topic_filter.candidates_of([numbers], []) == [0, 1]
    assert topic_filter.candidates_of([numbers], []) == topic_filter.candidates(found)
    with pytest.raises(ValueError, match="out of range"):
        topic_filter.candidates_of([(99).to_bytes(4, sys.byteorder)], [])
    with pytest.raises(TypeError):
        topic_filter.candidates_of([b"abc"], [])
