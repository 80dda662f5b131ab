"""Which canonical URL a page may claim for itself.

A page names its canonical URL with ``<link rel="canonical">`` or ``<meta property="og:url">``.
Both are page-controlled, so a hostile or broken page could claim any URL — another site's
article (hijacking its dedupe key), the site's home page (folding every article into one),
or something that is not a web URL at all. The rule, in order:

1. candidates: every ``<link rel=canonical href>``, then ``og:url``; relative values are
   resolved against the page URL;
2. a candidate must be ``http``/``https``, have a host, no user info (``user:pass@``), no
   whitespace or control characters, at most 2,048 characters, and a valid port;
3. when the page URL is known, the candidate's registrable domain (public-suffix aware,
   e.g. ``bbc.co.uk``) must equal the page's; IP-address or single-label hosts must match
   exactly. Cross-domain canonicals (syndication) are rejected: we keep what we fetched;
4. the candidate must not be the site's home page (path ``/`` or a root ``index.*``,
   no query) unless the page URL itself is that home page;
5. otherwise the first acceptable candidate wins; if none is acceptable the page URL is
   returned (``None`` when unknown).
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from lxml.html import HtmlElement
from tld import get_fld

MAX_URL_LENGTH = 2048
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f]")
_ROOT_INDEX = re.compile(r"^/(index|default|home)\.[a-z]{2,5}$", re.IGNORECASE)


def _registrable_domain(host: str) -> str:
    """``news.bbc.co.uk`` → ``bbc.co.uk``; hosts without a public suffix stay as they are."""
    fld = get_fld(host, fix_protocol=True, fail_silently=True)
    return str(fld).lower() if fld else host.lower()


def _is_home_page(path: str, query: str) -> bool:
    return not query and (path in ("", "/") or bool(_ROOT_INDEX.match(path)))


def _safe_host(url: str) -> str | None:
    """The lower-cased host if ``url`` is a safe absolute http(s) URL, else None."""
    if len(url) > MAX_URL_LENGTH or _UNSAFE_CHARS.search(url):
        return None
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if "@" in parts.netloc:
        return None
    return parts.hostname.lower().rstrip(".")


def acceptable_canonical(candidate: str, page_url: str | None) -> bool:
    """True if ``candidate`` (absolute) may stand for the page fetched from ``page_url``."""
    host = _safe_host(candidate)
    if host is None:
        return False
    parts = urlsplit(candidate)
    if page_url is None:
        return not _is_home_page(parts.path, parts.query)
    page_host = _safe_host(page_url)
    if page_host is None:
        return False
    if _registrable_domain(host) != _registrable_domain(page_host):
        return False
    page_parts = urlsplit(page_url)
    page_is_home = _is_home_page(page_parts.path, page_parts.query)
    return page_is_home or not _is_home_page(parts.path, parts.query)


def canonical_candidates(tree: HtmlElement) -> list[str]:
    """``<link rel=canonical>`` hrefs, then ``og:url`` contents, as written in the page."""
    found: list[str] = []
    for link in tree.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        href = (link.get("href") or "").strip()
        if "canonical" in rel and href:
            found.append(href)
    for meta in tree.iter("meta"):
        prop = (meta.get("property") or meta.get("name") or "").strip().lower()
        content = (meta.get("content") or "").strip()
        if prop == "og:url" and content:
            found.append(content)
    return found


def choose_canonical_url(candidates: list[str], page_url: str | None) -> str | None:
    """The first acceptable candidate (resolved against ``page_url``), else ``page_url``."""
    for raw in candidates:
        try:
            absolute = urljoin(page_url, raw) if page_url else raw
        except ValueError:  # e.g. an unterminated IPv6 literal
            continue
        if acceptable_canonical(absolute, page_url):
            return absolute
    return page_url
