"""Story profiles are reused across batches only while the stored story is unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from ingest.dedupe.clusterer import StoryProfile
from ingest.store.cluster_state import SqlClusterState
from ingest.store.db import transaction
from ingest.store.models import Story

T0 = datetime(2025, 9, 25, 12, tzinfo=UTC)


def _new_story(db_url: str, centroid: dict[int, float]) -> int:
    with transaction(db_url) as session:
        state = SqlClusterState(session)
        profile = StoryProfile(0, T0, T0, centroid=centroid, folded=1, article_count=1)
        story_id = state.create_story(profile, sorted(centroid))
        state.flush()
    return story_id


def _load(db_url: str, story_id: int) -> StoryProfile:
    with transaction(db_url) as session:
        return SqlClusterState(session).load_stories([story_id])[story_id]


def test_a_story_nobody_changed_is_not_decoded_again(db_url: str) -> None:
    story_id = _new_story(db_url, {1: 0.5, 2: 0.5})
    first = _load(db_url, story_id)
    assert _load(db_url, story_id) is first  # the same object: no JSON decoded
    assert first.centroid == {1: 0.5, 2: 0.5}


def test_a_story_another_worker_changed_is_read_again(db_url: str) -> None:
    story_id = _new_story(db_url, {1: 0.5, 2: 0.5})
    _load(db_url, story_id)
    # Another worker's write: a new profile, stamped with its own updated_at.
    with transaction(db_url) as session:
        session.execute(
            update(Story)
            .where(Story.id == story_id)
            .values(
                profile={"v": 1, "c": [[3, 1.0]], "m": [], "n": 2, "s": []},
                article_count=2,
                updated_at=datetime.now(UTC),
            )
        )
    again = _load(db_url, story_id)
    assert again.centroid == {3: 1.0}
    assert again.article_count == 2


def test_a_rolled_back_write_is_not_taken_for_the_stored_story(db_url: str) -> None:
    story_id = _new_story(db_url, {1: 0.5, 2: 0.5})
    stored = _load(db_url, story_id)
    try:
        with transaction(db_url) as session:
            state = SqlClusterState(session)
            changed = StoryProfile(story_id, T0, T0, centroid={9: 1.0}, folded=2, article_count=2)
            state.save_story(changed, [9])
            state.flush()
            raise RuntimeError("the batch fails after its flush")
    except RuntimeError:
        pass
    after = _load(db_url, story_id)
    assert after.centroid == stored.centroid == {1: 0.5, 2: 0.5}
