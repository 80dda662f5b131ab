"""Tokenisation compatible with SQLite FTS5's ``unicode61 remove_diacritics 2``.

A token is a run of Unicode letters, numbers and private-use characters (categories
``L*``, ``N*``, ``Co``) and of the common combining diacritics (which are then removed);
everything else, other combining marks included, separates tokens. Each token is
lower-cased and stripped of diacritics (NFD, then combining marks dropped), so
``Café`` and ``CAFE`` are the same term. ``don't`` is two tokens, ``don`` and ``t``, and
``2,000`` is ``2`` and ``000`` — exactly as FTS5 does it.

Documents are tokenised once per field; matching then works on token positions, and
character offsets into the original text are computed only when hits are reported.

Speed matters here: every article is tokenised before any topic is looked at, so this
cost bounds what the topic index can gain. :func:`tokenize_terms` therefore never loops
over characters or tokens in Python. ASCII is lower-cased and split in three C-level
passes (``bytes.translate``, ``decode``, ``str.split``); so is text whose only non-ASCII
characters separate words (curly quotes, dashes), which is most English news. Otherwise
each distinct non-ASCII character is classified once (cached): separators are blanked
and letters replaced by their folded form with ``bytes.replace``; text with combining
marks is folded as one string (``str.lower``, NFD, diacritics removed, NFC). The
per-token regex algorithm (:func:`regex_terms`) stays the reference, and handles the few
characters where the shortcuts could differ (``İ``, capital sigma).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from ingest.topics._textscan import TermJoiner

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
        lowered = text  # identity tells regex_terms to fold every token itself
    # The plain class is several times faster; the rare extra characters need the full one.
    pattern = _FULL_TOKEN if _HAS_EXTRA.search(text) else _WORD_TOKEN
    return lowered, pattern


def regex_terms(text: str) -> list[str]:
    """The folded terms of ``text``, token by token: the reference algorithm.

    :func:`tokenize_terms` gives the same list faster; :func:`token_offsets` follows
    this one, token for token.
    """
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


# --- the fast path -------------------------------------------------------------------------


def _byte_table(*, keep_non_ascii: bool) -> bytes:
    """ASCII letters lower-cased, digits kept, other ASCII bytes made spaces."""
    table = bytearray(b" " * 256)
    for byte in range(256):
        if byte < 128 and chr(byte).isalnum():
            table[byte] = ord(chr(byte).lower())
        elif byte >= 128 and keep_non_ascii:
            table[byte] = byte
    return bytes(table)


_ASCII_TERMS: Final = _byte_table(keep_non_ascii=False)  # UTF-8 sequences become spaces too
_ASCII_TERMS_KEEP_REST: Final = _byte_table(keep_non_ascii=True)
_ASCII_BYTES: Final = bytes(range(128))
# Σ lower-cases by context (final ς): only lower() on the whole text is exact for it.
_CAPITAL_SIGMA: Final = "\u03a3"

_SEPARATOR, _LETTER, _MARKED, _UNSAFE = 0, 1, 2, 3
_KIND_CACHE_LIMIT: Final = 100_000
_char_kinds: dict[str, tuple[int, str]] = {}
_separators: set[str] = set()  # the non-ASCII separators met so far: one C-level subset test
_letters: dict[str, str] = {}  # the non-ASCII letters met so far that fold on their own
# Conjoining jamo are letters that NFC composes with the letter before them.
_CONJOINING_JAMO = re.compile("[\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff]")


def _classify(char: str) -> tuple[int, str]:
    """How a non-ASCII character tokenises, and what a letter folds to on its own.

    - a separator;
    - a letter that folds on its own (``É`` -> ``e``, ``Ж`` -> ``ж``): NFC composes a
      letter only with a following mark or conjoining jamo, so a token of such letters
      folds letter by letter;
    - a mark or jamo inside a token: the token must be folded as a whole;
    - unsafe: lower-casing it alone could differ from lower-casing the whole text
      (``İ`` lengthens, ``Σ`` depends on its neighbours), or it would change whether
      it belongs to a token; such texts take the reference algorithm.
    """
    lowered = char.lower()
    in_token = _FULL_TOKEN.fullmatch(char) is not None
    if len(lowered) != 1 or char == _CAPITAL_SIGMA:
        return _UNSAFE, char
    if in_token != (_FULL_TOKEN.fullmatch(lowered) is not None):
        return _UNSAFE, char
    if not in_token:
        return _SEPARATOR, " "
    folded = fold_token(lowered)
    alone = (
        unicodedata.category(char)[0] in "LN"
        and not _CONJOINING_JAMO.match(char)
        and len(folded) == 1
        and folded.lower() == folded
        and unicodedata.category(folded)[0] in "LN"
        and fold_token(folded) == folded
    )
    return (_LETTER, folded) if alone else (_MARKED, char)


def _char_kind(char: str) -> tuple[int, str]:
    found = _char_kinds.get(char)
    if found is None:
        found = _classify(char)
        if len(_char_kinds) < _KIND_CACHE_LIMIT:
            _char_kinds[char] = found
            if found[0] == _SEPARATOR:
                _separators.add(char)
            elif found[0] == _LETTER:
                _letters[char] = found[1]
    return found


def _encode(text: str) -> bytes:
    # surrogatepass: a lone surrogate (from a careless JSON producer) is a separator too.
    return text.encode("utf-8", "surrogatepass")


def tokenize_terms(text: str) -> list[str]:
    """The folded terms of ``text`` in order (no offsets: the fast path for matching)."""
    return spaced_terms(text).split()


def spaced_terms(text: str) -> str:
    """The folded terms of ``text`` in order, between runs of spaces (`` a  b c ``).

    ``.split()`` gives :func:`tokenize_terms`; a term starts with ``p`` exactly when
    ``" " + p`` occurs in it. Starts and ends with a space.
    """
    if text.isascii():
        return " " + text.encode("ascii").translate(_ASCII_TERMS).decode("ascii") + " "
    data = _encode(text)
    # The distinct non-ASCII characters: UTF-8 keeps each one's bytes together.
    others = set(data.translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass"))
    if others <= _separators:
        return " " + data.translate(_ASCII_TERMS).decode("ascii") + " "
    kinds = {char: _char_kind(char) for char in others}
    present = {kind for kind, _ in kinds.values()}
    if _UNSAFE in present:
        return " " + " ".join(regex_terms(text)) + " "
    # Separators first: a letter's folded form is never a separator.
    for char, (kind, _) in kinds.items():
        if kind == _SEPARATOR:
            data = data.replace(_encode(char), b" ")
    if _MARKED not in present:
        for char, (kind, folded) in kinds.items():
            if kind == _LETTER and folded != char:
                data = data.replace(_encode(char), _encode(folded))
        return " " + data.translate(_ASCII_TERMS_KEEP_REST).decode("utf-8") + " "
    # Only tokens and spaces left: folding the whole string folds each token, because
    # NFD, NFC and the diacritic rule never reach across a space.
    spaced = data.translate(_ASCII_TERMS_KEEP_REST).decode("utf-8").lower()
    decomposed = unicodedata.normalize("NFD", spaced)
    stripped = _LATIN_DIACRITICS.sub("", decomposed)
    return " " + unicodedata.normalize("NFC", stripped).lower() + " "


def python_squeeze_spaces(text: str) -> str:
    """Runs of U+0020 made one space, with one space at each end (`` a b ``)."""
    inner = " ".join(filter(None, text.split(" ")))
    return f" {inner} " if inner else " "


_native_squeeze: Callable[[str], str] | None
_NativeJoiner: type[TermJoiner] | None
try:  # the C twins (ingest/topics/_textscan.c), when pip could compile them
    from ingest.topics._textscan import TermJoiner, squeeze_spaces

    _native_squeeze, _NativeJoiner = squeeze_spaces, TermJoiner
except ImportError:
    _native_squeeze = _NativeJoiner = None

# The C joiner knows the non-ASCII separators and letters met so far; a new one is built
# when they grow, which stops once a corpus's alphabet and punctuation have been seen.
_joiner: tuple[TermJoiner | None, int, int] = (None, -1, -1)


def _native_joiner() -> TermJoiner | None:
    global _joiner
    joiner, separator_count, letter_count = _joiner
    if separator_count != len(_separators) or letter_count != len(_letters):
        if _NativeJoiner is None:
            return None
        # sorted() copies each in one C call: another thread adding meanwhile is harmless.
        separators, letters = sorted(_separators), sorted(_letters.items())
        joiner = _NativeJoiner(
            "".join(separators),
            "".join(char for char, _ in letters),
            "".join(folded for _, folded in letters),
        )
        _joiner = (joiner, len(separators), len(letters))
    return joiner


def joined_terms(text: str, *, native: bool = True) -> str:
    """The folded terms of ``text`` between single spaces, one at each end (`` a b ``).

    Token ``i`` is preceded by exactly ``i + 1`` spaces, so a token's position is a
    count of spaces and a phrase is a substring. ``native=False`` takes the Python
    path even when the C helpers are there (the same result; tests compare them).
    """
    if native and _native_squeeze is not None and (joiner := _native_joiner()) is not None:
        # Characters classified before (ASCII, punctuation, letters that fold on their
        # own, which is most text in Latin, Cyrillic or CJK scripts): one C pass.
        joined = joiner.join(text)
        if joined is not None:
            return joined
        return _native_squeeze(spaced_terms(text))
    return python_squeeze_spaces(spaced_terms(text))


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
