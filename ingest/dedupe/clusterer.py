"""Online dedupe + story clustering, written against a small state protocol.

:class:`Clusterer` decides, for one incoming article at a time, whether it is a
near-duplicate of an earlier article (MinHash/LSH) and which story it belongs to (joins
the best matching active story or starts one). Everything it needs from the past goes
through :class:`ClusterState`; :class:`~ingest.dedupe.memory_state.InMemoryClusterState`
serves the CLI and benchmarks, :mod:`ingest.store.cluster_state` serves the pipeline.
Both run this same code, so the same stream gives the same stories.

Story similarity is a logistic model (:data:`SCORE_FEATURES`) over the cosine to the story
centroid (keeps a story on topic), the best cosine to a single member and the mean of the
two best (a report close to one member, and to more than one), the cosine over names
and numbers only (two earthquakes share words, not places), headline cosines (outlets
word their headlines differently from their bodies), agreement on the weekday the reports
name ("on Friday") and the time distance to the story. An article or story without a real
time (:data:`UNKNOWN_TIME`: a stream without dates) gets a "time unknown" term instead of
the distance, so it is not taken for "same time".

One decision can be revised (:meth:`Clusterer._regroup`). A first report of another
event of the same people may join a story weakly; its siblings then match it best and
follow it in, and two events become one. When a later article's closest member had
joined weakly, the article fits that member better than the rest of the story, and the
member fits the article better than the rest of its story, the two start a story of
their own and the member (with its copies) moves there. Because a weak join can now be
undone, the join threshold is lower (0.35, was 0.6): nothing ever merges two stories
later, so a wrong split was always the permanent mistake. Leave-one-set-out pairwise F1
(bench/cluster_quality.py --cv), before -> after: basil 0.960 -> 0.958, pairs 0.834 ->
0.937, twins 0.900 -> 0.932, neardup 0.916 -> 0.934, short 0.907 -> 0.953, short_pairs
0.853 -> 0.861, actors 0.858 -> 0.859, short_actors 0.828 -> 0.869; undated streams
0.70-0.81 -> 0.72-0.86. A move is part of the decision that causes it (same call, same
transaction), so streams clustered again, retried or split across workers still give the
same stories. Tried for the regrouping test and left out: "the article fits the story
only through the member" (the rest scores below the threshold) with the threshold kept
at 0.6 (worst held-out set 0.846), vetoing a move while the member still fits its story
(short_actors 0.818), and regrouping when the article joins no story (no change).

Tried and left out (2026-12-06): a sentence-embedding cosine from a model shipped inside
a PyPI wheel (wordllama's 256-d token table, mean of title + lead; no hub download). In
the leave-one-set-out estimate it helped paraphrase recall (basil, short) but not the
hard case it was for, same actors in another event (short_actors pairwise F1 0.828 ->
0.818), and it cost twins (0.900 -> 0.881) and neardup (0.916 -> 0.902): averaged token
vectors are a smoothed bag of words and cannot tell two events of the same people apart.
Also left out (2026-12-06): the cosine to the centroid over plain words only (names and
numbers taken out), as one more refitted feature: leave-one-set-out pairwise F1 basil
0.960 -> 0.938, twins 0.900 -> 0.822, short_actors 0.828 -> 0.820. Same-kind events
share their plain words too; without the names the words say "an earthquake", not which.
And the share of the article's five heaviest names and numbers found in the story
(coverage, not cosine): short 0.907 -> 0.964 and actors 0.858 -> 0.869, but short_actors
0.828 -> 0.818, basil 0.960 -> 0.947 and most undated scores lower. And the best cosine
of the headlines' plain words to a member's (refitted, threshold retuned to 0.65):
short_actors 0.828 -> 0.836 and pairs 0.834 -> 0.852 held out, but the demo's growing
story split (demo pairwise F1 1.000 -> 0.868): follow-ups of one story are headlined
with other words ("Nimbus", "Amazon", "protest"), which is the case newsmon is for.
Counting it only within a day (times 1 - hours apart / 24) still split it (demo 0.935).
Nor separate join thresholds for dated and undated streams, each tuned on its own: the
dated one comes out at 0.65 (held-out pairs 0.834 -> 0.858, basil 0.960 -> 0.971), which
splits the demo's story too (0.868), and the undated one is unstable (0.35-0.65 by fold).
"""

from __future__ import annotations

import functools
import math
import sys
from array import array
from base64 import b64decode, b64encode
from collections.abc import Iterable
from dataclasses import InitVar, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from ingest.dedupe import features as feat
from ingest.dedupe import minhash

INDEX_TERMS = 40  # story terms in the inverted index
QUERY_TERMS = 30  # article terms used to look up candidate stories
# Stories scored per article, best shared lookup weight first. 12 and 8 gave the same
# stories on every quality set (bench/cluster_quality.py), 6 nearly so; each one costs
# a profile read and a score, so a dense window paid for 4 that never won.
MAX_CANDIDATES = 8
CANDIDATE_SHARE = 0.3  # of the best candidate's shared lookup weight, to be scored
# Per query term, only the most recently active stories count as candidates. A common
# term in a dense window (1M articles a day: hundreds of thousands in 72 h) indexes
# thousands of stories; reading them all made the cost per article grow with the
# window, while a story that fits shares rarer terms too and is found through them.
CANDIDATES_PER_TERM = 16
CENTROID_TERMS = 300
MEMBER_TERMS = 60
MAX_MEMBERS = 12
MAX_SOURCES = 1000
# A member that joined its story with a score below this may be taken out of it into a
# new story by a later article (Clusterer._regroup). Leave-one-set-out pairwise F1, worst
# set: 0.855 at 0.9, 0.859 at 0.8, 0.851 at 0.7 (bench/cluster_quality.py --cv); and at
# 0.9 the demo's story lost its follow-ups when its reports came in publication order.
REGROUP_ATTACH = 0.8
MAX_TEXT_CHARS = 200_000
# The time of an article nobody dated: the batch interface's stream clock before any
# dated record (ingest.dedupe.stream.EPOCH). Times at or before it are "unknown".
UNKNOWN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
# The parts of the same-event model, in the order of ClusterParams' w_* weights.
SCORE_FEATURES = (
    "centroid",
    "single_link",
    "mean_link",
    "specific",
    "centroid_specific",
    "title",
    "title_centroid",
    "weekday_named",
    "weekday_agree",
    "time",
    "time_unknown",
)


@dataclass(frozen=True)
class ClusterParams:
    """Tunable knobs (defaults picked on the union of the bench/data/clustering sets)."""

    window_hours: float = 72.0
    duplicate_jaccard: float = 0.6
    duplicate_specific: float = 0.7  # containment of names and numbers (see minhash)
    join_threshold: float = 0.35
    # Logistic model of "same event" over SCORE_FEATURES (see Score), fitted on the
    # union of the bench/data/clustering sets, dated and undated
    # (`python bench/cluster_quality.py --fit`); the threshold from `--tune` (it is low
    # because a weak join can be undone: see Clusterer._regroup).
    bias: float = -2.36
    w_centroid: float = 2.931
    w_single_link: float = 2.102
    w_mean_link: float = 2.922
    w_specific: float = 1.638
    w_centroid_specific: float = 1.052
    w_title: float = 2.548
    w_title_centroid: float = 2.588
    w_weekday_named: float = -0.792
    w_weekday_agree: float = 1.823
    w_time: float = -1.913
    w_time_unknown: float = -1.933

    @functools.cached_property
    def weights(self) -> tuple[float, ...]:
        """The w_* weights in SCORE_FEATURES order."""
        return tuple(float(getattr(self, f"w_{name}")) for name in SCORE_FEATURES)


@dataclass(frozen=True)
class Doc:
    """One incoming article as the clusterer sees it."""

    article_id: int
    title: str
    text: str
    time: datetime  # published, falling back to arrival (aware UTC)
    source: str | None = None


@dataclass(frozen=True)
class Decision:
    """Where an article went: its story, and the earlier article it copies (if any)."""

    article_id: int
    story_id: int
    duplicate_of: int | None
    similarity: float
    new_story: bool


@dataclass
class Member:
    """A story member kept for single-link scoring and headline choice."""

    article_id: int
    title: str
    vector: dict[int, float]
    # What a later article needs to move this member to another story (see
    # Clusterer._regroup): the score it joined with (1.0 for a story's first article),
    # its time, and the sources of it and its copies (copies: how many). None where a
    # profile was stored before members kept them: such a member is never moved.
    attach: float = 1.0
    time: datetime | None = None
    sources: list[str] | None = None
    copies: int = 0
    # The norm as stored with the profile (the same float, computed when it was written):
    # reading a candidate story then skips a sum over every member's weights.
    stored_norm: InitVar[float | None] = None
    norm: float = field(init=False, repr=False, compare=False)
    _title_vector: dict[int, float] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self, stored_norm: float | None) -> None:
        self.norm = feat.norm(self.vector) if stored_norm is None else stored_norm

    def title_vector(self) -> dict[int, float]:
        """The member's weights of its headline terms (computed on first use)."""
        if self._title_vector is None:
            self._title_vector = _restrict(self.vector, feat.title_terms(self.title))
        return self._title_vector


@dataclass
class StoryProfile:
    """Everything the clusterer keeps about a story (stored as JSON in the pipeline)."""

    story_id: int
    first_seen: datetime
    last_seen: datetime
    centroid: dict[int, float] = field(default_factory=dict)
    members: list[Member] = field(default_factory=list)
    folded: int = 0  # articles summed into the centroid (duplicates are not)
    article_count: int = 0
    sources: list[str] = field(default_factory=list)
    headline: str | None = None
    headline_article_id: int | None = None
    # Derived from the centroid, computed on first use (a changed profile is a new
    # object: see _editable).
    _derived: tuple[float, dict[int, float], float, dict[int, float]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def derived(self) -> tuple[float, dict[int, float], float, dict[int, float]]:
        """(centroid norm, names/numbers part of the centroid, its norm, weekday part)."""
        if self._derived is None:
            specific, weekdays = _split(self.centroid)
            self._derived = (feat.norm(self.centroid), specific, feat.norm(specific), weekdays)
        return self._derived

    @property
    def source_count(self) -> int:
        return len(self.sources)

    def to_json(self) -> dict[str, Any]:
        """The JSON-able clustering state (counts and times live in their own columns).

        Format 3 keeps each vector as two base64 strings of packed little-endian arrays
        (64-bit terms, 64-bit float weights), in the vector's order. A story is read
        whenever it is a candidate and rewritten whenever an article joins it; parsing
        ~1,700 long integers and floats from JSON text was most of reading it (format 2's
        flat lists), a packed array is copied in one C call, and the text is half as
        long. The values come back bit for bit. Each member also keeps its norm (``q``),
        so reading it back needs no pass over the weights. Formats 1 and 2 are still read.
        """
        return {
            "v": 3,
            "c": _pack(self.centroid),
            "m": [_member_json(m) for m in self.members],
            "n": self.folded,
            "s": self.sources,
        }

    @classmethod
    def from_json(
        cls,
        story_id: int,
        data: dict[str, Any],
        *,
        first_seen: datetime,
        last_seen: datetime,
        article_count: int,
        headline: str | None,
        headline_article_id: int | None,
    ) -> StoryProfile:
        if data.get("v") == 3:
            centroid = _unpack(data["c"])
            members = [_member_from_json(m) for m in data.get("m", [])]
        elif data.get("v") == 2:
            terms, weights = data.get("c") or ([], [])
            centroid = dict(zip(map(int, terms), map(float, weights), strict=True))
            members = [
                Member(
                    int(m["a"]),
                    str(m["t"]),
                    dict(zip(map(int, m["k"]), map(float, m["w"]), strict=True)),
                )
                for m in data.get("m", [])
            ]
        else:
            centroid = {int(t): float(w) for t, w in data.get("c", [])}
            members = [
                Member(int(m["a"]), str(m["t"]), {int(t): float(w) for t, w in m["v"]})
                for m in data.get("m", [])
            ]
        return cls(
            story_id=story_id,
            first_seen=first_seen,
            last_seen=last_seen,
            centroid=centroid,
            members=members,
            folded=int(data.get("n", 0)),
            article_count=article_count,
            sources=[str(s) for s in data.get("s", [])],
            headline=headline,
            headline_article_id=headline_article_id,
        )


def _member_json(m: Member) -> dict[str, Any]:
    out: dict[str, Any] = {"a": m.article_id, "t": m.title, "p": _pack(m.vector), "q": m.norm}
    if m.attach != 1.0:
        out["j"] = m.attach
    if m.time is not None:
        out["d"] = m.time.isoformat()
    if m.sources is not None:
        out["o"] = m.sources
    if m.copies:
        out["k"] = m.copies
    return out


def _member_from_json(m: dict[str, Any]) -> Member:
    time = None
    if isinstance(m.get("d"), str):
        try:
            time = datetime.fromisoformat(m["d"])
        except ValueError:
            time = None
    sources = m.get("o")
    attach = _stored_float(m.get("j"))
    return Member(
        int(m["a"]),
        str(m["t"]),
        _unpack(m["p"]),
        1.0 if attach is None else attach,
        time if time is not None and time.tzinfo is not None else None,
        [str(x) for x in sources] if isinstance(sources, list) else None,
        int(m.get("k") or 0),
        _stored_float(m.get("q")),
    )


def _stored_float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _pack(vector: dict[int, float]) -> list[str]:
    """A vector as [terms, weights]: base64 of packed little-endian int64 / float64 arrays
    (term ids are positive 63-bit integers: :func:`~ingest.dedupe.features.term_id`)."""
    terms, weights = array("q", vector), array("d", vector.values())
    if sys.byteorder != "little":
        terms.byteswap()
        weights.byteswap()
    return [
        b64encode(terms.tobytes()).decode("ascii"),
        b64encode(weights.tobytes()).decode("ascii"),
    ]


def _unpack(packed: list[str]) -> dict[int, float]:
    """The vector :func:`_pack` wrote, in the same order and bit for bit."""
    terms, weights = array("q", b64decode(packed[0])), array("d", b64decode(packed[1]))
    if sys.byteorder != "little":
        terms.byteswap()
        weights.byteswap()
    return dict(zip(terms, weights, strict=True))


class ClusterState(Protocol):
    """What the clusterer reads and writes. Implementations must return ids sorted."""

    def assignment(self, article_id: int) -> Decision | None:
        """The decision already recorded for this article (retries are no-ops)."""

    def lsh_candidates(self, buckets: list[tuple[int, int]]) -> list[int]:
        """Ids of indexed articles sharing at least one (band, bucket), ascending."""

    def signatures(self, article_ids: list[int]) -> dict[int, minhash.Signature]:
        """Stored signatures of these articles."""

    def story_of(self, article_ids: list[int]) -> dict[int, int]:
        """The story of each of these (already clustered) articles."""

    def doc_count(self) -> int:
        """Articles counted in the IDF statistics so far."""

    def document_frequencies(self, terms: list[int]) -> dict[int, int]:
        """Document frequency of each term (missing = 0)."""

    def add_document(self, terms: list[int]) -> None:
        """Count one more document containing each of ``terms``."""

    def story_candidates(
        self, terms: list[int], since: datetime, until: datetime
    ) -> dict[int, list[int]]:
        """Stories indexed under any of ``terms`` with last_seen >= since and
        first_seen <= until -> the matched terms (ascending).

        Per term, only the :data:`CANDIDATES_PER_TERM` stories with the latest
        last_seen (then the highest id) among those with last_seen >= since are
        considered; the first_seen test applies after that cut.
        """

    def load_stories(self, story_ids: list[int]) -> dict[int, StoryProfile]:
        """Profiles of these stories."""

    def create_story(self, profile: StoryProfile, index_terms: list[int]) -> int:
        """Store a new story (``profile.story_id`` is ignored) and return its id."""

    def save_story(self, profile: StoryProfile, index_terms: list[int]) -> None:
        """Store an updated story and replace its index terms."""

    def record(
        self,
        doc: Doc,
        decision: Decision,
        signature: minhash.Signature,
        buckets: list[tuple[int, int]] | None,
    ) -> None:
        """Store the decision, the signature and (for originals) the LSH buckets."""

    def move_article(self, article_id: int, from_story: int, to_story: int) -> None:
        """Move an original article and its near-duplicates from one story to another:
        their recorded decisions now name ``to_story``."""


_Seen = TypeVar("_Seen", datetime, int)


def latest_per_term(stories: Iterable[tuple[int, _Seen, bool]]) -> list[int]:
    """Of (story id, last_seen, started in time) sharing one term, the ids that are
    candidates: the :data:`CANDIDATES_PER_TERM` latest by (last_seen, id), then those
    that started in time (first_seen <= the article's time). last_seen may be a time or
    any number ordered like it (the SQL state uses microseconds)."""
    latest = sorted(stories, key=lambda s: (s[1], s[0]), reverse=True)[:CANDIDATES_PER_TERM]
    return [sid for sid, _, in_time in latest if in_time]


def _top(vector: dict[int, float], n: int) -> dict[int, float]:
    # Sorted by weight then term id: the same order everywhere, so float sums that
    # iterate it are identical in every state implementation.
    return dict(sorted(vector.items(), key=lambda kv: (-kv[1], kv[0]))[:n])


def _split(vector: dict[int, float]) -> tuple[dict[int, float], dict[int, float]]:
    """(names/numbers/weekdays part, weekdays part) of a vector, in one pass."""
    specific: dict[int, float] = {}
    weekdays: dict[int, float] = {}
    for term, weight in vector.items():
        kind = feat.term_kind(term)
        if kind != feat.WORD:
            specific[term] = weight
            if kind == feat.WHEN:
                weekdays[term] = weight
    return specific, weekdays


def _restrict(vector: dict[int, float], terms: frozenset[int]) -> dict[int, float]:
    return {t: w for t, w in vector.items() if t in terms}


def _lookup_terms(vector: dict[int, float], n: int) -> list[int]:
    """The ``n`` heaviest terms for the story index, weekdays left out: every story of a
    day shares them, so they find no candidates (there are at most 7 of them)."""
    top = _top(vector, n + len(feat.WEEKDAYS))
    return [t for t in top if feat.term_kind(t) != feat.WHEN][:n]


def _index_terms(story: StoryProfile) -> list[int]:
    return _lookup_terms(story.centroid, INDEX_TERMS)


def time_known(time: datetime) -> bool:
    """Whether ``time`` is a real time (not :data:`UNKNOWN_TIME`)."""
    return time > UNKNOWN_TIME


@dataclass(frozen=True)
class Query:
    """An article as it is compared with candidate stories (built once per article)."""

    vector: dict[int, float]
    time: datetime
    title_terms: frozenset[int] = frozenset()
    norm: float = field(init=False)
    specific: dict[int, float] = field(init=False)
    title: dict[int, float] = field(init=False)
    weekdays: dict[int, float] = field(init=False)

    def __post_init__(self) -> None:
        # Frozen: derived fields are set once, here.
        specific, weekdays = _split(self.vector)
        object.__setattr__(self, "norm", feat.norm(self.vector))
        object.__setattr__(self, "specific", specific)
        object.__setattr__(self, "title", _restrict(self.vector, self.title_terms))
        object.__setattr__(self, "weekdays", weekdays)


@dataclass(frozen=True)
class Score:
    """Similarity of an article to one story (``total``, 0..1) and its parts: the
    SCORE_FEATURES (for tuning and tests) and the hours between article and story."""

    total: float
    centroid: float
    single_link: float
    mean_link: float
    specific: float
    title: float
    title_centroid: float
    weekday_named: float  # 1 when both name a weekday
    weekday_agree: float  # cosine of the weekdays named (0 when either names none)
    time: float  # hours apart / window, capped at 1 (0 when a time is unknown)
    time_unknown: float  # 1 when the article's or the story's time is unknown
    hours_apart: float

    def features(self) -> tuple[float, ...]:
        """The values the model weighs, in SCORE_FEATURES order."""
        return (
            self.centroid,
            self.single_link,
            self.mean_link,
            self.specific,
            self.centroid * self.specific,
            self.title,
            self.title_centroid,
            self.weekday_named,
            self.weekday_agree,
            self.time,
            self.time_unknown,
        )


@dataclass(frozen=True)
class Prepared:
    """The state-independent part of processing one article."""

    signature: minhash.Signature
    buckets: list[tuple[int, int]]
    features: feat.Features


def _prepare(doc: Doc) -> Prepared:
    # Bounded work on untrusted sizes: the first MAX_TEXT_CHARS decide.
    title, text = doc.title[:MAX_TEXT_CHARS], doc.text[:MAX_TEXT_CHARS]
    sig = minhash.signature(f"{title}\n{text}")
    return Prepared(sig, minhash.band_buckets(sig), feat.extract_features(title, text))


class Clusterer:
    """Decides duplicate/story for one article at a time against a :class:`ClusterState`."""

    def __init__(self, state: ClusterState, params: ClusterParams | None = None) -> None:
        self.state = state
        self.params = params or ClusterParams()
        self._prepared: dict[int, Prepared] = {}

    # ------------------------------------------------------------------ scoring
    def score(self, query: Query, story: StoryProfile) -> Score:
        """How well an article fits a story (0..1), with the parts of the score."""
        p = self.params
        c_norm, c_specific, c_specific_norm, c_weekdays = story.derived()
        vector, v_norm = query.vector, query.norm
        centroid = feat.cosine(vector, story.centroid, v_norm, c_norm)
        links = sorted(
            (feat.cosine(vector, m.vector, v_norm, m.norm) for m in story.members), reverse=True
        )
        single = links[0] if links else 0.0
        # The two closest members, not all: a big story's members differ more and more
        # (follow-ups, analysis), and that must not keep new reports out.
        mean = sum(links[:2]) / len(links[:2]) if links else 0.0
        specific = feat.cosine(query.specific, c_specific, None, c_specific_norm)
        title = max(
            (feat.cosine(query.title, m.title_vector()) for m in story.members if query.title),
            default=0.0,
        )
        title_centroid = feat.cosine(query.title, story.centroid, None, c_norm)
        named = 1.0 if query.weekdays and c_weekdays else 0.0
        agree = feat.cosine(query.weekdays, c_weekdays) if named else 0.0
        if query.time < story.first_seen:
            apart = (story.first_seen - query.time).total_seconds() / 3600.0
        elif query.time > story.last_seen:
            apart = (query.time - story.last_seen).total_seconds() / 3600.0
        else:
            apart = 0.0
        known = time_known(query.time) and time_known(story.last_seen)
        distance = min(1.0, apart / max(p.window_hours, 1e-9)) if known else 0.0
        parts = (
            centroid,
            single,
            mean,
            specific,
            title,
            title_centroid,
            named,
            agree,
            distance,
            0.0 if known else 1.0,
        )
        features = (*parts[:4], centroid * specific, *parts[4:])
        z = p.bias + math.fsum(w * x for w, x in zip(p.weights, features, strict=True))
        return Score(1.0 / (1.0 + math.exp(-z)), *parts, apart)

    # ------------------------------------------------------------------ decisions
    def process(self, doc: Doc) -> Decision:
        """Decide and record ``doc``. Processing the same article again returns the
        recorded decision and changes nothing."""
        done = self.state.assignment(doc.article_id)
        if done is not None:
            return done
        prepared = self._prepared.pop(doc.article_id, None) or _prepare(doc)
        sig, buckets = prepared.signature, prepared.buckets
        original = self._duplicate_of(sig, buckets)
        if original is not None:
            return self._record_duplicate(doc, sig, original)
        return self._cluster(doc, sig, buckets, prepared.features)

    def prepare(self, docs: list[Doc]) -> None:
        """Compute what does not depend on the state (signatures, features) for a batch
        about to be processed, and let a state that can (the SQL one) read what the
        batch will look up in a few queries instead of several per article."""
        for doc in docs:
            self._prepared[doc.article_id] = _prepare(doc)
        prefetch = getattr(self.state, "prefetch", None)
        if prefetch is not None:
            terms = sorted({t for p in self._prepared.values() for t in p.features.counts})
            buckets = sorted({b for p in self._prepared.values() for b in p.buckets})
            prefetch(terms, buckets)

    def _duplicate_of(
        self, sig: minhash.Signature, buckets: list[tuple[int, int]]
    ) -> tuple[int, float] | None:
        candidates = self.state.lsh_candidates(buckets)
        if not candidates:
            return None
        sigs = self.state.signatures(candidates)
        p = self.params
        matches = [
            (aid, minhash.jaccard(sig, sigs[aid]))
            for aid in candidates
            if aid in sigs
            and minhash.jaccard(sig, sigs[aid]) >= p.duplicate_jaccard
            and minhash.specific_containment(sig, sigs[aid]) >= p.duplicate_specific
        ]
        # Only originals are indexed, so the earliest match is the earliest copy.
        return min(matches) if matches else None

    def _record_duplicate(
        self, doc: Doc, sig: minhash.Signature, original: tuple[int, float]
    ) -> Decision:
        original_id, similarity = original
        story_id = self.state.story_of([original_id])[original_id]
        story = _editable(self.state.load_stories([story_id])[story_id])
        story.article_count += 1
        _touch(story, doc.time, [doc.source] if doc.source else [])
        story.members = [
            _with_copy(m, doc.source) if m.article_id == original_id else m for m in story.members
        ]
        self.state.save_story(story, _index_terms(story))
        decision = Decision(doc.article_id, story_id, original_id, similarity, False)
        self.state.record(doc, decision, sig, None)
        return decision

    def _cluster(
        self,
        doc: Doc,
        sig: minhash.Signature,
        buckets: list[tuple[int, int]],
        features: feat.Features,
    ) -> Decision:
        terms = sorted(features.counts)
        df = self.state.document_frequencies(terms)
        vector = feat.tfidf_vector(features, df, self.state.doc_count())
        query = Query(vector, doc.time, feat.title_terms(doc.title[:500]))
        best = self._best_story(query)
        self.state.add_document(terms)
        member = Member(
            doc.article_id,
            doc.title[:500],
            _top(vector, MEMBER_TERMS),
            attach=1.0 if best is None else best[1].total,
            time=doc.time,
            sources=[doc.source] if doc.source else [],
        )
        regroup = None if best is None else self._regroup(query, member, best[0])
        if best is not None and regroup is not None:
            decision = self._split(doc, member, best[0], regroup)
        elif best is None:
            story = StoryProfile(0, doc.time, doc.time)
            _fold(story, member)
            story.story_id = self.state.create_story(story, _index_terms(story))
            decision = Decision(doc.article_id, story.story_id, None, 1.0, True)
        else:
            story, score = _editable(best[0]), best[1]
            _fold(story, member)
            self.state.save_story(story, _index_terms(story))
            decision = Decision(doc.article_id, story.story_id, None, score.total, False)
        self.state.record(doc, decision, sig, buckets)
        return decision

    def _regroup(
        self, query: Query, member: Member, story: StoryProfile
    ) -> tuple[Member, StoryProfile] | None:
        """The member of ``story`` to take out into a new story with the incoming
        article, and the story without it; None to join as usual.

        An online clusterer decides each article once, so a report of another event of
        the same people that joined a story weakly pulls its own siblings in after it
        (they match it best): two events become one. Here the incoming article shows
        it. Its closest member had joined weakly (below :data:`REGROUP_ATTACH`), the
        article fits that member alone better than the rest of the story, and the
        member too fits the article better than the rest of its story: the two start a
        story of their own. Only a story whose members are all kept (see
        :data:`MAX_MEMBERS`) is regrouped: its centroid, counts and sources can then be
        recomputed exactly.
        """
        members = story.members
        if len(members) < 2 or story.folded != len(members):
            return None
        links = [feat.cosine(query.vector, m.vector, query.norm, m.norm) for m in members]
        closest = members[max(range(len(members)), key=links.__getitem__)]
        if (
            closest.attach >= REGROUP_ATTACH
            or closest.time is None
            or closest.sources is None
            or any(m.sources is None for m in members)
        ):
            return None
        rest = _without(story, closest)
        if self.score(query, rest).total >= self.score(query, _alone(closest)).total:
            return None
        moved = Query(closest.vector, closest.time, feat.title_terms(closest.title))
        if self.score(moved, _alone(member)).total <= self.score(moved, rest).total:
            return None
        return closest, rest

    def _split(
        self, doc: Doc, member: Member, story: StoryProfile, regroup: tuple[Member, StoryProfile]
    ) -> Decision:
        """Take ``regroup``'s member out of ``story`` into a new story with ``doc``."""
        moved, rest = regroup
        self.state.save_story(rest, _index_terms(rest))
        assert moved.time is not None  # checked by _regroup
        fresh = StoryProfile(0, moved.time, moved.time)
        _fold(fresh, replace(moved, attach=1.0, stored_norm=moved.norm))
        _fold(fresh, replace(member, attach=1.0, stored_norm=member.norm))
        fresh.story_id = self.state.create_story(fresh, _index_terms(fresh))
        self.state.move_article(moved.article_id, story.story_id, fresh.story_id)
        return Decision(doc.article_id, fresh.story_id, None, 1.0, True)

    def candidates(self, vector: dict[int, float], time: datetime) -> list[StoryProfile]:
        """Active stories sharing heavy terms with ``vector``, most promising first."""
        window = timedelta(hours=self.params.window_hours)
        query = _lookup_terms(vector, QUERY_TERMS)
        hits = self.state.story_candidates(sorted(query), time - window, time + window)
        shared = {sid: math.fsum(vector[t] for t in terms) for sid, terms in hits.items()}
        ranked = sorted(shared, key=lambda sid: (-shared[sid], sid))[:MAX_CANDIDATES]
        # A story sharing a small fraction of what the best candidate shares with the
        # article does not win; scoring it costs as much as scoring the best.
        floor = CANDIDATE_SHARE * shared[ranked[0]] if ranked else 0.0
        chosen = [sid for sid in ranked if shared[sid] >= floor]
        profiles = self.state.load_stories(sorted(chosen))
        return [profiles[sid] for sid in chosen if sid in profiles]

    def _best_story(self, query: Query) -> tuple[StoryProfile, Score] | None:
        best: tuple[StoryProfile, Score] | None = None
        for story in self.candidates(query.vector, query.time):
            score = self.score(query, story)
            if score.total < self.params.join_threshold:
                continue
            if best is None or score.total > best[1].total:
                best = (story, score)
        return best


def _editable(story: StoryProfile) -> StoryProfile:
    # A copy whose containers may be changed: states may hand out their stored objects.
    return replace(story, members=list(story.members), sources=list(story.sources))


def _touch(story: StoryProfile, time: datetime, sources: list[str]) -> None:
    story.first_seen = min(story.first_seen, time)
    story.last_seen = max(story.last_seen, time)
    for source in sources:
        if source not in story.sources and len(story.sources) < MAX_SOURCES:
            story.sources.append(source)


def _with_copy(member: Member, source: str | None) -> Member:
    """``member`` with one more copy (a near-duplicate of it) counted."""
    sources = member.sources
    if sources is not None and source and source not in sources and len(sources) < MAX_SOURCES:
        sources = [*sources, source]
    return replace(member, copies=member.copies + 1, sources=sources, stored_norm=member.norm)


def _fold(story: StoryProfile, member: Member) -> None:
    """Add an original article (and the copies counted on it) to a story: centroid,
    members, headline, counts."""
    centroid = dict(story.centroid)
    for term, weight in member.vector.items():
        centroid[term] = centroid.get(term, 0.0) + weight
    story.centroid = _top(centroid, CENTROID_TERMS)
    story._derived = None
    story.folded += 1
    story.article_count += 1 + member.copies
    if member.time is not None:
        _touch(story, member.time, member.sources or [])
    members = [*story.members, member]
    c_norm = story.derived()[0]
    fit = {m.article_id: feat.cosine(m.vector, story.centroid, m.norm, c_norm) for m in members}
    if len(members) > MAX_MEMBERS:
        # Keep the members that represent the story best (the newest always stays: it
        # is the reason the story grows).
        keep = sorted(members[:-1], key=lambda m: (-fit[m.article_id], m.article_id))
        kept_ids = {m.article_id for m in keep[: MAX_MEMBERS - 1]}
        members = [m for m in members[:-1] if m.article_id in kept_ids] + [members[-1]]
    story.members = members
    _choose_headline(story, fit)


def _choose_headline(story: StoryProfile, fit: dict[int, float]) -> None:
    # Headline: the most representative article (closest to the centroid).
    head = max(story.members, key=lambda m: (fit[m.article_id], -m.article_id))
    story.headline, story.headline_article_id = head.title, head.article_id


def _alone(member: Member) -> StoryProfile:
    """A story of one member, as it would be scored (not stored)."""
    time = member.time or UNKNOWN_TIME
    return StoryProfile(0, time, time, centroid=dict(member.vector), members=[member], folded=1)


def _without(story: StoryProfile, leaving: Member) -> StoryProfile:
    """``story`` without one of its members (all of them kept: see Clusterer._regroup):
    centroid rebuilt from the others, counts and sources recomputed; first_seen and
    last_seen stay (the story was active then)."""
    rest = _editable(story)
    rest.members = [m for m in story.members if m is not leaving]
    centroid: dict[int, float] = {}
    for m in rest.members:
        for term, weight in m.vector.items():
            centroid[term] = centroid.get(term, 0.0) + weight
    rest.centroid = _top(centroid, CENTROID_TERMS)
    rest._derived = None
    rest.folded -= 1
    rest.article_count -= 1 + leaving.copies
    kept = {source for m in rest.members for source in m.sources or ()}
    rest.sources = [source for source in story.sources if source in kept]
    c_norm = rest.derived()[0]
    _choose_headline(
        rest,
        {m.article_id: feat.cosine(m.vector, rest.centroid, m.norm, c_norm) for m in rest.members},
    )
    return rest


def with_window(params: ClusterParams, hours: float) -> ClusterParams:
    """``params`` with another story window (from :class:`ingest.config.Settings`)."""
    if not math.isfinite(hours) or hours <= 0:
        raise ValueError(f"story window must be a positive number of hours, got {hours}")
    return replace(params, window_hours=hours)
