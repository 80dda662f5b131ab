"""Online dedupe + story clustering, written against a small state protocol.

:class:`Clusterer` decides, for one incoming article at a time, whether it is a
near-duplicate of an earlier article (MinHash/LSH) and which story it belongs to (joins
the best matching active story or starts one). Everything it needs from the past goes
through :class:`ClusterState`; :class:`~ingest.dedupe.memory_state.InMemoryClusterState`
serves the CLI and benchmarks, :mod:`ingest.store.cluster_state` serves the pipeline.
Both run this same code, so the same stream gives the same stories.

Story similarity is a logistic model over the cosine to the story centroid (keeps a story
on topic), the best cosine to a single member (catches a report close to one member), the
cosine over names and numbers only (two earthquakes share words, not places) and the time
distance to the story.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from ingest.dedupe import features as feat
from ingest.dedupe import minhash

INDEX_TERMS = 40  # story terms in the inverted index
QUERY_TERMS = 30  # article terms used to look up candidate stories
MAX_CANDIDATES = 12
CENTROID_TERMS = 300
MEMBER_TERMS = 60
MAX_MEMBERS = 12
MAX_SOURCES = 1000
MAX_TEXT_CHARS = 200_000


@dataclass(frozen=True)
class ClusterParams:
    """Tunable knobs (defaults picked on the union of the bench/data/clustering sets)."""

    window_hours: float = 72.0
    duplicate_jaccard: float = 0.6
    duplicate_specific: float = 0.7  # containment of names and numbers (see minhash)
    join_threshold: float = 0.45
    # Logistic model of "same event" over (centroid cosine, best single-link cosine,
    # names/numbers cosine, time distance / window, centroid x names interaction),
    # fitted on the union of the bench/data/clustering sets
    # (`python bench/cluster_quality.py --fit`); the threshold from `--tune`.
    bias: float = -2.076
    w_centroid: float = 5.313
    w_single_link: float = 3.476
    w_specific: float = 3.71
    w_time: float = -2.814
    w_centroid_specific: float = 1.791


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
    norm: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.norm = feat.norm(self.vector)


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
    _derived: tuple[float, dict[int, float], float] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def derived(self) -> tuple[float, dict[int, float], float]:
        """(centroid norm, names/numbers part of the centroid, its norm)."""
        if self._derived is None:
            specific = _specific(self.centroid)
            self._derived = (feat.norm(self.centroid), specific, feat.norm(specific))
        return self._derived

    @property
    def source_count(self) -> int:
        return len(self.sources)

    def to_json(self) -> dict[str, Any]:
        """The JSON-able clustering state (counts and times live in their own columns)."""
        return {
            "v": 1,
            "c": [[t, w] for t, w in self.centroid.items()],
            "m": [
                {"a": m.article_id, "t": m.title, "v": [[t, w] for t, w in m.vector.items()]}
                for m in self.members
            ],
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
        return cls(
            story_id=story_id,
            first_seen=first_seen,
            last_seen=last_seen,
            centroid={int(t): float(w) for t, w in data.get("c", [])},
            members=[
                Member(int(m["a"]), str(m["t"]), {int(t): float(w) for t, w in m["v"]})
                for m in data.get("m", [])
            ],
            folded=int(data.get("n", 0)),
            article_count=article_count,
            sources=[str(s) for s in data.get("s", [])],
            headline=headline,
            headline_article_id=headline_article_id,
        )


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
        first_seen <= until -> the matched terms."""

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


def _top(vector: dict[int, float], n: int) -> dict[int, float]:
    # Sorted by weight then term id: the same order everywhere, so float sums that
    # iterate it are identical in every state implementation.
    return dict(sorted(vector.items(), key=lambda kv: (-kv[1], kv[0]))[:n])


def _specific(vector: dict[int, float]) -> dict[int, float]:
    return {t: w for t, w in vector.items() if feat.term_kind(t) != feat.WORD}


@dataclass(frozen=True)
class Score:
    """Similarity of an article to one story, and its parts (for tuning and tests)."""

    total: float
    centroid: float
    single_link: float
    specific: float
    hours_apart: float


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
    def score(
        self,
        vector: dict[int, float],
        time: datetime,
        story: StoryProfile,
        v_specific: dict[int, float] | None = None,
    ) -> Score:
        """How well an article vector fits a story (0..1)."""
        p = self.params
        c_norm, c_specific, c_specific_norm = story.derived()
        v_norm = feat.norm(vector)
        if v_specific is None:
            v_specific = _specific(vector)
        centroid = feat.cosine(vector, story.centroid, v_norm, c_norm)
        single = max(
            (feat.cosine(vector, m.vector, v_norm, m.norm) for m in story.members), default=0.0
        )
        specific = feat.cosine(v_specific, c_specific, None, c_specific_norm)
        if time < story.first_seen:
            apart = (story.first_seen - time).total_seconds() / 3600.0
        elif time > story.last_seen:
            apart = (time - story.last_seen).total_seconds() / 3600.0
        else:
            apart = 0.0
        z = (
            p.bias
            + p.w_centroid * centroid
            + p.w_single_link * single
            + p.w_specific * specific
            + p.w_time * min(1.0, apart / max(p.window_hours, 1e-9))
            + p.w_centroid_specific * centroid * specific
        )
        total = 1.0 / (1.0 + math.exp(-z))
        return Score(total, centroid, single, specific, apart)

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
        _touch(story, doc)
        index = list(_top(story.centroid, INDEX_TERMS))
        self.state.save_story(story, index)
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
        best = self._best_story(vector, doc.time)
        self.state.add_document(terms)
        member = Member(doc.article_id, doc.title[:500], _top(vector, MEMBER_TERMS))
        if best is None:
            story = StoryProfile(0, doc.time, doc.time)
            _fold(story, member, doc)
            story.story_id = self.state.create_story(story, list(_top(story.centroid, INDEX_TERMS)))
            decision = Decision(doc.article_id, story.story_id, None, 1.0, True)
        else:
            story, score = _editable(best[0]), best[1]
            _fold(story, member, doc)
            self.state.save_story(story, list(_top(story.centroid, INDEX_TERMS)))
            decision = Decision(doc.article_id, story.story_id, None, score.total, False)
        self.state.record(doc, decision, sig, buckets)
        return decision

    def candidates(self, vector: dict[int, float], time: datetime) -> list[StoryProfile]:
        """Active stories sharing heavy terms with ``vector``, most promising first."""
        window = timedelta(hours=self.params.window_hours)
        query = list(_top(vector, QUERY_TERMS))
        hits = self.state.story_candidates(sorted(query), time - window, time + window)
        ranked = sorted(hits, key=lambda sid: (-sum(vector[t] for t in hits[sid]), sid))
        chosen = ranked[:MAX_CANDIDATES]
        profiles = self.state.load_stories(sorted(chosen))
        return [profiles[sid] for sid in chosen if sid in profiles]

    def _best_story(
        self, vector: dict[int, float], time: datetime
    ) -> tuple[StoryProfile, Score] | None:
        best: tuple[StoryProfile, Score] | None = None
        specific = _specific(vector)
        for story in self.candidates(vector, time):
            score = self.score(vector, time, story, specific)
            if score.total < self.params.join_threshold:
                continue
            if best is None or score.total > best[1].total:
                best = (story, score)
        return best


def _editable(story: StoryProfile) -> StoryProfile:
    # A copy whose containers may be changed: states may hand out their stored objects.
    return replace(story, members=list(story.members), sources=list(story.sources))


def _touch(story: StoryProfile, doc: Doc) -> None:
    story.first_seen = min(story.first_seen, doc.time)
    story.last_seen = max(story.last_seen, doc.time)
    if doc.source and doc.source not in story.sources and len(story.sources) < MAX_SOURCES:
        story.sources.append(doc.source)


def _fold(story: StoryProfile, member: Member, doc: Doc) -> None:
    """Add an original article to a story: centroid, members, headline, counts."""
    centroid = dict(story.centroid)
    for term, weight in member.vector.items():
        centroid[term] = centroid.get(term, 0.0) + weight
    story.centroid = _top(centroid, CENTROID_TERMS)
    story._derived = None
    story.folded += 1
    story.article_count += 1
    _touch(story, doc)
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
    # Headline: the most representative article (closest to the centroid).
    head = max(members, key=lambda m: (fit[m.article_id], -m.article_id))
    story.headline, story.headline_article_id = head.title, head.article_id


def with_window(params: ClusterParams, hours: float) -> ClusterParams:
    """``params`` with another story window (from :class:`ingest.config.Settings`)."""
    if not math.isfinite(hours) or hours <= 0:
        raise ValueError(f"story window must be a positive number of hours, got {hours}")
    return replace(params, window_hours=hours)
