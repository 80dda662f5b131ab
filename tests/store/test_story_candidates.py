"""Story candidates per term: the latest stories only, the same in the store and in memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.dedupe.clusterer import CANDIDATES_PER_TERM, StoryProfile
from ingest.dedupe.memory_state import InMemoryClusterState
from ingest.store.cluster_state import SqlClusterState
from ingest.store.db import transaction

T0 = datetime(2025, 9, 25, 0, tzinfo=UTC)
COMMON, RARE = 101, 202
COUNT = CANDIDATES_PER_TERM + 20


def _story(minute: int) -> StoryProfile:
    seen = T0 + timedelta(minutes=minute)
    return StoryProfile(0, seen, seen, centroid={COMMON: 1.0}, folded=1, article_count=1)


def test_a_common_term_yields_only_its_latest_stories(db_url: str) -> None:
    memory = InMemoryClusterState()
    with transaction(db_url) as session:
        state = SqlClusterState(session)
        for minute in range(COUNT):
            # The oldest story also has a rare term: it is still found through that one.
            terms = [COMMON, RARE] if minute == 0 else [COMMON]
            assert state.create_story(_story(minute), terms) > 0
            memory.create_story(_story(minute), terms)
        state.flush()
    since, until = T0 - timedelta(hours=72), T0 + timedelta(hours=72)
    with transaction(db_url) as session:
        stored = SqlClusterState(session).story_candidates([COMMON, RARE], since, until)
    in_memory = memory.story_candidates([COMMON, RARE], since, until)
    common = sorted(sid for sid, terms in stored.items() if COMMON in terms)
    assert len(common) == CANDIDATES_PER_TERM
    assert min(common) == COUNT - CANDIDATES_PER_TERM + 1  # ids follow creation time
    oldest = min(stored)
    assert stored[oldest] == [RARE]
    assert sorted(stored.items()) == sorted(in_memory.items())


def test_stories_changed_in_the_batch_compete_with_stored_ones(db_url: str) -> None:
    with transaction(db_url) as session:
        state = SqlClusterState(session)
        ids = [state.create_story(_story(minute), [COMMON]) for minute in range(COUNT)]
        state.flush()
    since, until = T0 - timedelta(hours=72), T0 + timedelta(hours=72)
    with transaction(db_url) as session:
        state = SqlClusterState(session)
        # The oldest story gets a new article now: it becomes the latest of all.
        revived = StoryProfile(
            ids[0], T0, T0 + timedelta(hours=5), centroid={COMMON: 1.0}, folded=2, article_count=2
        )
        state.save_story(revived, [COMMON])
        found = state.story_candidates([COMMON], since, until)
    assert ids[0] in found
    assert len(found) == CANDIDATES_PER_TERM
    assert ids[COUNT - CANDIDATES_PER_TERM] not in found  # pushed out by the revived one
