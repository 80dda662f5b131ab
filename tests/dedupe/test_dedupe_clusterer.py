"""The clusterer on the in-memory state: stories, duplicates, idempotence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.dedupe import Clusterer, ClusterParams, Doc, InMemoryClusterState
from ingest.dedupe.stream import cluster_records

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


def _run(records: list[dict]) -> tuple[dict[str, str], dict[str, str | None]]:
    stories, dups = {}, {}
    for out in cluster_records(records):
        stories[out["id"]] = out["story"]
        dups[out["id"]] = out["duplicate_of"]
    return stories, dups


def test_events_become_stories_and_copies_duplicates(basil_stream) -> None:
    stream = basil_stream(8)
    stories, dups = _run(stream)
    gold = {d["id"]: d["cluster"] for d in stream}
    # Quality (not exactness: real reports): nearly all same-event pairs together, no
    # pair of different events together.
    ids = list(gold)
    pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]]
    same_gold = [(a, b) for a, b in pairs if gold[a] == gold[b]]
    together = [(a, b) for a, b in pairs if stories[a] == stories[b]]
    assert all(gold[a] == gold[b] for a, b in together)
    assert sum(stories[a] == stories[b] for a, b in same_gold) / len(same_gold) >= 0.8
    for doc in stream:
        if doc["id"].endswith(("_copy", "_wire")):
            original = doc["id"].rsplit("_", 1)[0]
            assert dups[doc["id"]] == original
            assert stories[doc["id"]] == stories[original]
        else:
            assert dups[doc["id"]] is None


def test_same_stream_twice_gives_same_output(basil_stream) -> None:
    stream = basil_stream(5)
    assert list(cluster_records(stream)) == list(cluster_records(stream))


def test_progress_is_reported_after_each_record(basil_stream) -> None:
    stream = basil_stream(2)
    done: list[int] = []
    out = list(cluster_records(stream, on_record=done.append))
    assert done == list(range(1, len(stream) + 1))
    assert [o["id"] for o in out] == [r["id"] for r in stream]


def test_repeated_article_gets_its_first_decision(basil_stream) -> None:
    stream = basil_stream(3)
    first = list(cluster_records(stream))
    again = list(cluster_records(stream + stream[:4]))
    assert again[: len(first)] == first
    assert again[len(first) :] == first[:4]


def test_duplicate_points_to_earliest_copy() -> None:
    text = " ".join(f"Alpha Beta report {i} on the Gamma accord in Delta." for i in range(30))
    state = InMemoryClusterState()
    clusterer = Clusterer(state)
    a = clusterer.process(Doc(1, "Gamma accord", text, T0, "a"))
    b = clusterer.process(Doc(2, "Gamma accord", text + " Updated.", T0, "b"))
    c = clusterer.process(Doc(3, "Gamma accord", "(Reuters) " + text, T0, "c"))
    assert a.duplicate_of is None
    assert b.duplicate_of == 1 and c.duplicate_of == 1
    assert a.story_id == b.story_id == c.story_id
    story = state.stories[a.story_id]
    assert story.article_count == 3 and story.source_count == 3


def test_story_window_limits_joining() -> None:
    first = (
        "Officials in Kestrel Bay said the Harlow Bridge would close for repairs in 2031, "
        "after engineers from Vantor found cracks in its main span."
    )
    second = (
        "Engineers from Vantor found cracks in the main span of the Harlow Bridge, and "
        "Kestrel Bay officials will close it in 2031 for repairs, the council said."
    )

    def run(gap: timedelta) -> tuple[int, int]:
        clusterer = Clusterer(InMemoryClusterState(), ClusterParams(window_hours=24))
        a = clusterer.process(Doc(1, "Harlow Bridge to close for repairs", first, T0, "a"))
        b = clusterer.process(Doc(2, "Kestrel Bay to shut Harlow Bridge", second, T0 + gap, "b"))
        assert a.duplicate_of is None and b.duplicate_of is None
        return a.story_id, b.story_id

    same_a, same_b = run(timedelta(hours=6))
    assert same_a == same_b
    far_a, far_b = run(timedelta(days=5))
    assert far_a != far_b


def test_headline_and_counts_are_kept(basil_stream) -> None:
    stream = basil_stream(2)
    state = InMemoryClusterState()
    list(cluster_records(stream, state=state))
    for story in state.stories.values():
        assert story.headline
        assert story.article_count >= 3
        assert story.first_seen <= story.last_seen


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(max_size=80), st.text(max_size=400), st.integers(0, 200)),
        min_size=1,
        max_size=6,
    )
)
def test_any_input_gets_a_decision(items: list[tuple[str, str, int]]) -> None:
    clusterer = Clusterer(InMemoryClusterState())
    for number, (title, text, hours) in enumerate(items, start=1):
        decision = clusterer.process(Doc(number, title, text, T0 + timedelta(hours=hours)))
        assert decision.duplicate_of is None or decision.duplicate_of < number
        assert decision.story_id >= 1


def test_date_field_is_read_when_published_is_absent() -> None:
    first = (
        "Officials in Kestrel Bay said the Harlow Bridge would close for repairs in 2031, "
        "after engineers from Vantor found cracks in its main span."
    )
    second = (
        "Engineers from Vantor found cracks in the main span of the Harlow Bridge, and "
        "Kestrel Bay officials will close it in 2031 for repairs, the council said."
    )
    near = [
        {"id": "a", "title": "Harlow Bridge to close", "text": first, "date": "2024-03-01"},
        {"id": "b", "title": "Kestrel Bay shuts bridge", "text": second, "date": "2024-03-01"},
    ]
    far = [near[0], {**near[1], "date": "2024-05-01"}]
    out_near = list(cluster_records(near))
    out_far = list(cluster_records(far))
    assert out_near[0]["story"] == out_near[1]["story"]
    assert out_far[0]["story"] != out_far[1]["story"]
