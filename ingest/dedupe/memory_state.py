"""In-memory :class:`~ingest.dedupe.clusterer.ClusterState` for the CLI and benchmarks.

Same semantics as the SQL state in :mod:`ingest.store.cluster_state`. The story index is
bucketed by day of the story's last_seen, so a candidate lookup only visits stories of
the days inside the window: its cost follows the active set, not the history.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import datetime

from ingest.dedupe import minhash
from ingest.dedupe.clusterer import Decision, Doc, StoryProfile, latest_per_term
from ingest.dedupe.features import DOC_COUNT_TERM

_DAY_SECONDS = 86_400


def _day(time: datetime) -> int:
    return int(time.timestamp() // _DAY_SECONDS)


class InMemoryClusterState:
    """Dictionaries standing in for the tables the pipeline uses."""

    def __init__(self) -> None:
        self.decisions: dict[int, Decision] = {}
        # One dict per band: bucket -> article id, or a list of ids once shared (most
        # buckets hold one article; a bare int costs a fraction of a list).
        self.bands: list[dict[int, int | list[int]]] = [{} for _ in range(minhash.BANDS)]
        self.sigs: dict[int, minhash.Signature] = {}
        self.df: dict[int, int] = {}
        self.stories: dict[int, StoryProfile] = {}
        # term -> day of story last_seen -> story ids; and what each story has in it.
        self.index: defaultdict[int, defaultdict[int, set[int]]] = defaultdict(
            lambda: defaultdict(set)
        )
        self.index_keys: dict[int, tuple[int, list[int]]] = {}
        self.copies: defaultdict[int, list[int]] = defaultdict(list)  # original -> copies
        self.next_story_id = 1

    def assignment(self, article_id: int) -> Decision | None:
        return self.decisions.get(article_id)

    def lsh_candidates(self, buckets: list[tuple[int, int]]) -> list[int]:
        found: set[int] = set()
        for band, bucket in buckets:
            hit = self.bands[band].get(bucket)
            if isinstance(hit, int):
                found.add(hit)
            elif hit:
                found.update(hit)
        return sorted(found)

    def signatures(self, article_ids: list[int]) -> dict[int, minhash.Signature]:
        return {a: self.sigs[a] for a in article_ids if a in self.sigs}

    def story_of(self, article_ids: list[int]) -> dict[int, int]:
        return {a: self.decisions[a].story_id for a in article_ids if a in self.decisions}

    def doc_count(self) -> int:
        return self.df.get(DOC_COUNT_TERM, 0)

    def document_frequencies(self, terms: list[int]) -> dict[int, int]:
        return {t: self.df[t] for t in terms if t in self.df}

    def add_document(self, terms: list[int]) -> None:
        for term in {*terms, DOC_COUNT_TERM}:
            self.df[term] = self.df.get(term, 0) + 1

    def story_candidates(
        self, terms: list[int], since: datetime, until: datetime
    ) -> dict[int, list[int]]:
        first, last = _day(since), _day(until)
        hits: dict[int, list[int]] = {}
        for term in sorted(terms):
            days = self.index.get(term)
            if not days:
                continue
            sharing = []
            for day in range(first, last + 1):
                for sid in days.get(day, ()):
                    story = self.stories[sid]
                    if story.last_seen >= since:
                        sharing.append((sid, story.last_seen, story.first_seen <= until))
            for sid in latest_per_term(sharing):
                hits.setdefault(sid, []).append(term)
        return hits

    def load_stories(self, story_ids: list[int]) -> dict[int, StoryProfile]:
        # The clusterer never mutates a loaded profile in place (it saves a copy), so
        # handing out the stored objects is safe and cheap.
        return {s: self.stories[s] for s in story_ids if s in self.stories}

    def _reindex(self, story: StoryProfile, terms: list[int]) -> None:
        old = self.index_keys.get(story.story_id)
        if old is not None:
            day, old_terms = old
            for term in old_terms:
                self.index[term][day].discard(story.story_id)
        day = _day(story.last_seen)
        for term in terms:
            self.index[term][day].add(story.story_id)
        self.index_keys[story.story_id] = (day, list(terms))

    def create_story(self, profile: StoryProfile, index_terms: list[int]) -> int:
        story_id = self.next_story_id
        self.next_story_id += 1
        stored = dataclasses.replace(profile, story_id=story_id)
        self.stories[story_id] = stored
        self._reindex(stored, index_terms)
        return story_id

    def save_story(self, profile: StoryProfile, index_terms: list[int]) -> None:
        self.stories[profile.story_id] = profile
        self._reindex(profile, index_terms)

    def record(
        self,
        doc: Doc,
        decision: Decision,
        signature: minhash.Signature,
        buckets: list[tuple[int, int]] | None,
    ) -> None:
        self.decisions[doc.article_id] = decision
        if decision.duplicate_of is not None:
            self.copies[decision.duplicate_of].append(doc.article_id)
        if buckets is not None:
            self.sigs[doc.article_id] = signature
            self.index_buckets(doc.article_id, buckets)

    def move_article(self, article_id: int, from_story: int, to_story: int) -> None:
        for moved in (article_id, *self.copies.get(article_id, ())):
            decision = self.decisions[moved]
            if decision.story_id == from_story:
                self.decisions[moved] = dataclasses.replace(decision, story_id=to_story)

    def index_buckets(self, article_id: int, buckets: list[tuple[int, int]]) -> None:
        """Add an article under its (band, bucket) pairs."""
        for band, bucket in buckets:
            table = self.bands[band]
            hit = table.get(bucket)
            if hit is None:
                table[bucket] = article_id
            elif isinstance(hit, int):
                table[bucket] = [hit, article_id]
            else:
                hit.append(article_id)
