"""A story profile survives its JSON form exactly; the older formats are still read."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from ingest.dedupe.clusterer import Member, StoryProfile

T0 = datetime(2025, 9, 25, 12, tzinfo=UTC)
_vectors = st.dictionaries(
    st.integers(min_value=1, max_value=2**63 - 1),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    max_size=30,
)


def _read(data: dict[str, object]) -> StoryProfile:
    return StoryProfile.from_json(
        7,
        data,
        first_seen=T0,
        last_seen=T0,
        article_count=3,
        headline="h",
        headline_article_id=1,
    )


@given(_vectors, st.lists(st.tuples(st.text(max_size=20), _vectors), max_size=4))
def test_the_json_form_round_trips_exactly(
    centroid: dict[int, float], members: list[tuple[str, dict[int, float]]]
) -> None:
    profile = StoryProfile(
        7,
        T0,
        T0,
        centroid=centroid,
        members=[Member(i, title, vector) for i, (title, vector) in enumerate(members)],
        folded=len(members),
        article_count=3,
        sources=["a.example"],
        headline="h",
        headline_article_id=1,
    )
    back = _read(json.loads(json.dumps(profile.to_json())))
    assert back == profile
    assert list(back.centroid) == list(centroid)  # same order: same float sums
    # Each member's norm is stored, and comes back as the very float computed.
    assert [m.norm for m in back.members] == [m.norm for m in profile.members]


_members = st.builds(
    Member,
    st.integers(min_value=1, max_value=2**62),
    st.text(max_size=20),
    _vectors,
    st.floats(min_value=0.0, max_value=1.0),
    st.none() | st.datetimes(timezones=st.just(UTC)),
    st.none() | st.lists(st.text(max_size=10), max_size=3),
    st.integers(min_value=0, max_value=10**6),
)


@given(st.lists(_members, max_size=4))
def test_what_a_member_keeps_for_regrouping_round_trips(members: list[Member]) -> None:
    """Join score, time, sources and copies (Clusterer._regroup) come back as written."""
    profile = StoryProfile(7, T0, T0, members=members, folded=len(members), article_count=3)
    back = _read(json.loads(json.dumps(profile.to_json())))
    assert [(m.attach, m.time, m.sources, m.copies) for m in back.members] == [
        (m.attach, m.time, m.sources, m.copies) for m in members
    ]


def test_format_1_pairs_are_still_read() -> None:
    stored = {
        "v": 1,
        "c": [[11, 0.5], [12, 0.25]],
        "m": [{"a": 3, "t": "A headline", "v": [[11, 1.0]]}],
        "n": 1,
        "s": ["a.example"],
    }
    profile = _read(stored)
    assert profile.centroid == {11: 0.5, 12: 0.25}
    assert profile.members == [Member(3, "A headline", {11: 1.0})]
    assert profile.sources == ["a.example"]


def test_format_3_is_written_and_format_2_lists_are_still_read() -> None:
    profile = StoryProfile(7, T0, T0, centroid={11: 0.5, 12: 0.25}, folded=1, article_count=3)
    assert profile.to_json()["v"] == 3
    stored = {
        "v": 2,
        "c": [[11, 12], [0.5, 0.25]],
        "m": [{"a": 3, "t": "A headline", "k": [11], "w": [1.0]}],
        "n": 1,
        "s": ["a.example"],
    }
    back = _read(stored)
    assert back.centroid == {11: 0.5, 12: 0.25}
    assert back.members == [Member(3, "A headline", {11: 1.0})]


def test_a_format_3_member_stored_without_its_norm_gets_it_computed() -> None:
    written = StoryProfile(
        7, T0, T0, members=[Member(3, "A headline", {11: 3.0, 12: 4.0})], article_count=1
    ).to_json()
    assert written["m"][0]["q"] == 5.0
    del written["m"][0]["q"]  # as stored before norms were kept
    assert _read(written).members[0].norm == 5.0
