"""Rendering: hostile feed content never reaches HTML, Slack or text unescaped."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.alerts.channels import build_email, sign, verify
from ingest.alerts.render import (
    AlertContent,
    OutletLink,
    StoryView,
    TopicMatch,
    clean_text,
    render,
    safe_url,
)

HOSTILE = [
    "<script>alert(1)</script>Breaking",
    '<img src=x onerror="alert(2)">Quake',
    '"><svg onload=alert(3)>',
    '<a href="javascript:alert(4)">click</a>',
    "&lt;script&gt;alert(5)&lt;/script&gt;",
    "Tom & Jerry <b>bold</b> <!channel> <@U123> *star*",
    "<style>body{display:none}</style>ok\x00\x07\u202e",
]


def story(headline: str, outlet_url: str = "javascript:alert(9)") -> StoryView:
    return StoryView(
        story_id=7,
        headline=headline,
        first_seen=datetime(2026, 1, 1, tzinfo=UTC),
        url="https://newsmon.example/newsmon/stories/7",
        outlets=[
            OutletLink(f"evil<script>{headline}", headline, outlet_url),
            OutletLink("good.example", "Fine", "https://good.example/a?b=1&c=<2>|x"),
        ],
        topics=[
            TopicMatch(f"topic {headline}", f"snippet {headline}"),
            TopicMatch(
                "spans",
                {
                    "text": f"a {headline} b",
                    "spans": [[0, 3], [2, 99], ["x"], 5],
                    "cut_before": True,
                    "cut_after": True,
                },
            ),
        ],
    )


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)


ALLOWED_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "body",
    "div",
    "h2",
    "p",
    "ul",
    "li",
    "a",
    "strong",
    "small",
    "hr",
    "mark",
}


def assert_safe_html(markup: str) -> None:
    parser = _Collector()
    parser.feed(markup)
    assert set(parser.tags) <= ALLOWED_TAGS, parser.tags
    for name, value in parser.attrs:
        assert name in ("href", "charset"), name
        if name == "href":
            assert value is not None and value.startswith(("http://", "https://")), value


def _mrkdwn_texts(node: object) -> list[str]:
    """Every string Slack parses as mrkdwn (plain_text objects are not parsed)."""
    out: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
            out.append(node["text"])
        for value in node.values():
            out.extend(_mrkdwn_texts(value))
    elif isinstance(node, list):
        for value in node:
            out.extend(_mrkdwn_texts(value))
    return out


def assert_safe_slack(message: dict[str, object]) -> None:
    texts = [*_mrkdwn_texts(message), str(message["text"])]
    for raw in texts:
        # The only "<" left are our own <https://...|label> links.
        for link in re.findall(r"<([^>]*)>", raw):
            assert link.startswith(("http://", "https://")), link
        stripped = re.sub(r"<https?://[^>|]*\|[^>]*>", "", raw)
        assert "<" not in stripped and ">" not in stripped, raw


def test_hostile_content_is_escaped_everywhere() -> None:
    content = AlertContent("analyst<script>", [story(h) for h in HOSTILE], digest_window="w")
    alert = render(content)
    assert_safe_html(alert.html)
    assert_safe_slack(alert.slack)
    lowered = alert.html.lower()
    assert "<script" not in lowered and "javascript:" not in lowered
    assert "onerror=" not in lowered.replace("onerror=&quot;", "")  # only as inert text
    assert "<!channel>" not in json.dumps(alert.slack)
    assert "javascript:" not in json.dumps(alert.json)
    assert "javascript:" not in alert.text
    assert "\x00" not in alert.text and "\x07" not in alert.text


def test_email_has_plain_and_html_parts_and_a_stable_message_id() -> None:
    alert = render(AlertContent("s", [story("<b>Quake</b> hits")], idempotency_key="k1"))
    a = build_email(alert, "k1", "alerts@newsmon.example", "x@example.org")
    b = build_email(alert, "k1", "alerts@newsmon.example", "x@example.org")
    assert a["Message-ID"] == b["Message-ID"] == "<k1@newsmon.example>"
    types = [part.get_content_type() for part in a.walk()]
    assert "text/plain" in types and "text/html" in types
    assert alert.subject == "[newsmon] Quake hits"


def test_links_only_http() -> None:
    assert safe_url("https://a.example/x") == "https://a.example/x"
    for bad in [
        "javascript:alert(1)",
        "data:text/html,x",
        "/relative",
        "http://",
        "vbscript:x",
        "https://user:pw@a.example/",
        " java\nscript:x",
        "ftp://a.example/",
    ]:
        assert safe_url(bad) is None, bad


def test_signature_round_trip() -> None:
    sig = sign("s", "123", b"{}")
    assert sig.startswith("sha256=") and verify("s", "123", b"{}", sig)
    assert not verify("s", "124", b"{}", sig) and not verify("t", "123", b"{}", sig)


TOKENS = [
    *"<>&\"'=/ :;abcjsvxr()\\\n\t\x00",
    "script",
    "onerror",
    "javascript:",
    "<a href=",
    "<img src=x ",
    "&lt;",
    "<!--",
]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(TOKENS), max_size=30).map("".join),
    st.sampled_from(["javascript:x", "https://ok.example/<p>", "data:x", "http://a.example/|x"]),
)
def test_random_hostile_strings_never_escape(text: str, url: str) -> None:
    alert = render(AlertContent(text, [story(text, url)]))
    assert_safe_html(alert.html)
    assert_safe_slack(alert.slack)
    assert 'href="javascript' not in alert.html.lower()
    assert "\x00" not in clean_text(text)


def test_snippet_hits_are_marked_after_escaping() -> None:
    # Tag-like text is dropped by nh3; a lone "<" or "&" is kept and escaped.
    snippet = {"text": "Rates < 5% & <quake> city", "spans": [[0, 5]], "cut_after": True}
    view = StoryView(
        1,
        "h",
        datetime(2026, 1, 1, tzinfo=UTC),
        "https://n.example/1",
        topics=[TopicMatch("t", snippet)],
    )
    alert = render(AlertContent("s", [view]))
    assert "<mark>Rates</mark> &lt; 5% &amp; city …" in alert.html
    assert "«Rates» < 5% & city …" in alert.text
    assert "*Rates* &lt; 5% &amp; city …" in json.dumps(alert.slack, ensure_ascii=False)
    assert alert.json["stories"][0]["topics"][0]["highlights"] == ["Rates"]
