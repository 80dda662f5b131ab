"""The shipped founding-case topics catch the story and leave near misses alone."""

from __future__ import annotations

import functools

import pytest

from ingest.topics import Document, TopicMatcher
from ingest.topics.batch import DEFAULT_TOPICS_PATH, load_topics

CLOUD, SURVEILLANCE, PROTEST = "cloud contracts", "surveillance", "employee protest"


@functools.cache
def matcher() -> TopicMatcher:
    return TopicMatcher(load_topics(DEFAULT_TOPICS_PATH))


def topics_of(title: str, text: str) -> set[str]:
    return {found.topic for found in matcher().match(Document(title=title, text=text))}


def test_file_has_the_three_topics_with_descriptions() -> None:
    topics = load_topics()
    assert [t.name for t in topics] == [CLOUD, SURVEILLANCE, PROTEST]
    assert all(t.description and t.query for t in topics)


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        (
            "Microsoft blocks Israel's use of its technology in mass surveillance of Palestinians",
            "Microsoft has ceased and disabled a set of services to a unit within Israel's "
            "Ministry of Defense, after an investigation found that Unit 8200 stored "
            "recordings of millions of phone calls on its Azure cloud platform.",
            {CLOUD, SURVEILLANCE},
        ),
        (
            "Israeli military unit moves data to Amazon after Microsoft cut-off",
            "Unit 8200 began migrating the intercepted calls to Amazon Web Services within "
            "days, according to people familiar with the transfer.",
            {CLOUD, SURVEILLANCE},
        ),
        (
            "Google and Amazon sign $1.2bn Project Nimbus deal",
            "The Israeli government chose Google Cloud and AWS to provide cloud services to "
            "ministries and the army.",
            {CLOUD},
        ),
        (
            "Pentagon awards JWCC cloud contract",
            "The Department of Defense split the $9bn Joint Warfighting Cloud Capability "
            "contract between Amazon, Google, Microsoft and Oracle.",
            {CLOUD},
        ),
        (
            "Police expand facial recognition",
            "Civil liberties groups said the cameras amount to mass surveillance of citizens.",
            {SURVEILLANCE},
        ),
        (
            "Agency intercepted calls of journalists",
            "Investigators said the agency had intercepted phone calls and messages for years.",
            {SURVEILLANCE},
        ),
        (
            "Microsoft fires employees after sit-in at president's office",
            "Two employees were fired after the protest organised by No Azure for Apartheid, "
            "a group opposing Microsoft's contracts with the Israeli military.",
            {PROTEST},
        ),
        (
            "Google staff protest Nimbus",
            "Hundreds of Google workers signed a petition against the company's cloud "
            "contract with Israel; the No Tech for Apartheid campaign held sit-ins.",
            {PROTEST, CLOUD},
        ),
        (
            "Engineer disrupts Microsoft's 50th anniversary",
            "A software engineer interrupted the AI keynote, shouting that the company "
            "powers the genocide; she was later dismissed over the protest.",
            {PROTEST},
        ),
    ],
)
def test_founding_case_is_caught(title: str, text: str, expected: set[str]) -> None:
    assert topics_of(title, text) == expected


@pytest.mark.parametrize(
    ("title", "text"),
    [
        (
            "Microsoft unveils new Surface laptops and Xbox console",
            "The company also announced Azure AI features for developers and a price cut "
            "for Windows subscriptions.",
        ),
        (
            "Microsoft earnings beat expectations",
            "Azure cloud revenue grew 39 percent; the company signed new enterprise customers.",
        ),
        (
            "Clear skies for the weekend",
            "After a cloudy week, expect azure blue skies; the government weather service "
            "warned of frost in the army base region overnight.",
        ),
        (
            "Seahawks beat 49ers in overtime",
            "Fans protested a late call; players staged a celebration. The referee was "
            "fired up, and stadium surveillance cameras caught a pitch invader.",
        ),
        (
            "Nimbus clouds bring rain",
            "Meteorologists said nimbostratus and cumulonimbus layers would linger.",
        ),
        (
            "Amazon warehouse opens",
            "The new warehouse will employ 1,000 workers and features robots.",
        ),
    ],
)
def test_near_misses_are_not_tagged(title: str, text: str) -> None:
    assert topics_of(title, text) == set()
