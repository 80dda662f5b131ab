"""parse_feed on every supported format and on hostile documents."""

from __future__ import annotations

import json
import time
import tracemalloc
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.feeds import FeedParseError, ParseLimits, item_key, parse_feed
from ingest.feeds.parse import clean_link, clean_text, strip_dtd_subset, truncate_items

MEMORY_BUDGET = 64 * 1024 * 1024

RSS20 = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>News</title><link>https://news.example/</link><ttl>90</ttl>
<item><title>First</title><link>https://news.example/a?utm_source=x</link>
<guid>tag:news.example,1</guid><pubDate>Tue, 02 Jan 2024 10:00:00 GMT</pubDate>
<description>Body &amp; more</description><author>a@news.example (Ann)</author></item>
<item><title>Second</title><link>/b</link><pubDate>Tue, 02 Jan 2024 11:00:00 GMT</pubDate></item>
</channel></rss>"""

RSS090 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
 xmlns="http://my.netscape.com/rdf/simple/0.9/">
<channel><title>Ninety</title><link>http://n.example/</link><description>d</description></channel>
<item><title>N1</title><link>http://n.example/1</link></item></rdf:RDF>"""

RSS091 = b"""<?xml version="1.0"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"
 "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91"><channel><title>Old</title><link>http://old.example/</link>
<description>d</description><language>en</language>
<item><title>One</title><link>http://old.example/1</link></item></channel></rss>"""

RSS092 = b"""<rss version="0.92"><channel><title>T</title><link>http://x.example/</link>
<item><title>A</title><link>http://x.example/a</link><description>d</description></item>
</channel></rss>"""

RSS10 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
<channel rdf:about="http://r.example/"><title>RDF</title><link>http://r.example/</link>
<description>d</description></channel>
<item rdf:about="http://r.example/1"><title>R1</title><link>http://r.example/1</link></item>
<item rdf:about="http://r.example/2"><title>R2</title><link>http://r.example/2</link></item>
</rdf:RDF>"""

ATOM10 = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom</title>
<link href="https://atom.example/"/><id>urn:feed</id><updated>2024-01-02T10:00:00Z</updated>
<entry><title>E1</title><link href="https://atom.example/e1"/><id>urn:e1</id>
<updated>2024-01-02T10:00:00Z</updated><summary>S</summary></entry></feed>"""

ATOM03 = b"""<?xml version="1.0"?>
<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>Old Atom</title>
<link rel="alternate" type="text/html" href="http://a3.example/"/>
<modified>2004-01-01T00:00:00Z</modified>
<entry><title>A3</title><link rel="alternate" type="text/html" href="http://a3.example/1"/>
<id>tag:a3,1</id><issued>2004-01-01T00:00:00Z</issued><modified>2004-01-01T00:00:00Z</modified>
</entry></feed>"""

JSONFEED = json.dumps(
    {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "JSON",
        "home_page_url": "https://j.example/",
        "items": [
            {"id": "1", "url": "https://j.example/1", "title": "J1",
             "date_published": "2024-01-02T10:00:00Z", "content_text": "text",
             "authors": [{"name": "Jo"}]},
            {"id": "2", "url": "javascript:alert(1)", "title": "J2\x00"},
        ],
    }
).encode()  # fmt: skip


@pytest.mark.parametrize(
    ("body", "kind", "count"),
    [
        (RSS20, "rss20", 2),
        (RSS090, "rss090", 1),
        (RSS091, "rss091", 1),
        (RSS092, "rss092", 1),
        (RSS10, "rss10", 2),
        (ATOM10, "atom10", 1),
        (ATOM03, "atom03", 1),
        (JSONFEED, "json11", 2),
    ],
)
def test_formats(body: bytes, kind: str, count: int) -> None:
    feed = parse_feed(body, base_url="https://base.example/feed")
    assert feed.kind.startswith(kind)
    assert len(feed.items) == count
    assert all(i.title for i in feed.items)
    assert all(i.url is None or i.url.startswith(("http://", "https://")) for i in feed.items)


def test_rss20_fields_are_cleaned_and_resolved() -> None:
    feed = parse_feed(RSS20)
    first, second = feed.items
    assert first.guid == "tag:news.example,1"
    assert first.published == datetime(2024, 1, 2, 10, tzinfo=UTC)
    assert first.summary == "Body &amp; more" or first.summary == "Body & more"
    assert second.url == "https://news.example/b"
    assert feed.ttl_s == 90 * 60


def test_json_feed_drops_javascript_links_and_nul() -> None:
    feed = parse_feed(JSONFEED, content_type="application/feed+json")
    assert feed.items[0].author == "Jo"
    assert feed.items[1].url is None
    assert feed.items[1].title == "J2"


def test_entity_expansion_bomb_is_defused() -> None:
    entity = "x" * 100_000
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY big "{entity}">]>'
        '<rss version="2.0"><channel><title>bomb</title>'
        + "".join("<item><title>&big;</title><description>&big;</description></item>" * 1000)
        + "</channel></rss>"
    ).encode()
    tracemalloc.start()
    started = time.monotonic()
    try:
        feed = parse_feed(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 10
    assert peak < MEMORY_BUDGET
    assert all("x" * 1000 not in (i.title or "") + (i.summary or "") for i in feed.items)


def test_two_hundred_thousand_items_are_capped_before_parsing() -> None:
    body = (
        b'<rss version="2.0"><channel><title>many</title>'
        + b"".join(b"<item><title>t%d</title><link>http://m.example/%d</link></item>" % (i, i)
                   for i in range(200_000))
        + b"</channel></rss>"
    )  # fmt: skip
    tracemalloc.start()
    try:
        feed = parse_feed(body, limits=ParseLimits(max_bytes=32 << 20, max_entries=300))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(feed.items) == 300 and feed.truncated
    assert feed.items[-1].title == "t299"
    assert peak - len(body) < MEMORY_BUDGET


def test_nul_bytes_and_controls_are_stripped() -> None:
    body = (
        b'<rss version="2.0"><channel><title>n\x00ul</title><item><title>a\x00b\x01c</title>'
        b"<link>http://n.example/\x00x</link><guid>g\x00</guid></item></channel></rss>"
    )
    feed = parse_feed(body)
    for item in feed.items:
        for value in (item.title, item.url, item.guid, item.summary):
            assert value is None or ("\x00" not in value and "\x01" not in value)


def test_javascript_and_data_links_are_dropped() -> None:
    body = b"""<rss version="2.0"><channel><title>t</title>
    <item><title>a</title><link>javascript:alert(document.cookie)</link></item>
    <item><title>b</title><link>data:text/html,&lt;script&gt;</link></item>
    <item><title>c</title><link>  JaVaScRiPt:alert(1)</link></item>
    <item><title>d</title><link>https://ok.example/d</link></item></channel></rss>"""
    urls = [i.url for i in parse_feed(body).items]
    assert urls == [None, None, None, "https://ok.example/d"]


def test_huge_link_and_fields_are_capped() -> None:
    body = (
        b'<rss version="2.0"><channel><title>t</title><item><title>'
        + b"T" * 50_000
        + b"</title><link>http://l.example/"
        + b"a" * 3_000_000
        + b"</link></item></channel></rss>"
    )
    (item,) = parse_feed(body).items
    assert item.url is None
    assert item.title is not None and len(item.title) <= 1000


def test_oversized_body_and_non_feeds_are_parse_errors() -> None:
    with pytest.raises(FeedParseError):
        parse_feed(b"x" * 100, limits=ParseLimits(max_bytes=10))
    with pytest.raises(FeedParseError):
        parse_feed(b"<html><body>hello</body></html>")
    with pytest.raises(FeedParseError):
        parse_feed(b'{"not": "a feed"}')
    with pytest.raises(FeedParseError):
        parse_feed(b"[" * 100_000, content_type="application/json")


def test_identity_is_stable_when_pubdate_changes() -> None:
    def feed_at(date: str) -> bytes:
        return (
            '<rss version="2.0"><channel><title>t</title>'
            f"<item><title>A</title><link>http://i.example/a</link><pubDate>{date}</pubDate></item>"
            f"<item><title>B</title><pubDate>{date}</pubDate><description>b</description></item>"
            "</channel></rss>"
        ).encode()

    one = parse_feed(feed_at("Tue, 02 Jan 2024 10:00:00 GMT"))
    two = parse_feed(feed_at("Wed, 03 Jan 2024 12:00:00 GMT"))
    assert [i.key for i in one.items] == [i.key for i in two.items]
    assert all(len(i.key) == 64 for i in one.items)


def test_identity_prefers_guid_then_canonical_link() -> None:
    assert item_key("g", "http://a/1", "t", None, None) == item_key(
        "g", "http://b/2", "u", None, None
    )
    assert item_key(None, "HTTP://A.example/x?utm_source=rss#frag", None, None, None) == item_key(
        None, "http://a.example/x", None, None, None
    )


def test_truncate_items_closes_open_elements() -> None:
    body = b"<rss><channel><title>t</title>" + b"<item>i</item>" * 5 + b"</channel></rss>"
    cut, truncated = truncate_items(body, 2)
    assert truncated and cut.endswith(b"<item>i</item><item>i</item></channel></rss>")


def test_strip_dtd_subset_keeps_public_doctype() -> None:
    assert strip_dtd_subset(b'<!DOCTYPE rss [<!ENTITY a "b">]><rss/>') == b"<!DOCTYPE rss ><rss/>"


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_parse_or_fail_cleanly(data: bytes) -> None:
    try:
        feed = parse_feed(data)
    except FeedParseError:
        return
    for item in feed.items:
        assert item.url is None or item.url.startswith(("http://", "https://"))


@given(st.text(max_size=300))
def test_clean_text_never_keeps_controls(text: str) -> None:
    cleaned = clean_text(text, 100) or ""
    assert len(cleaned) <= 100
    assert not any(ord(c) < 32 and c not in "\t\n\r" for c in cleaned)


@given(st.text(max_size=200))
def test_clean_link_only_returns_http(text: str) -> None:
    link = clean_link(text, "https://base.example/")
    assert link is None or link.lower().startswith(("http://", "https://"))


def test_summary_html_is_sanitised() -> None:
    body = (
        b'<rss version="2.0"><channel><title>t</title><item><title>x</title><description>'
        b"&lt;p onclick='steal()'&gt;hi&lt;script&gt;alert(1)&lt;/script&gt;"
        b"&lt;a href='javascript:y()'&gt;l&lt;/a&gt;&lt;img src=x onerror=z()&gt;&lt;/p&gt;"
        b"</description></item></channel></rss>"
    )
    summary = parse_feed(body).items[0].summary or ""
    assert "hi" in summary
    for bad in ("script", "onclick", "javascript:", "onerror"):
        assert bad not in summary
