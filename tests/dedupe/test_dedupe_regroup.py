"""A later article takes a weakly joined member out of its story (Clusterer._regroup):
the same final stories in memory, on SQLite and on PostgreSQL, with the member's copies
moved along and the counts, sources and topic tags of both stories kept right."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from ingest.dedupe import InMemoryClusterState
from ingest.dedupe.clusterer import REGROUP_ATTACH, StoryProfile
from ingest.dedupe.stream import cluster_records
from ingest.pipeline.cluster import cluster_all_pending, cluster_pending
from ingest.pipeline.tag import tag_pending
from ingest.store.db import transaction
from ingest.store.models import Article, Story, StoryArticle, StoryTopic, Topic
from tests.dedupe.test_dedupe_pipeline import _check_consistent, _insert, _memory, _results

SHORT_ACTORS = Path(__file__).parents[2] / "bench" / "data" / "clustering" / "short_actors.jsonl"
# In this stream (bench/data/clustering/short_actors.jsonl, BASIL events grouped by the
# people they share), record 155 ("Facing Congress, Clinton Defends Her Actions Before and
# After Libya Attack") is the first report of a Clinton hearing; it joins the story of
# another Clinton event (records 149-151, the Benghazi panel asking for an interview)
# weakly. Record 160, a second report of the hearing, fits only through it.
OTHER_EVENT = ("149", "150", "151")
MOVED, LATER = "155", "160"


def _stream() -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in SHORT_ACTORS.read_text(encoding="utf-8").splitlines()]
    out: list[dict[str, Any]] = []
    for number, row in enumerate(rows[:160], start=1):
        record = {
            "id": str(number),
            "title": row["title"],
            "text": row["text"],
            "source": row["source"],
            "published": row["published"],
        }
        out.append(record)
        if record["id"] == MOVED:  # a syndicated copy: it must move with its original
            out.append({**record, "id": f"{MOVED}_copy", "source": "mirror"})
    return out


def _group_of(groups: set[frozenset[str]], name: str) -> frozenset[str]:
    return next(g for g in groups if name in g)


def test_a_weak_member_leaves_with_the_article_that_fits_it() -> None:
    moves: list[tuple[int, int, int]] = []

    class Watched(InMemoryClusterState):
        def move_article(self, article_id: int, from_story: int, to_story: int) -> None:
            moves.append((article_id, from_story, to_story))
            super().move_article(article_id, from_story, to_story)

    stream = _stream()
    numbers = {r["id"]: n for n, r in enumerate(stream, start=1)}
    state = Watched()
    out = {o["id"]: o for o in cluster_records(stream, state=state)}
    assert moves[-1][0] == numbers[MOVED]  # (and earlier ones, elsewhere in the stream)
    # The hearing's reports (and the copy) form one story; the other event keeps its own.
    assert out[MOVED]["story"] == out[LATER]["story"] == out[f"{MOVED}_copy"]["story"]
    assert out[f"{MOVED}_copy"]["duplicate_of"] == MOVED
    assert len({out[n]["story"] for n in OTHER_EVENT}) == 1
    assert out[OTHER_EVENT[0]]["story"] != out[MOVED]["story"]
    # Both stories' counts, members and sources are those of the articles in them.
    left, fresh = (state.stories[m] for m in moves[-1][1:])
    by_id = {r["id"]: r for r in stream}
    for story in (left, fresh):
        names = [n for n, o in out.items() if o["story"] == f"s{story.story_id}"]
        originals = [n for n in names if out[n]["duplicate_of"] is None]
        assert story.article_count == len(names)
        assert story.folded == len(originals)
        assert {m.article_id for m in story.members} == {numbers[n] for n in originals}
        assert set(story.sources) == {by_id[n]["source"] for n in names}
    assert fresh.article_count == 3 and fresh.folded == 2


def test_clustering_the_stream_again_gives_the_same_stories() -> None:
    stream = _stream()
    assert list(cluster_records(stream)) == list(cluster_records(stream))


def test_a_member_that_joined_strongly_stays() -> None:
    """The same stream, with every member's join score raised to REGROUP_ATTACH: no
    member moves, and the hearing's first report stays where it joined."""
    moves: list[int] = []

    class Strong(InMemoryClusterState):
        def load_stories(self, story_ids: list[int]) -> dict[int, StoryProfile]:
            return {
                sid: replace(
                    story,
                    members=[
                        replace(m, attach=max(m.attach, REGROUP_ATTACH), stored_norm=m.norm)
                        for m in story.members
                    ],
                )
                for sid, story in super().load_stories(story_ids).items()
            }

        def move_article(self, article_id: int, from_story: int, to_story: int) -> None:
            moves.append(article_id)
            super().move_article(article_id, from_story, to_story)

    out = {o["id"]: o["story"] for o in cluster_records(_stream(), state=Strong())}
    assert moves == []
    assert out[MOVED] == out[OTHER_EVENT[0]]


def test_a_story_s_first_article_joined_with_score_one() -> None:
    state = InMemoryClusterState()
    list(cluster_records(_stream(), state=state))
    for story in state.stories.values():
        assert story.members[0].attach == 1.0
        assert all(0.0 < m.attach <= 1.0 for m in story.members)


@pytest.mark.parametrize("batch", [1, 7, 500])
def test_the_sql_state_moves_the_same_articles(db_url: str, batch: int) -> None:
    stream = _stream()
    ids = _insert(db_url, stream)
    cluster_all_pending(db_url, batch=batch)
    assert _results(db_url, ids) == _memory(stream)
    _check_consistent(db_url)
    with transaction(db_url) as session:
        sources = {
            sid: len(names)
            for sid, names in _sources_per_story(
                session.execute(select(Article.story_id, Article.source)).all()
            ).items()
        }
        counts = dict(session.execute(select(Story.id, Story.source_count)).all())
        moved = session.get(Article, ids[MOVED])
        copy = session.get(Article, ids[f"{MOVED}_copy"])
        assert moved is not None and copy is not None
        assert copy.story_id == moved.story_id
        member = session.get(StoryArticle, ids[MOVED])
        assert member is not None and member.story_id == moved.story_id
    assert sources == {sid: counts[sid] for sid in sources}
    # Nothing left to do, and running again changes nothing.
    assert cluster_pending(db_url, limit=50).articles == 0
    assert _results(db_url, ids) == _memory(stream)


def _sources_per_story(rows: list[Any]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for story_id, source in rows:
        out.setdefault(story_id, set()).add(source)
    return out


def _tagged_before_the_move(
    db_url: str, topic: str, query: str
) -> tuple[list[dict[str, Any]], int, dict[str, int]]:
    """One topic, and the stream up to (not including) the report that moves MOVED,
    clustered and tagged: (stream, where the rest starts, article ids)."""
    stream = _stream()
    split_at = next(n for n, r in enumerate(stream) if r["id"] == LATER)
    with transaction(db_url) as session:
        session.add(Topic(name=topic, query=query))
    ids = _insert(db_url, stream[:split_at])
    cluster_all_pending(db_url, batch=50)
    tag_pending(db_url)
    return stream, split_at, ids


def test_a_moved_article_is_tagged_again_for_its_new_story(db_url: str) -> None:
    """Tagged while in the other story, the moved article and its copy are tagged again;
    the old story loses the topic match the moved article explained."""
    stream, split_at, ids = _tagged_before_the_move(db_url, "hearing", '"defends her actions"')
    with transaction(db_url) as session:
        before = session.get(Article, ids[MOVED])
        assert before is not None and before.tag_status == "done"
        old_story = before.story_id
        explained = session.scalars(select(StoryTopic.article_id)).all()
    assert explained == [ids[MOVED]]  # only the moved article matches the topic
    ids.update(_insert(db_url, stream[split_at:]))
    cluster_all_pending(db_url, batch=50)
    with transaction(db_url) as session:
        statuses = Counter(
            session.scalars(
                select(Article.tag_status).where(Article.id.in_([ids[MOVED], ids[f"{MOVED}_copy"]]))
            )
        )
        assert statuses == Counter({"pending": 2})
        assert session.scalars(select(StoryTopic.story_id)).all() == []
    tag_pending(db_url)
    with transaction(db_url) as session:
        moved = session.get(Article, ids[MOVED])
        assert moved is not None and moved.story_id != old_story
        rows = session.execute(select(StoryTopic.story_id, StoryTopic.article_id)).all()
    assert [tuple(r) for r in rows] == [(moved.story_id, ids[MOVED])]


def test_a_withdrawn_match_comes_back_if_another_article_still_matches(db_url: str) -> None:
    """The old story's match on a topic that the moved article explained is withdrawn,
    and explained again by the story's own articles that still match it."""
    stream, split_at, ids = _tagged_before_the_move(db_url, "clinton", "clinton")
    with transaction(db_url) as session:
        moved = session.get(Article, ids[MOVED])
        assert moved is not None
        old_story = moved.story_id
        # As if the moved article had been tagged first and so explained the match.
        session.execute(
            update(StoryTopic).where(StoryTopic.story_id == old_story).values(article_id=ids[MOVED])
        )
    ids.update(_insert(db_url, stream[split_at:]))
    cluster_all_pending(db_url, batch=50)
    tag_pending(db_url)
    with transaction(db_url) as session:
        explained = dict(
            session.execute(
                select(StoryTopic.story_id, StoryTopic.article_id).where(
                    StoryTopic.story_id == old_story
                )
            ).all()
        )
        new_story = session.get(Article, ids[MOVED])
        assert new_story is not None and new_story.story_id != old_story
        new_match = session.scalar(
            select(StoryTopic.article_id).where(StoryTopic.story_id == new_story.story_id)
        )
    assert explained == {old_story: ids[OTHER_EVENT[0]]}
    assert new_match == ids[MOVED]
