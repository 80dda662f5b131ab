"""The canonical URL rule: safe, plausible, same registrable domain, not the home page."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.extract import acceptable_canonical, choose_canonical_url, extract_article

PAGE = "https://news.example.co.uk/world/2024/story-123?utm_source=feed"


@pytest.mark.parametrize(
    "candidate",
    [
        "https://news.example.co.uk/world/2024/story-123",
        "https://www.example.co.uk/world/story-123",  # same registrable domain
        "http://example.co.uk/story-123",
        "https://news.example.co.uk/article?id=5",  # query on the root is an article
    ],
)
def test_accepts_same_site_article_urls(candidate: str) -> None:
    assert acceptable_canonical(candidate, PAGE)


@pytest.mark.parametrize(
    "candidate",
    [
        "https://evil.example/world/story-123",  # unrelated host
        "https://example.com/world/story-123",  # different suffix = different site
        "https://co.uk/world/story-123",
        "https://news.example.co.uk/",  # the home page
        "https://news.example.co.uk",
        "https://news.example.co.uk/index.html",
        "ftp://news.example.co.uk/story",
        "javascript:alert(1)",
        "https://user:pw@news.example.co.uk/story",
        "https://news.example.co.uk/story with space",
        "https://news.example.co.uk:99999/story",
        "https://news.example.co.uk/" + "a" * 3000,
    ],
)
def test_rejects_unsafe_or_implausible_urls(candidate: str) -> None:
    assert not acceptable_canonical(candidate, PAGE)


def test_home_page_may_be_canonical_for_the_home_page() -> None:
    assert acceptable_canonical("https://example.org/", "https://www.example.org/")


def test_relative_candidate_is_resolved_and_bad_ones_fall_back_to_page_url() -> None:
    assert choose_canonical_url(["/a/b"], PAGE) == "https://news.example.co.uk/a/b"
    assert choose_canonical_url(["https://other.test/x", "/"], PAGE) == PAGE
    assert choose_canonical_url(["http://[::1"], PAGE) == PAGE
    assert choose_canonical_url([], None) is None


def test_page_link_rel_canonical_then_og_url() -> None:
    html = b"""<html><head>
      <link rel="canonical" href="https://attacker.test/stolen">
      <meta property="og:url" content="https://www.example.org/news/good-story">
      </head><body><article><p>%s</p></article></body></html>""" % (b"Some words here. " * 40)
    article = extract_article(html, "https://example.org/news/good-story?ref=rss")
    assert article.canonical_url == "https://www.example.org/news/good-story"


@given(candidate=st.text(max_size=80), path=st.text(max_size=20))
def test_anything_returned_is_the_page_url_or_same_site(candidate: str, path: str) -> None:
    page = "https://www.example.org/p/" + path.replace("\x00", "")
    chosen = choose_canonical_url([candidate], page)
    if chosen != page:
        assert chosen is not None
        parts = urlsplit(chosen)
        assert parts.scheme in ("http", "https")
        assert (parts.hostname or "").endswith("example.org")
        assert "@" not in parts.netloc
