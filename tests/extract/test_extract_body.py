"""The body clean-up rules: boilerplate, headline, link teasers, split bodies."""

from __future__ import annotations

import pytest

from ingest.extract import extract_article
from ingest.extract.body import is_boilerplate_block, title_variants

PROSE = "The council voted on Tuesday to rebuild the old bridge over the river, officials said."


@pytest.mark.parametrize(
    "text",
    [
        "Related: Five bridges that changed the city",
        "READ MORE: Council approves budget",
        "Sign up for our newsletter",
        "Get the latest updates right in your inbox.",
        "Follow Newsbeat on Instagram, Facebook and Twitter.",
        "Lesen Sie auch: Die Brücke",
        "© 2024 Example Media",
    ],
)
def test_boilerplate_blocks(text: str) -> None:
    assert is_boilerplate_block(text)


@pytest.mark.parametrize(
    "text",
    [
        PROSE,
        "Disney said it continued to sign up additional subscribers despite the glitches.",
        "Related coverage of the vote " + "was extensive and ran for many pages " * 8,
    ],
)
def test_prose_is_not_boilerplate(text: str) -> None:
    assert not is_boilerplate_block(text)


def test_title_variants_strip_site_suffix() -> None:
    variants = title_variants("Bridge to be rebuilt after vote | Example News", None)
    assert "bridge to be rebuilt after vote" in variants
    assert "example news" not in variants  # too short to be a headline on its own


def _page(body: str) -> bytes:
    return (
        "<html><head><title>Bridge to be rebuilt after vote - Example News</title></head>"
        f"<body>{body}</body></html>"
    ).encode()


def test_headline_teasers_and_prompts_are_dropped() -> None:
    body = (
        "<article><h1>Bridge to be rebuilt after vote</h1>"
        + f"<p>{PROSE}</p>" * 3
        + "<p>Work starts in spring and will take two years to complete, the mayor said.</p>"
        + '<ul><li><a href="/x">Five other bridges that the city plans to repair soon</a></li></ul>'
        + "<p>Subscribe to our daily newsletter for more local news.</p></article>"
        + '<aside><a href="/x">Five other bridges that the city plans to repair soon</a></aside>'
    )
    article = extract_article(_page(body), "https://example.org/news/bridge")
    assert "rebuild the old bridge" in article.text
    assert "Work starts in spring" in article.text
    assert "Bridge to be rebuilt after vote" not in article.text
    assert "Five other bridges" not in article.text
    assert "newsletter" not in article.text


def test_split_body_containers_are_joined() -> None:
    chunk = '<div class="body-chunk">{}</div>'
    first = chunk.format(f"<p>{PROSE} First part of the story, told at length here.</p>")
    later = "".join(
        chunk.format(f"<p>Part {n} continues the story with more detail on the bridge plan.</p>")
        for n in range(2, 8)
    )
    body = f'<article><div class="grid">{first}<div class="ad">Ad</div>{later}</div></article>'
    article = extract_article(_page(body), "https://example.org/news/bridge")
    assert "First part of the story" in article.text
    assert "Part 7 continues" in article.text
