"""The pure, in-process extractor: page bytes → :class:`Article`.

This function has no time limit of its own; untrusted pages should go through
:class:`ingest.extract.pool.ExtractionPool`, which runs it in killable worker processes.
The cheap guards (byte cap, element count, not-HTML) do run here, before any parsing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace

from lxml import etree
from lxml.html import HtmlElement, HTMLParser, document_fromstring

from ingest.extract.body import extract_raw
from ingest.extract.canonical import canonical_candidates, choose_canonical_url
from ingest.extract.decode import ExtractionError, check_element_count, decode_html

# Same defaults as ingest.config.Settings; the pool passes the configured values.
DEFAULT_MAX_PAGE_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_ELEMENTS = 200_000


@dataclass(frozen=True)
class Article:
    """What a page says about itself. ``error`` is ``None`` or ``"class: reason"``."""

    title: str | None = None
    text: str = ""
    author: str | None = None
    published: dt.date | None = None
    language: str | None = None
    site_name: str | None = None
    canonical_url: str | None = None
    error: str | None = None

    @property
    def error_class(self) -> str | None:
        """The part of ``error`` before the colon (see ``decode.ERROR_CLASSES``)."""
        return self.error.split(":", 1)[0] if self.error else None

    @classmethod
    def failed(cls, error_class: str, reason: str, canonical_url: str | None = None) -> Article:
        """An article that records why extraction did not happen."""
        return cls(canonical_url=canonical_url, error=f"{error_class}: {reason}")


_LANGUAGE_TAG = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*$")
_SPACES = re.compile(r"\s+")


def _parse_tree(text: str) -> HtmlElement:
    # No huge_tree: libxml2's own depth and size limits stay on as a second guard.
    parser = HTMLParser(remove_comments=True, remove_pis=True, collect_ids=False)
    try:
        return document_fromstring(text, parser=parser)
    except (etree.ParserError, ValueError) as exc:
        raise ExtractionError("not_html", f"unparseable: {exc}") from exc


def _language(tree: HtmlElement) -> str | None:
    """Primary language subtag from ``<html lang>``, Content-Language or ``og:locale``."""
    candidates = [tree.get("lang"), tree.get("xml:lang")]
    for meta in tree.iter("meta"):
        key = (meta.get("http-equiv") or meta.get("property") or meta.get("name") or "").lower()
        if key in ("content-language", "og:locale", "language", "dc.language"):
            candidates.append(meta.get("content"))
    for value in candidates:
        match = _LANGUAGE_TAG.match((value or "").strip().split(",")[0].strip())
        if match:
            return match.group(1).lower()
    return None


def _clean(value: str | None) -> str | None:
    cleaned = _SPACES.sub(" ", value or "").strip()
    return cleaned or None


def _iso_date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


def extract_article(
    html: bytes,
    url: str | None = None,
    *,
    feed_title: str | None = None,
    feed_summary: str | None = None,
    content_type: str | None = None,
    max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> Article:
    """Extract body text and metadata from page bytes; never raises for bad input.

    ``url`` is where the page was fetched from (used for relative links, the canonical URL
    rule and date hints). ``feed_title``/``feed_summary`` are what the feed entry said:
    the feed title stands in when the page has no title and, like the page title, marks
    headline blocks to drop from the body; the summary is accepted but not used yet.
    ``content_type`` is the HTTP header, if known.
    Failures come back as an Article with ``error`` set (class from ``ERROR_CLASSES``).
    """
    del feed_summary  # accepted for a stable signature; not used by the current method
    try:
        if len(html) > max_page_bytes:
            raise ExtractionError("too_large", f"{len(html)} bytes > {max_page_bytes}")
        text = decode_html(html, content_type)
        check_element_count(text, max_elements)
        tree = _parse_tree(text)
        raw = extract_raw(tree, url, feed_title)
        canonical = choose_canonical_url(canonical_candidates(tree), url)
        article = Article(
            title=_clean(raw.title) or _clean(feed_title),
            text=raw.text,
            author=_clean(raw.author),
            published=_iso_date(raw.date),
            language=_language(tree),
            site_name=_clean(raw.site_name),
            canonical_url=canonical,
        )
    except ExtractionError as exc:
        return Article.failed(exc.error_class, exc.reason, canonical_url=url)
    except MemoryError:
        return Article.failed("memory", "out of memory while extracting", canonical_url=url)
    except RecursionError:
        return Article.failed("too_many_elements", "tree too deep", canonical_url=url)
    if not article.text:
        return replace(article, error="empty: no article text found")
    return article
