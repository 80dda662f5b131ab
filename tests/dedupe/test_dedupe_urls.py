"""URL canonicalisation: one test per rule, plus properties."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.dedupe import UrlError, canonical_url, url_key


def test_scheme_and_host_case_are_folded() -> None:
    assert canonical_url("HTTPS://News.EXAMPLE.com/Story") == "https://news.example.com/Story"


def test_http_and_https_are_one_document() -> None:
    assert canonical_url("http://example.com/a") == canonical_url("https://example.com/a")


def test_default_ports_are_dropped_other_ports_kept() -> None:
    assert canonical_url("http://example.com:80/a") == "https://example.com/a"
    assert canonical_url("https://example.com:443/a") == "https://example.com/a"
    assert canonical_url("https://example.com:8443/a") == "https://example.com:8443/a"


@pytest.mark.parametrize("prefix", ["www.", "m.", "mobile.", "amp.", "www2."])
def test_host_variants_are_folded(prefix: str) -> None:
    assert canonical_url(f"https://{prefix}example.com/a") == "https://example.com/a"


def test_host_variant_prefix_kept_when_it_is_the_site() -> None:
    assert canonical_url("https://m.example/a") == "https://m.example/a"


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/news/story/amp",
        "https://example.com/news/story/amp/",
        "https://example.com/amp/news/story",
        "https://example.com/news/story.amp",
    ],
)
def test_amp_paths_are_undone(url: str) -> None:
    assert canonical_url(url) == "https://example.com/news/story"


def test_amp_html_suffix_is_undone() -> None:
    assert (
        canonical_url("https://example.com/a/story.amp.html") == "https://example.com/a/story.html"
    )


@pytest.mark.parametrize(
    "param",
    ["utm_source=x", "utm_campaign=y", "fbclid=abc", "gclid=1", "mc_cid=2", "mc_eid=3", "_ga=1"],
)
def test_tracking_parameters_are_dropped(param: str) -> None:
    assert canonical_url(f"https://example.com/a?{param}") == "https://example.com/a"


def test_other_parameters_are_kept_and_sorted() -> None:
    assert (
        canonical_url("https://example.com/a?b=2&utm_medium=x&a=1")
        == "https://example.com/a?a=1&b=2"
    )


def test_fragment_is_dropped() -> None:
    assert canonical_url("https://example.com/a#comments") == "https://example.com/a"


def test_trailing_slash_is_dropped() -> None:
    assert canonical_url("https://example.com/a/b/") == "https://example.com/a/b"
    assert canonical_url("https://example.com") == "https://example.com/"


def test_percent_encoding_is_normalised() -> None:
    assert canonical_url("https://example.com/%7euser/a%20b") == canonical_url(
        "https://example.com/~user/a%20b"
    )


def test_redirect_wrapper_is_unwrapped() -> None:
    wrapped = "https://www.google.com/url?q=https://www.example.com/a?utm_source=g&sa=D"
    assert canonical_url(wrapped) == "https://example.com/a"
    fb = "https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.com%2Fa%3Ffbclid%3D1&h=x"
    assert canonical_url(fb) == "https://example.com/a"


def test_google_news_article_id_is_unwrapped() -> None:
    payload = b"\x08\x13\x22\x1dhttps://example.com/world/quake\xd2\x01\x00"
    token = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    url = f"https://news.google.com/rss/articles/{token}?oc=5"
    assert canonical_url(url) == "https://example.com/world/quake"


def test_opaque_google_news_id_stays_a_google_news_url() -> None:
    url = "https://news.google.com/rss/articles/CBMiAAAA?oc=5"
    assert canonical_url(url).startswith("https://news.google.com/rss/articles/")


def test_same_site_rel_canonical_wins() -> None:
    assert (
        canonical_url("https://example.com/print/123?page=2", "/news/123")
        == "https://example.com/news/123"
    )
    assert (
        canonical_url("https://m.example.com/x", "https://www.example.com/story")
        == "https://example.com/story"
    )


def test_cross_site_rel_canonical_is_ignored() -> None:
    assert canonical_url("https://example.com/a", "https://other.test/a") == "https://example.com/a"


@pytest.mark.parametrize(
    "bad", ["", "   ", "ftp://example.com/a", "javascript:alert(1)", "https://", "x" * 3000]
)
def test_unusable_urls_raise_url_error(bad: str) -> None:
    with pytest.raises(UrlError):
        canonical_url(bad)


def test_url_key_is_sha256_of_canonical() -> None:
    key = url_key("http://www.example.com/a/?utm_source=x")
    assert key == url_key("https://example.com/a")
    assert len(key) == 64 and int(key, 16) >= 0


_segment = st.text("abcXYZ019-_.~%", min_size=0, max_size=8)


@given(
    host=st.sampled_from(["example.com", "www.example.com", "m.news.test", "amp.a.b.c"]),
    path=st.lists(_segment, max_size=4),
    query=st.dictionaries(st.sampled_from(["a", "b", "utm_x", "fbclid", "id"]), _segment),
)
def test_canonical_url_is_idempotent(host: str, path: list[str], query: dict[str, str]) -> None:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    url = f"http://{host}/{'/'.join(path)}?{qs}"
    once = canonical_url(url)
    assert canonical_url(once) == once


@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes(text: str) -> None:
    with contextlib.suppress(UrlError):
        canonical_url(text)
