"""Tokenisation compatible with SQLite FTS5's ``unicode61 remove_diacritics 2``.

A token is a run of Unicode letters, numbers and private-use characters (categories
``L*``, ``N*``, ``Co``) and of the common combining diacritics (which are then removed);
everything else, other combining marks included, separates tokens. Each token is
lower-cased and stripped of diacritics (NFD, then combining marks dropped), so
``Café`` and ``CAFE`` are the same term. ``don't`` is two tokens, ``don`` and ``t``, and
``2,000`` is ``2`` and ``000`` — exactly as FTS5 does it.

Documents are tokenised once per field; matching then works on token positions, and
character offsets into the original text are computed only when hits are reported.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

_ASCII_TOKEN = re.compile(r"[a-z0-9]+")
# Only the general-purpose diacritics are removed, as FTS5 does: Japanese voicing marks
# or Arabic hamza change the letter, not just its accent.
_DIACRITIC_MARKS = (
    "\u0300-\u0304\u0306-\u030c\u030f\u0311\u031b\u0323-\u0328\u032d\u032e\u0330\u0331"
)
_DIACRITICS = re.compile(f"[{_DIACRITIC_MARKS}]+")
# ...and only from Latin letters: Cyrillic й is not и with an accent, it is another letter.
_LATIN_DIACRITICS = re.compile(f"(?<=[A-Za-z\u00c0-\u024f\u1e00-\u1eff])[{_DIACRITIC_MARKS}]+")


# Python's [^\W_] is exactly Unicode categories L* and N*; FTS5 adds private-use
# characters (Co) and the diacritics above (which fold_token then drops).
_EXTRA_TOKEN_CHARS = f"{_DIACRITIC_MARKS}\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"
_HAS_EXTRA = re.compile(f"[{_EXTRA_TOKEN_CHARS}]")
_WORD_TOKEN = re.compile(r"[^\W_]+")
_FULL_TOKEN = re.compile(f"(?:[^\\W_]|[{_EXTRA_TOKEN_CHARS}])+")


def fold_token(token: str) -> str:
    """Case-fold and strip diacritics from one token (``Émile`` -> ``emile``)."""
    if token.isascii():
        return token.lower()
    decomposed = unicodedata.normalize("NFD", token)
    return unicodedata.normalize("NFC", _LATIN_DIACRITICS.sub("", decomposed)).lower()


def _lowered_and_pattern(text: str) -> tuple[str, re.Pattern[str]]:
    """Lower-case ``text`` when that keeps character offsets, and pick the token regex.

    ``str.lower`` lengthens a few characters (``İ``); then tokens are taken from the
    original text and each is folded on its own, so offsets stay exact either way.
    """
    if text.isascii():
        return text.lower(), _ASCII_TOKEN
    lowered = text.lower()
    if len(lowered) != len(text):
        lowered = text  # identity tells tokenize_terms to fold every token itself
    # The plain class is several times faster; the rare extra characters need the full one.
    pattern = _FULL_TOKEN if _HAS_EXTRA.search(text) else _WORD_TOKEN
    return lowered, pattern


def tokenize_terms(text: str) -> list[str]:
    """The folded terms of ``text`` in order (no offsets: the fast path for matching)."""
    lowered, pattern = _lowered_and_pattern(text)
    raw = pattern.findall(lowered)
    if pattern is _ASCII_TOKEN:
        return raw
    if lowered is text:
        terms = [fold_token(t) for t in raw]
    else:
        terms = [t if t.isascii() else fold_token(t) for t in raw]
    if all(terms):
        return terms
    # A token made only of combining marks folds to nothing: drop it, as FTS5 does.
    return [t for t in terms if t]


def token_offsets(text: str) -> list[tuple[int, int]]:
    """Character offsets ``(start, end)`` of each term of :func:`tokenize_terms`."""
    lowered, pattern = _lowered_and_pattern(text)
    spans = []
    for match in pattern.finditer(lowered):
        token = match.group()
        if token.isascii() or fold_token(token):
            spans.append(match.span())
    return spans


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its folded term and where it sits in the original text."""

    term: str
    start: int
    end: int


def tokenize(text: str) -> Iterator[Token]:
    """Tokens of ``text`` with offsets into the original (non-normalised) string."""
    for term, (start, end) in zip(tokenize_terms(text), token_offsets(text), strict=True):
        yield Token(term, start, end)
