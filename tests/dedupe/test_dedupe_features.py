"""Article features: acronyms, headline names, weekdays, the story-score parts."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.dedupe import Clusterer, Doc, InMemoryClusterState, features
from ingest.dedupe.clusterer import SCORE_FEATURES, UNKNOWN_TIME, ClusterParams, Query
from ingest.dedupe.stream import EPOCH, cluster_records

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


def _terms(title: str, text: str) -> set[int]:
    return set(features.extract_features(title, text).counts)


def test_dotted_acronyms_meet_their_plain_spelling() -> None:
    text = "Leaders of the {} met with several {} officials in the state capital on the law."
    dotted = _terms("", text.format("N.A.A.C.P.", "G.O.P."))
    plain = _terms("", text.format("NAACP", "GOP"))
    for kind, name in ((features.ENTITY, "naacp"), (features.WORD, "gop")):
        term = features.term_id(kind, name)
        assert term in dotted and term in plain


def test_headline_names_count_when_the_text_uses_them_as_names() -> None:
    text = "Critics said that remarks made by Michael Steele about the long war were wrong."
    counts = features.extract_features("Steele Faces Pressure Over Remarks", text).counts
    steele = features.term_id(features.ENTITY, "steele")
    # Title weight on top of the body's mention; "Pressure" is no name.
    assert counts[steele] == features.LEAD_WEIGHT + features.TITLE_WEIGHT
    assert features.term_id(features.ENTITY, "pressure") not in counts


def test_weekdays_of_headline_and_lead_are_terms_of_their_own_kind() -> None:
    counts = features.extract_features("Vote set", "The Senate votes on Friday.").counts
    friday = features.term_id(features.WHEN, "friday")
    assert friday in counts and features.term_kind(friday) == features.WHEN
    assert features.term_id(features.WORD, "friday") not in counts  # still a stop word


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200), st.text(max_size=600))
def test_any_text_gives_terms_of_known_kinds(title: str, text: str) -> None:
    counts = features.extract_features(title, text).counts
    assert all(features.term_kind(t) in (0, 1, 2, 3) and w > 0 for t, w in counts.items())
    assert all(features.term_kind(t) != features.WHEN for t in features.title_terms(title))


def test_score_parts_line_up_with_the_weights() -> None:
    params = ClusterParams()
    assert len(params.weights) == len(SCORE_FEATURES)
    clusterer = Clusterer(InMemoryClusterState(), params)
    text = "Kestrel Bay officials on Monday closed the Harlow Bridge after engineers found cracks."
    first = clusterer.process(Doc(1, "Harlow Bridge closed", text, T0, "a"))
    story = clusterer.state.load_stories([first.story_id])[first.story_id]
    vector = dict(story.members[0].vector)
    later = clusterer.score(Query(vector, T0 + timedelta(hours=36)), story)
    assert later.time == 0.5 and later.time_unknown == 0.0
    assert later.weekday_named == 1.0 and later.weekday_agree > 0.99
    undated = clusterer.score(Query(vector, UNKNOWN_TIME), story)
    assert undated.time == 0.0 and undated.time_unknown == 1.0
    assert undated.total < clusterer.score(Query(vector, T0), story).total
    for score in (later, undated):
        z = params.bias + sum(w * x for w, x in zip(params.weights, score.features(), strict=True))
        assert math.isclose(score.total, 1 / (1 + math.exp(-z)), rel_tol=1e-9)


def test_the_stream_clock_starts_at_the_unknown_time() -> None:
    assert EPOCH == UNKNOWN_TIME


def test_undated_stream_keeps_apart_events_of_one_kind_on_other_days() -> None:
    """Two bridge closures, other places and weekdays, no dates. The first report of the
    second may join the first's story (a weak join: the threshold is low because a weak
    join can be undone); the second's next report shows it and takes it out."""

    def report(place: str, bridge: str, day: str, firm: str) -> str:
        return (
            f"Officials in {place} said on {day} the {bridge} would close for repairs, "
            f"after engineers from {firm} found cracks in its main span."
        )

    records = [
        {
            "id": "a1",
            "title": "Harlow Bridge to close",
            "text": report("Kestrel Bay", "Harlow Bridge", "Monday", "Vantor"),
            "cluster": "a",
        },
        {
            "id": "b1",
            "title": "Ostry Bridge to close",
            "text": report("Port Amsel", "Ostry Bridge", "Thursday", "Kelm"),
            "cluster": "b",
        },
        {
            "id": "a2",
            "title": "Harlow Bridge shut",
            "text": report("Kestrel Bay", "Harlow Bridge", "Monday", "Vantor")
            + " Traffic was diverted.",
            "cluster": "a",
        },
        {
            "id": "b2",
            "title": "Port Amsel closes Ostry Bridge for repairs",
            "text": "Port Amsel shut the Ostry Bridge on Thursday. Kelm engineers, who found "
            "the cracks, expect the repairs to take a month; ferries will run meanwhile.",
            "cluster": "b",
        },
    ]
    stories = {out["id"]: out["story"] for out in cluster_records(records)}
    assert stories["a1"] != stories["b1"]
    assert stories["a1"] == stories["a2"]
    assert stories["b1"] == stories["b2"]
