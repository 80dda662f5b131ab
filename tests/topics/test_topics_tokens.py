"""The fast tokeniser gives exactly the terms of the reference (per-token regex) one,
and the per-field lookups built on it agree with naive computations on the terms."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.topics.match import FieldTokens
from ingest.topics.tokens import (
    regex_terms,
    spaced_terms,
    token_offsets,
    tokenize_terms,
)

# Characters that take every branch of the fast path: separators (curly quotes, dashes,
# no-break space, a lone surrogate), letters that fold alone (É, Ж, ß, ﬁ, Hangul
# syllables), marks and jamo that need the whole token folded, and the unsafe ones
# (İ lengthens when lower-cased, Σ depends on its neighbours).
TRICKY = (
    "aZ9 _-'.,\n\t’“”—–‘…\u00a0\ud800"
    "ÉéÜüÅåÇçŁłØøßﬁЖжЙйЁёαάΑΆ가각"
    "\u0301\u0308\u0300\u0345\u3099각\ue000"
    "İıΣσςǅK²½٣"
)
texts = st.text(alphabet=st.sampled_from(TRICKY), max_size=40) | st.text(max_size=40)


@settings(max_examples=3000, deadline=None, derandomize=True)
@given(texts)
def test_fast_terms_equal_the_reference(text: str) -> None:
    assert tokenize_terms(text) == regex_terms(text)


@settings(max_examples=500, deadline=None, derandomize=True)
@given(texts)
def test_spaced_terms_hold_the_terms_between_spaces(text: str) -> None:
    spaced = spaced_terms(text)
    assert spaced.startswith(" ")
    assert spaced.endswith(" ")
    assert spaced.split() == tokenize_terms(text)
    assert set(spaced) <= set(" ").union(*tokenize_terms(text))
    assert len(token_offsets(text)) == len(tokenize_terms(text))


def test_every_starter_pair_that_composes_involves_a_mark_or_jamo() -> None:
    """Letters fold one by one (tokens._LETTER) because NFC joins a letter only to a
    following mark or conjoining jamo: re-checked against this Python's Unicode tables."""
    jamo = re.compile("[\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff]")
    for code in range(0x110000):
        decomposition = unicodedata.decomposition(chr(code))
        if not decomposition or decomposition.startswith("<"):
            continue
        parts = [chr(int(part, 16)) for part in decomposition.split()]
        if len(parts) != 2 or unicodedata.normalize("NFC", "".join(parts)) != chr(code):
            continue
        second = parts[1]
        if unicodedata.combining(second) == 0:
            assert unicodedata.category(second).startswith("M") or jamo.match(second)


def test_common_cases() -> None:
    assert tokenize_terms("Don’t “panic”—it’s 2,000 CAFÉS") == [
        "don",
        "t",
        "panic",
        "it",
        "s",
        "2",
        "000",
        "cafes",
    ]
    assert tokenize_terms("Йошкар-Ола ΟΔΟΣ İstanbul") == regex_terms("Йошкар-Ола ΟΔΟΣ İstanbul")
    assert spaced_terms("A, b") == " a  b "


words = st.lists(st.sampled_from(["azure", "az", "cloud", "clouds", "the", "é"]), max_size=12)
punctuation = st.sampled_from([" ", ", ", " — ", "\n\n", ". "])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(words, st.lists(punctuation, min_size=12, max_size=12))
def test_field_lookups_agree_with_the_terms(terms: list[str], gaps: list[str]) -> None:
    text = "".join(word + gap for word, gap in zip(terms, gaps, strict=False))
    folded = tokenize_terms(text)
    field = FieldTokens(text, within=frozenset(folded) | {"unused"})
    for word in ("azure", "az", "cloud", "e", "unused"):
        assert field.positions_of(word) == [i for i, t in enumerate(folded) if t == word]
    for prefix in ("az", "clo", "clouds"):
        expected = [i for i, t in enumerate(folded) if t.startswith(prefix)]
        assert field.prefix_positions(prefix) == expected
        assert field.has_prefix(prefix) == bool(expected)
    joined = " " + " ".join(folded) + " "
    for needle in (" azure cloud ", " the az", " cloud the ", " e e "):
        assert field.has_sequence(needle) == (needle in joined)
    assert FieldTokens(text).positions_of("azure") == field.positions_of("azure")
