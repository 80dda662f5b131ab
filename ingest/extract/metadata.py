"""Title, author, site name and publication date, from trafilatura's metadata helpers.

``trafilatura.bare_extraction(with_metadata=True)`` also computes categories, tags and
the licence, which we do not store and which cost about a fifth of the metadata time;
so we call the parts we need ourselves, in trafilatura's order. The date comes from
htmldate (``original_date``: the publication, not the last update), quick search first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from htmldate import find_date
from lxml.html import HtmlElement
from trafilatura.metadata import (
    META_URL,
    examine_meta,
    extract_author,
    extract_meta_json,
    extract_sitename,
    extract_title,
)
from trafilatura.settings import set_date_params

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageMetadata:
    """What the page's markup says about itself (strings as found, possibly None)."""

    title: str | None
    author: str | None
    date: str | None
    site_name: str | None


def _publication_date(tree: HtmlElement, url: str | None) -> str | None:
    """htmldate's quick search (markup, URL), then its free-text search if that failed.

    The extensive search runs dateparser, whose per-language set-up costs seconds on
    first use in each process; most pages never need it.
    """
    for extensive in (False, True):
        params = set_date_params(extensive)
        params["url"] = url
        found = find_date(tree, **params)
        if found:
            return str(found)
    return None


def page_metadata(tree: HtmlElement, url: str | None) -> PageMetadata:
    """Metadata of a parsed page; ``tree`` is not modified."""
    found = examine_meta(tree)
    if found.author and " " not in found.author:
        found.author = None  # a single token is usually a handle or a site name
    try:
        found = extract_meta_json(tree, found)
    except Exception as exc:  # trafilatura's JSON-LD walker has known bugs on odd input
        LOGGER.debug("JSON-LD metadata skipped: %s", exc)
    title = found.title or extract_title(tree)
    author = found.author or extract_author(tree)
    date = _publication_date(tree, url)
    site_name = found.sitename or extract_sitename(tree)
    if site_name:
        site_name = site_name.lstrip("@")
        if "." not in site_name and site_name[:1].islower():
            site_name = site_name.title()
    elif url and (match := META_URL.match(url)):
        site_name = match[1]
    return PageMetadata(title=title, author=author, date=date, site_name=site_name)
