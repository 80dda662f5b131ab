"""Alert content -> subject, plain text, HTML email, Slack Block Kit, webhook JSON.

Every string that came from a feed or a page (headlines, titles, outlet names,
snippets, URLs) is hostile until proven otherwise. :func:`clean_text` runs it through
nh3 with no allowed tags (markup and ``<script>``/``<style>`` contents are dropped),
decodes entities back to plain text and strips control characters; each output format
then escapes that plain text its own way (``html.escape`` for HTML, ``& < >`` for Slack
mrkdwn). Links are emitted only for absolute http(s) URLs (:func:`safe_url`).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import nh3

MAX_TEXT = 500
MAX_SNIPPET = 400
MAX_OUTLETS = 20
MAX_STORIES = 50
_WS = re.compile(r"\s+")
# Characters that would end or split a Slack <url|text> link if left in a URL.
_SLACK_URL_UNSAFE = {"|": "%7C", "<": "%3C", ">": "%3E", " ": "%20"}


def clean_text(value: object, limit: int = MAX_TEXT) -> str:
    """Untrusted text or HTML -> one line of plain text (no markup, no control chars)."""
    if value is None:
        return ""
    text = nh3.clean(str(value), tags=set(), attributes={}, strip_comments=True)
    text = html.unescape(text)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text if ch != "\x00")
    text = _WS.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _clean_piece(value: str) -> str:
    """Like :func:`clean_text` for a piece of a longer line: keeps edge spaces."""
    text = html.unescape(nh3.clean(value, tags=set(), attributes={}, strip_comments=True))
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return _WS.sub(" ", text)


def snippet_segments(snippet: object, limit: int = MAX_SNIPPET) -> list[tuple[str, bool]]:
    """A stored snippet -> cleaned (text, is_hit) segments, at most ``limit`` characters.

    Spans are clamped to the text and overlaps merged, so a malformed payload can never
    raise or repeat text.
    """
    if isinstance(snippet, str):
        text = clean_text(snippet, limit)
        return [(text, False)] if text else []
    if not isinstance(snippet, Mapping):
        return []
    raw = str(snippet.get("text") or "")
    spans: list[tuple[int, int]] = []
    for span in snippet.get("spans") or []:
        try:
            start, end = int(span[0]), int(span[1])
        except (TypeError, ValueError, IndexError, KeyError):
            continue
        start, end = max(0, min(start, len(raw))), max(0, min(end, len(raw)))
        if end > start:
            spans.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    pieces: list[tuple[str, bool]] = []
    position = 0
    for start, end in merged:
        pieces += [(raw[position:start], False), (raw[start:end], True)]
        position = end
    pieces.append((raw[position:], False))
    out: list[tuple[str, bool]] = [("… ", False)] if snippet.get("cut_before") else []
    budget = limit
    for text, hit in pieces:
        cleaned = _clean_piece(text)
        if not cleaned or budget <= 0:
            continue
        out.append((cleaned[:budget], hit))
        budget -= len(cleaned)
    if snippet.get("cut_after") or budget < 0:
        out.append((" …", False))
    if out and not any(text.strip(" …") for text, _ in out):
        return []
    return out


def _snippet_plain(topic: TopicMatch, hit: tuple[str, str] = ("", "")) -> str:
    return "".join(f"{hit[0]}{t}{hit[1]}" if is_hit else t for t, is_hit in topic.segments).strip()


def safe_url(value: object) -> str | None:
    """An absolute http(s) URL fit to link to, or None (javascript:, data:, relative…)."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or len(url) > 2048 or any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    return url


@dataclass(frozen=True)
class OutletLink:
    """One outlet's report of the story."""

    source: str
    title: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class TopicMatch:
    """A topic the story matched, with the snippet that explains why."""

    name: str
    # The stored snippet: {"text", "spans": [[start, end], ...], "cut_before",
    # "cut_after"} (see ingest.pipeline.tag), or plain text; None if there is none.
    snippet: Mapping[str, Any] | str | None = None

    @property
    def segments(self) -> list[tuple[str, bool]]:
        """The snippet as cleaned (text, is_hit) pieces."""
        return snippet_segments(self.snippet)


@dataclass(frozen=True)
class StoryView:
    """One story as an alert shows it (raw values; rendering cleans them)."""

    story_id: int
    headline: str | None
    first_seen: datetime
    url: str
    outlets: Sequence[OutletLink] = ()
    topics: Sequence[TopicMatch] = ()
    kind: str = "new"
    reason: str = "new story"


@dataclass(frozen=True)
class AlertContent:
    """What one message says: one story, or a digest of several."""

    subscription: str
    stories: Sequence[StoryView]
    digest_window: str | None = None
    idempotency_key: str = ""

    @property
    def is_digest(self) -> bool:
        return self.digest_window is not None


@dataclass(frozen=True)
class RenderedAlert:
    """The same alert in every output format."""

    subject: str
    text: str
    html: str
    slack: dict[str, Any]
    json: dict[str, Any] = field(default_factory=dict)


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _headline(story: StoryView) -> str:
    return clean_text(story.headline) or f"Story {story.story_id}"


def _subject(content: AlertContent) -> str:
    if content.is_digest:
        n = len(content.stories)
        return clean_text(
            f"[newsmon] {content.subscription}: digest, {n} stor{'y' if n == 1 else 'ies'}", 200
        )
    story = content.stories[0]
    prefix = "update: " if story.kind.startswith("followup") else ""
    return clean_text(f"[newsmon] {prefix}{_headline(story)}", 200)


# ------------------------------------------------------------------------ plain text


def _text_story(story: StoryView) -> list[str]:
    lines = [_headline(story)]
    if story.kind.startswith("followup"):
        lines.append(f"  Update: {clean_text(story.reason)}")
    lines.append(f"  First seen: {_when(story.first_seen)}")
    outlets = story.outlets[:MAX_OUTLETS]
    lines.append(f"  Outlets ({len(story.outlets)}):")
    for outlet in outlets:
        title = clean_text(outlet.title) if outlet.title else ""
        url = safe_url(outlet.url)
        label = clean_text(outlet.source, 200) + (f": {title}" if title else "")
        lines.append(f"    - {label}" + (f" <{url}>" if url else ""))
    if len(story.outlets) > len(outlets):
        lines.append(f"    … and {len(story.outlets) - len(outlets)} more")
    for topic in story.topics:
        snippet = _snippet_plain(topic, ("«", "»"))
        lines.append(f"  Topic {clean_text(topic.name, 200)}" + (f": {snippet}" if snippet else ""))
    story_url = safe_url(story.url)
    if story_url:
        lines.append(f"  {story_url}")
    return lines


def render_text(content: AlertContent) -> str:
    lines = [_subject(content), ""]
    stories = content.stories[:MAX_STORIES]
    for story in stories:
        lines.extend(_text_story(story))
        lines.append("")
    if len(content.stories) > len(stories):
        lines.append(f"… and {len(content.stories) - len(stories)} more stories")
    lines.append(f"Subscription: {clean_text(content.subscription, 200)}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ HTML


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _link(url: str | None, label: str) -> str:
    target = safe_url(url)
    if target is None:
        return _e(label)
    return f'<a href="{_e(target)}">{_e(label)}</a>'


def _html_story(story: StoryView) -> str:
    parts = [f"<h2>{_link(story.url, _headline(story))}</h2>"]
    if story.kind.startswith("followup"):
        parts.append(f"<p><strong>Update:</strong> {_e(clean_text(story.reason))}</p>")
    parts.append(f"<p>First seen {_e(_when(story.first_seen))}</p>")
    items = []
    for outlet in story.outlets[:MAX_OUTLETS]:
        title = clean_text(outlet.title) if outlet.title else ""
        source = _e(clean_text(outlet.source, 200))
        items.append(
            f"<li>{source}: {_link(outlet.url, title)}</li>"
            if title or outlet.url
            else f"<li>{source}</li>"
        )
    extra = len(story.outlets) - min(len(story.outlets), MAX_OUTLETS)
    if extra:
        items.append(f"<li>… and {extra} more</li>")
    parts.append(f"<p>{len(story.outlets)} outlets:</p><ul>{''.join(items)}</ul>")
    if story.topics:
        rows = "".join(
            f"<li><strong>{_e(clean_text(t.name, 200))}</strong>"
            + (f": {_snippet_html(t)}" if t.segments else "")
            + "</li>"
            for t in story.topics
        )
        parts.append(f"<p>Topics:</p><ul>{rows}</ul>")
    return "<div>" + "".join(parts) + "</div>"


def _snippet_html(topic: TopicMatch) -> str:
    return "".join(
        f"<mark>{_e(text)}</mark>" if hit else _e(text) for text, hit in topic.segments
    ).strip()


def render_html(content: AlertContent) -> str:
    stories = content.stories[:MAX_STORIES]
    body = "<hr>".join(_html_story(s) for s in stories)
    more = len(content.stories) - len(stories)
    if more:
        body += f"<p>… and {more} more stories</p>"
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{_e(_subject(content))}</title></head><body>{body}"
        f"<p><small>Subscription {_e(clean_text(content.subscription, 200))}"
        "</small></p></body></html>"
    )


# ----------------------------------------------------------------------------- Slack


def slack_escape(text: str) -> str:
    """Escape the three characters Slack mrkdwn treats as control sequences."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str | None, label: str) -> str:
    target = safe_url(url)
    if target is None:
        return slack_escape(label)
    for char, code in _SLACK_URL_UNSAFE.items():
        target = target.replace(char, code)
    target = slack_escape(target)
    return f"<{target}|{slack_escape(label).replace('|', '¦')}>"


def _snippet_slack(topic: TopicMatch) -> str:
    # Hits in bold; a "*" inside the text would toggle bold, so it is dropped there.
    return "".join(
        f"*{slack_escape(text.strip().replace('*', ''))}*" if hit else slack_escape(text)
        for text, hit in topic.segments
    ).strip()


def _slack_story(story: StoryView) -> list[dict[str, Any]]:
    lines = [f"*{_slack_link(story.url, _headline(story))}*"]
    if story.kind.startswith("followup"):
        lines.append(f"Update: {slack_escape(clean_text(story.reason))}")
    lines.append(f"First seen {_when(story.first_seen)} · {len(story.outlets)} outlets")
    outlets = [
        _slack_link(o.url, clean_text(o.title) or clean_text(o.source, 200))
        + f" ({slack_escape(clean_text(o.source, 200))})"
        for o in story.outlets[:10]
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}},
    ]
    if outlets:
        text = "\n".join(f"• {o}" for o in outlets)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}})
    if story.topics:
        topic_lines = [
            f"*{slack_escape(clean_text(t.name, 200))}*"
            + (f": {_snippet_slack(t)}" if t.segments else "")
            for t in story.topics
        ]
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "\n".join(topic_lines)[:2900]}],
            }
        )
    return blocks


def render_slack(content: AlertContent) -> dict[str, Any]:
    """A Block Kit message (Slack allows 50 blocks; digests are cut to fit)."""
    subject = _subject(content)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": subject[:150]}}
    ]
    shown = 0
    for story in content.stories:
        story_blocks = _slack_story(story)
        if len(blocks) + len(story_blocks) + 2 > 50:
            break
        if shown:
            blocks.append({"type": "divider"})
        blocks.extend(story_blocks)
        shown += 1
    if shown < len(content.stories):
        more = len(content.stories) - shown
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"… and {more} more"}]}
        )
    return {"text": slack_escape(subject), "blocks": blocks}


# ------------------------------------------------------------------------ webhook JSON


def render_json(content: AlertContent) -> dict[str, Any]:
    """The generic webhook body: cleaned plain strings, links only when http(s)."""
    return {
        "type": "digest" if content.is_digest else "alert",
        "subscription": clean_text(content.subscription, 200),
        "idempotency_key": content.idempotency_key,
        "digest_window": content.digest_window,
        "stories": [
            {
                "id": s.story_id,
                "kind": s.kind,
                "reason": clean_text(s.reason),
                "headline": _headline(s),
                "first_seen": s.first_seen.astimezone(UTC).isoformat(),
                "url": safe_url(s.url),
                "outlets": [
                    {
                        "source": clean_text(o.source, 200),
                        "title": clean_text(o.title) or None,
                        "url": safe_url(o.url),
                    }
                    for o in s.outlets[:MAX_OUTLETS]
                ],
                "topics": [
                    {
                        "name": clean_text(t.name, 200),
                        "snippet": _snippet_plain(t) or None,
                        "highlights": [text.strip() for text, hit in t.segments if hit],
                    }
                    for t in s.topics
                ],
            }
            for s in content.stories[:MAX_STORIES]
        ],
    }


def render(content: AlertContent) -> RenderedAlert:
    """Render ``content`` in every format (cheap; channels pick the one they need)."""
    if not content.stories:
        raise ValueError("an alert needs at least one story")
    return RenderedAlert(
        subject=_subject(content),
        text=render_text(content),
        html=render_html(content),
        slack=render_slack(content),
        json=render_json(content),
    )


def story_url(base_url: str, story_id: int) -> str:
    """The story page link: ``{base_url}/newsmon/stories/{id}``."""
    return f"{base_url.rstrip('/')}/newsmon/stories/{quote(str(story_id))}"
