"""Feed bytes → :class:`ParsedFeed`: bounded, cleaned, never trusting the publisher.

Before parsing: a size cap, the DTD's internal subset removed (entity expansion bombs
live there), and documents with more than ``max_entries`` items cut after the last
kept item (so 200,000 items never reach feedparser). After parsing: NUL and C0 control
characters stripped, field lengths capped, only http(s) links kept. JSON Feed is parsed
with :mod:`json`; everything else with feedparser, on bytes only (never a URL).
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import nh3

from ingest.feeds.identity import item_key

MAX_TITLE = 1_000
MAX_SUMMARY = 20_000
MAX_AUTHOR = 500
MAX_GUID = 2_048
MAX_URL = 2_048


class FeedParseError(Exception):
    """The bytes are not a feed newsmon can use (class ``parse``)."""


@dataclass(frozen=True)
class ParseLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_entries: int = 500


@dataclass(frozen=True)
class FeedItem:
    """One cleaned feed entry; ``key`` is the sha256 hex of its identity."""

    key: str
    url: str | None
    title: str | None
    summary: str | None
    author: str | None
    published: datetime | None
    guid: str | None = None


@dataclass(frozen=True)
class ParsedFeed:
    title: str | None
    link: str | None
    kind: str
    items: list[FeedItem] = field(default_factory=list)
    ttl_s: int | None = None  # RSS <ttl>, in seconds
    truncated: bool = False  # more items than max_entries were in the document


# C0 controls except tab/newline/carriage return, plus DEL; lone surrogates from bad JSON.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_DOCTYPE_SUBSET = re.compile(rb"(<!DOCTYPE[^\[>]*)\[.*?\]\s*>", re.DOTALL | re.IGNORECASE)
_ENTITY_DECL = re.compile(rb"<!ENTITY[^>]*>", re.IGNORECASE)
_ITEM_END = re.compile(rb"</(?:[\w.-]+:)?(?:item|entry)\s*>", re.IGNORECASE)
_ITEM_START = re.compile(rb"<(?:[\w.-]+:)?(?:item|entry)[\s>/]", re.IGNORECASE)
_TAG = re.compile(rb"<(/?)([A-Za-z_][\w.:-]*)[^>]*?(/?)>")


def clean_text(value: object, limit: int) -> str | None:
    """Text without NUL/C0 controls, whitespace-trimmed, at most ``limit`` characters."""
    if value is None:
        return None
    text = _CONTROL.sub("", str(value)).strip()
    return text[:limit] or None


def clean_link(value: object, base: str | None = None) -> str | None:
    """An absolute http(s) URL of sane length, or None (javascript:, data:, junk...)."""
    if not isinstance(value, str):
        return None
    link = _CONTROL.sub("", value).strip()
    if not link or len(link) > MAX_URL or any(c.isspace() for c in link):
        return None
    if base:
        try:
            link = urljoin(base, link)
        except ValueError:
            return None
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return link if len(link) <= MAX_URL else None


def strip_dtd_subset(body: bytes) -> bytes:
    """Remove the DOCTYPE internal subset (entity declarations) — the expansion bombs.

    Undeclared entity references are then left as text by feedparser's loose parser.
    """
    body = _DOCTYPE_SUBSET.sub(rb"\1>", body, count=1)
    return _ENTITY_DECL.sub(b"", body)


def truncate_items(body: bytes, max_entries: int) -> tuple[bytes, bool]:
    """Cut an XML feed after its ``max_entries``-th item and close the open elements.

    Items are siblings, so the elements open at the first item are the ones to close.
    """
    ends = _ITEM_END.finditer(body)
    cut = None
    for count, match in enumerate(ends, start=1):
        if count > max_entries:
            break
        cut = match.end()
    else:
        return body, False
    first = _ITEM_START.search(body)
    if cut is None or first is None:
        return body, False
    stack: list[bytes] = []
    for tag in _TAG.finditer(body, 0, first.start()):
        closing, name, selfclosing = tag.groups()
        if selfclosing:
            continue
        if closing:
            if name in stack:
                del stack[len(stack) - 1 - stack[::-1].index(name) :]
        else:
            stack.append(name)
    closers = b"".join(b"</" + name + b">" for name in reversed(stack))
    return body[:cut] + closers, True


def _to_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None
    return when


def _sane_date(when: datetime | None, now: datetime) -> datetime | None:
    # Dates in the far future are publisher bugs; keep the item, drop the date.
    if when is None or when > now + timedelta(days=2) or when.year < 1990:
        return None
    return when


def _item(
    *,
    guid: Any,
    link: Any,
    title: Any,
    summary: Any,
    author: Any,
    published: datetime | None,
    base: str | None,
    now: datetime,
) -> FeedItem:
    url = clean_link(link, base)
    clean_guid = clean_text(guid, MAX_GUID)
    clean_title = clean_text(title, MAX_TITLE)
    clean_summary = clean_text(summary, MAX_SUMMARY)
    if clean_summary and "<" in clean_summary:
        # Feed HTML is untrusted: keep only safe markup (no scripts, handlers, js: URLs).
        clean_summary = clean_text(nh3.clean(clean_summary), MAX_SUMMARY)
    published = _sane_date(published, now)
    return FeedItem(
        key=item_key(clean_guid, url, clean_title, clean_summary, published),
        url=url,
        title=clean_title,
        summary=clean_summary,
        author=clean_text(author, MAX_AUTHOR),
        published=published,
        guid=clean_guid,
    )


def _dedupe(items: list[FeedItem], limit: int) -> list[FeedItem]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item.key not in seen:
            seen.add(item.key)
            out.append(item)
        if len(out) >= limit:
            break
    return out


def _looks_like_json(body: bytes, content_type: str) -> bool:
    return "json" in content_type.lower() or body.lstrip()[:1] == b"{"


def _parse_json_feed(body: bytes, base: str | None, limits: ParseLimits) -> ParsedFeed:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise FeedParseError(f"invalid JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith(
        "https://jsonfeed.org/version/"
    ):
        raise FeedParseError("JSON document is not a JSON Feed")
    raw_items = doc.get("items")
    if not isinstance(raw_items, list):
        raise FeedParseError("JSON Feed has no items list")
    now = datetime.now(UTC)
    home = clean_link(doc.get("home_page_url"), base)
    items = []
    for raw in raw_items[: limits.max_entries]:
        if not isinstance(raw, dict):
            continue
        authors = raw.get("authors") or ([raw["author"]] if raw.get("author") else [])
        author = authors[0].get("name") if authors and isinstance(authors[0], dict) else None
        published = None
        for key in ("date_published", "date_modified"):
            value = raw.get(key)
            if isinstance(value, str):
                try:
                    published = datetime.fromisoformat(value.replace("Z", "+00:00"))
                except ValueError:
                    continue
                if published.tzinfo is None:
                    published = published.replace(tzinfo=UTC)
                published = published.astimezone(UTC)
                break
        summary = raw.get("summary") or raw.get("content_text") or raw.get("content_html")
        items.append(
            _item(
                guid=raw.get("id"),
                link=raw.get("url") or raw.get("external_url"),
                title=raw.get("title"),
                summary=summary,
                author=author,
                published=published,
                base=home or base,
                now=now,
            )
        )
    return ParsedFeed(
        title=clean_text(doc.get("title"), MAX_TITLE),
        link=home,
        kind="json" + str(doc.get("version", ""))[-3:].replace("/", "").replace(".", ""),
        items=_dedupe(items, limits.max_entries),
        truncated=len(raw_items) > limits.max_entries,
    )


def parse_feed(
    body: bytes,
    *,
    content_type: str = "",
    base_url: str | None = None,
    limits: ParseLimits | None = None,
) -> ParsedFeed:
    """Parse feed bytes (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, JSON Feed 1.x) into clean items.

    Raises :class:`FeedParseError` when the bytes are too big or not a feed.
    """
    limits = limits or ParseLimits()
    if len(body) > limits.max_bytes:
        raise FeedParseError(f"feed larger than {limits.max_bytes} bytes")
    if _looks_like_json(body, content_type):
        return _parse_json_feed(body, base_url, limits)
    body = strip_dtd_subset(body)
    body, truncated = truncate_items(body, limits.max_entries)
    headers = {"content-type": content_type or "application/xml"}
    if base_url:
        headers["content-location"] = base_url
    # feedparser's own sanitizer and URI resolver cost more than the parse itself; item
    # links are resolved in clean_link and summaries sanitized with nh3 (ammonia) below.
    parsed = feedparser.parse(
        body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    version = parsed.get("version") or ""
    if not version and not parsed.entries:
        reason = parsed.get("bozo_exception")
        raise FeedParseError(f"not a feed: {str(reason)[:200] if reason else 'unknown format'}")
    channel = parsed.feed
    link = clean_link(channel.get("link"), base_url)
    now = datetime.now(UTC)
    items = []
    for entry in parsed.entries[: limits.max_entries]:
        summary = entry.get("summary")
        if not summary and entry.get("content"):
            summary = entry["content"][0].get("value")
        published = _to_datetime(entry.get("published_parsed") or entry.get("updated_parsed"))
        items.append(
            _item(
                guid=entry.get("id"),
                link=entry.get("link"),
                title=entry.get("title"),
                summary=summary,
                author=entry.get("author"),
                published=published,
                base=link or base_url,
                now=now,
            )
        )
    ttl = channel.get("ttl")
    ttl_s = int(ttl) * 60 if isinstance(ttl, str) and ttl.strip().isdigit() else None
    return ParsedFeed(
        title=clean_text(channel.get("title"), MAX_TITLE),
        link=link,
        kind=version or "unknown",
        items=_dedupe(items, limits.max_entries),
        ttl_s=ttl_s,
        truncated=truncated or len(parsed.entries) > limits.max_entries,
    )
