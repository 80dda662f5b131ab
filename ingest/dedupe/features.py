"""Article features for story clustering: weighted term vectors with online IDF.

Terms are hashed to signed 63-bit integers (stable across processes: blake2b), so the
story index and the IDF table are integer-keyed. Four kinds of term share one space (the
kind is in the id's two low bits):

* words (lower-cased, stop words dropped, a light plural stem; dotted acronyms such as
  "G.O.P." are one word, "gop", whatever the outlet's house style);
* entities: capitalised tokens and token pairs from running text (names, places,
  organisations) — two reports of one event agree on them, two events of one kind don't.
  A Title Case headline says nothing by its capitals, so a headline word is an entity
  only when the text uses it as one (then with the headline's weight);
* numbers with two or more digits (tolls, scores, years, amounts);
* weekdays named in the headline or lead ("on Friday"): reports of one event name the
  same day, two events of one kind a few days apart don't.

Title and lead (first sentences) weigh more than the body, which is cut at
``BODY_CHARS`` so long articles don't drown in background paragraphs.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

BODY_CHARS = 4000
LEAD_CHARS = 400
MAX_TERMS = 120  # an article vector keeps its heaviest terms only
TITLE_WEIGHT = 2.5
LEAD_WEIGHT = 1.5
BODY_WEIGHT = 1.0
ENTITY_BOOST = 1.6
NUMBER_BOOST = 1.3
DOC_COUNT_TERM = 0  # reserved key of the term-stats table holding the document count

WORD = 0
ENTITY = 1
NUMBER = 2
WHEN = 3
WEEKDAYS = frozenset(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])

# Dotted acronyms ("U.S.", "G.O.P.", "N.A.A.C.P.") are one token: outlets differ in
# house style and "NAACP" must meet "N.A.A.C.P.".
_WORD_RE = re.compile(
    r"[^\W\d_]+(?:['’][^\W\d_]+)*(?:(?<=\b[^\W\d_])\.(?:[^\W\d_]\.)+)?|\d[\d,.]*\d|\d",
    re.UNICODE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]*\s+|\n+")

STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "said",
        "says",
        "say",
        "told",
        "tell",
        "according",
        "new",
        "one",
        "two",
        "three",
        "also",
        "would",
        "could",
        "may",
        "might",
        "must",
        "shall",
        "us",
        "mr",
        "mrs",
        "ms",
        "dr",
        "s",
        "t",
        "don",
        "didn",
        "doesn",
        "isn",
        "wasn",
        "weren",
        "aren",
        "won",
        "can't",
        "it's",
        "he's",
        "she's",
        "that's",
        "there's",
        "they're",
        "we're",
        "i'm",
        "year",
        "years",
        "time",
        "times",
        "day",
        "days",
        "week",
        "weeks",
        "month",
        "months",
        "people",
        "last",
        "first",
        "just",
        "like",
        "get",
        "got",
        "make",
        "made",
        "many",
        "much",
        "even",
        "still",
        "back",
        "well",
        "way",
        "since",
        "including",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "yesterday",
        "today",
        "tomorrow",
        "news",
        "report",
        "reported",
        "reports",
        "reporting",
        "according",
        "statement",
        "saying",
        "asked",
        "going",
        "went",
        "says",
        "per",
        "via",
    ]
)


@functools.lru_cache(maxsize=262_144)
def term_id(kind: int, text: str) -> int:
    """Stable positive 63-bit id of a term; its two low bits are the kind.

    Never 0 (0 is the document-count key): the hash is shifted left and the kind is 0-2,
    so a WORD id of 0 would need a zero hash; it is mapped to 4.
    """
    digest = hashlib.blake2b(f"{kind}:{text}".encode(), digest_size=8).digest()
    value = ((int.from_bytes(digest, "big") >> 3) << 2) | kind
    return value or 4


def term_kind(term: int) -> int:
    """WORD, ENTITY or NUMBER: the kind encoded in a term id."""
    return term & 3


def _stem(word: str) -> str:
    # Light plural/possessive folding: enough to join "protesters"/"protester".
    if word.endswith(("'s", "’s")):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


_ABBREVIATION = re.compile(
    r"(?:\b[A-Za-z]\.|\b(?:Mr|Mrs|Ms|Dr|Prof|Sen|Gov|Rep|Gen|Lt|Col|Capt|Sgt|St|Jr|Sr|Inc|Co|"
    r"Corp|Ltd|No|vs|Jan|Feb|Mar|Apr|Aug|Sept?|Oct|Nov|Dec|Ft|Mt|Pres|Rev|Ave|Calif|Fla|Ill|"
    r"Mass|Mich|Minn|Penn|Tenn|Va|Wash|Wis|Conn|Ariz|Colo)\.)$"
)


def split_sentences(text: str) -> list[str]:
    """Sentences (or lines) of ``text``, stripped, empty ones dropped.

    A split after an initial or a common abbreviation ("Donald J.", "U.S.", "Sen.") or
    before a lower-case word is undone.
    """
    out: list[str] = []
    glue = False
    for piece in _SENTENCE_END.split(text):
        piece = piece.strip()
        if not piece:
            glue = False
            continue
        if out and (glue or piece[0].islower()):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
        glue = bool(_ABBREVIATION.search(out[-1]))
    return out


def _is_title_case(tokens: list[str]) -> bool:
    words = [w for w in tokens if w[0].isalpha() and len(w) > 3]
    return len(words) >= 3 and sum(w[0].isupper() for w in words) / len(words) > 0.6


@dataclass
class Features:
    """Raw term counts of one article, weighted by field, before IDF."""

    counts: dict[int, float] = field(default_factory=dict)

    def add(self, kind: int, text: str, weight: float) -> None:
        term = term_id(kind, text)
        self.counts[term] = self.counts.get(term, 0.0) + weight


@functools.lru_cache(maxsize=262_144)
def _token_term(token: str) -> int:
    """The term id of a word/number token, or 0 if it carries no meaning."""
    if token[0].isdigit():
        number = token.replace(",", "").rstrip(".")
        return term_id(NUMBER, number) if len(number.replace(".", "")) >= 2 else 0
    word = _stem(token.lower().replace(".", ""))
    if len(word) < 2 or word in STOP_WORDS:
        return 0
    return term_id(WORD, word)


def _add_words(feats: Features, tokens: list[str], weight: float) -> None:
    counts = feats.counts
    for token, n in Counter(tokens).items():
        term = _token_term(token)
        if term:
            counts[term] = counts.get(term, 0.0) + weight * n


def _entity_names(tokens: list[str]) -> list[str]:
    """Names (capitalised runs, lower-cased) of one sentence: each word and each pair."""
    out: list[str] = []
    run: list[str] = []
    for position, token in enumerate([*tokens, ""]):
        capital = bool(token) and token[0].isupper() and token.lower() not in STOP_WORDS
        # The first word of a sentence is capitalised anyway: only a run starting there
        # that goes on (a multi-word name) counts.
        if capital and len(token) > 1:
            run.append(_name(token))
            continue
        if run and not (len(run) == 1 and position == 1):
            out.extend(run)
            out.extend(f"{left} {right}" for left, right in itertools.pairwise(run))
        run = []
    return out


def _name(token: str) -> str:
    if token.endswith(("'s", "’s")):
        token = token[:-2]
    return token.replace(".", "").lower()


def _title_names(tokens: list[str], known: set[str]) -> list[str]:
    """Names of a headline. Headlines are often Title Case, so a capitalised headline
    word counts as a name only when the text uses it as one (``known``)."""
    names = [_name(t) if t[0].isupper() else "" for t in tokens]
    out = [n for n in names if n in known]
    out.extend(
        pair
        for left, right in itertools.pairwise(names)
        if left and right and (pair := f"{left} {right}") in known
    )
    return out


def _add_weekdays(feats: Features, tokens: list[str], weight: float) -> None:
    for token in tokens:
        if token[0].isupper() and (day := token.lower()) in WEEKDAYS:
            feats.add(WHEN, day, weight)


def extract_features(title: str, text: str) -> Features:
    """Field-weighted term counts of an article (pure; bounded by ``BODY_CHARS``)."""
    feats = Features()
    title = (title or "").strip()[:500]
    body = (text or "")[: BODY_CHARS * 2]
    sentences = split_sentences(body)
    if sentences and title and sentences[0].strip().lower() == title.lower():
        sentences = sentences[1:]  # many extractors repeat the title as the first line
    title_tokens = _WORD_RE.findall(title)
    _add_words(feats, title_tokens, TITLE_WEIGHT)
    _add_weekdays(feats, title_tokens, TITLE_WEIGHT)
    known: set[str] = set()
    used = 0
    for sentence in sentences:
        if used >= BODY_CHARS:
            break
        weight = LEAD_WEIGHT if used < LEAD_CHARS else BODY_WEIGHT
        used += len(sentence)
        tokens = _WORD_RE.findall(sentence)
        _add_words(feats, tokens, weight)
        if weight == LEAD_WEIGHT:
            _add_weekdays(feats, tokens, weight)
        if not _is_title_case(tokens):
            names = _entity_names(tokens)
            known.update(names)
            for name in names:
                feats.add(ENTITY, name, weight)
    for name in _title_names(title_tokens, known):
        feats.add(ENTITY, name, TITLE_WEIGHT)
    return feats


@functools.lru_cache(maxsize=65_536)
def title_terms(title: str) -> frozenset[int]:
    """The word and number terms of a headline (to compare headlines on their own)."""
    return frozenset(t for t in map(_token_term, _WORD_RE.findall(title[:500])) if t)


_BOOSTS = {WORD: 1.0, ENTITY: ENTITY_BOOST, NUMBER: NUMBER_BOOST, WHEN: 1.0}


def tfidf_vector(
    feats: Features, df: Mapping[int, int], doc_count: int, max_terms: int = MAX_TERMS
) -> dict[int, float]:
    """L2-normalised sublinear TF-IDF vector, kept to the ``max_terms`` heaviest terms.

    ``df`` holds document frequencies *before* this article; terms seen in one document
    only so far get the highest IDF. Ties break on the term id (deterministic).
    """
    n = doc_count + 1
    weights: dict[int, float] = {}
    for term, count in feats.counts.items():
        idf = math.log((n + 1) / (df.get(term, 0) + 1)) + 1.0
        kind = term_kind(term)
        boost = _BOOSTS[kind]
        weights[term] = (1.0 + math.log(count)) * idf * boost if count > 0 else 0.0
    top = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:max_terms]
    norm = math.sqrt(sum(w * w for _, w in top)) or 1.0
    return {term: w / norm for term, w in top}


def norm(vector: Mapping[int, float]) -> float:
    """Euclidean norm (exactly rounded sum: independent of iteration order)."""
    return math.sqrt(math.fsum(w * w for w in vector.values()))


def dot(a: Mapping[int, float], b: Mapping[int, float]) -> float:
    """Dot product over the shared terms (exactly rounded: order-independent, so every
    state implementation gets the same bits)."""
    shared = a.keys() & b.keys()
    return math.fsum(a[t] * b[t] for t in shared) if shared else 0.0


def cosine(
    a: Mapping[int, float],
    b: Mapping[int, float],
    norm_a: float | None = None,
    norm_b: float | None = None,
) -> float:
    """Cosine of two sparse vectors (norms may be passed in when already known)."""
    d = dot(a, b)
    if d == 0.0:
        return 0.0
    na = norm(a) if norm_a is None else norm_a
    nb = norm(b) if norm_b is None else norm_b
    return d / (na * nb) if na and nb else 0.0
