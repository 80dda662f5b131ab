"""Article body and metadata from a parsed tree: trafilatura plus general clean-up.

What we do beyond ``trafilatura.extract`` defaults, and why (scores on the dev set are
logged in ``bench/extract_quality.py``):

* ``fast=True`` — skip trafilatura's readability/jusText comparison. On news pages the
  comparison more often swaps in a worse candidate than it rescues one, and it costs
  about a third of the time.
* ``include_comments=False`` — reader comments are not the article.
* a link-block filter (:func:`drop_link_blocks`): a short block whose whole text is the
  text of one ``<a>`` in the page is a related-story or product link, not prose.
* a boilerplate filter over the extracted blocks (:func:`drop_boilerplate_blocks`):
  "Related:", "Read more", newsletter and social-follow prompts, copyright lines. These are
  patterns of the *genre* (any news site, several languages), not of particular sites.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml.etree import _Element
from lxml.html import HtmlElement
from trafilatura import bare_extraction
from trafilatura.xml import xmltotxt


@dataclass(frozen=True)
class RawExtraction:
    """What trafilatura found, before our own metadata choices."""

    text: str
    title: str | None
    author: str | None
    date: str | None
    site_name: str | None


# Blocks that start like this are navigation or promotion, not article prose.
_BOILERPLATE_START = re.compile(
    r"""^\W{0,3}(
        related(\s+(articles?|stories|content|coverage|posts?|reading|links?))?\s*[:|]
      | read\s+(more|also|next)\b | see\s+(more|also)\b | also\s+read\b | more\s+on\s+this
      | recommended\b\s*[:|] | don'?t\s+miss\b | most\s+(read|popular)\b | trending\b\s*[:|]
      | sign\s+up\b | subscribe\b | click\s+here\b | follow\s+(us|\w+)(\s+\w+){0,4}\s+on\s+
        (twitter|facebook|instagram|linkedin|youtube|tiktok)
      | share\s+(this|on)\b | advertisement\s*$ | copyright\b | ©
      | lesen\s+sie\s+auch | mehr\s+zum\s+thema | weiterlesen\b
      | lire\s+aussi | à\s+lire\s+aussi | leia\s+(também|mais) | veja\s+também
      | leggi\s+anche | lee\s+también | ver\s+también
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_MAX_BOILERPLATE_WORDS = 40
_BLOCK_TAGS = ("p", "head", "item", "quote", "list", "table")


def _block_text(element: _Element) -> str:
    return " ".join("".join(element.itertext()).split())


def is_boilerplate_block(text: str) -> bool:
    """A short block that reads like a link list, prompt or footer line."""
    return bool(text) and (
        len(text.split()) <= _MAX_BOILERPLATE_WORDS and bool(_BOILERPLATE_START.match(text))
    )


def drop_boilerplate_blocks(body: _Element) -> None:
    """Remove boilerplate blocks from trafilatura's XML body, in place."""
    for element in list(body.iter(*_BLOCK_TAGS)):
        parent = element.getparent()
        if parent is None:
            continue
        if is_boilerplate_block(_block_text(element)):
            if element.tail and element.tail.strip():
                previous = element.getprevious()
                if previous is not None:
                    previous.tail = (previous.tail or "") + element.tail
                else:
                    parent.text = (parent.text or "") + element.tail
            parent.remove(element)


_WORD = re.compile(r"\w+")
# Link blocks shorter than this are often product or section names that belong to the text.
_MIN_LINK_BLOCK_WORDS = 5
_MAX_LINK_BLOCK_WORDS = 25


def _normalised_words(text: str) -> str:
    return " ".join(_WORD.findall(text.casefold()))


def link_texts(tree: HtmlElement) -> set[str]:
    """Normalised texts of the page's short links (``<a>`` elements)."""
    found: set[str] = set()
    for anchor in tree.iter("a"):
        words = _normalised_words(anchor.text_content())
        if _MIN_LINK_BLOCK_WORDS <= words.count(" ") + 1 <= _MAX_LINK_BLOCK_WORDS:
            found.add(words)
    return found


def drop_link_blocks(body: _Element, links: set[str]) -> None:
    """Remove paragraphs, list items and headings that are exactly one link's text."""
    for element in list(body.iter("p", "item", "head")):
        parent = element.getparent()
        if parent is not None and _normalised_words(_block_text(element)) in links:
            parent.remove(element)


def extract_raw(tree: HtmlElement, url: str | None) -> RawExtraction:
    """Run trafilatura once (metadata included) on ``tree`` (not modified) and clean up."""
    document = bare_extraction(
        tree,
        url=url,
        fast=True,
        include_comments=False,
        include_tables=True,
        with_metadata=True,
    )
    if document is None or isinstance(document, dict):
        return RawExtraction("", None, None, None, None)
    body = document.body
    text = ""
    if body is not None:
        drop_boilerplate_blocks(body)
        drop_link_blocks(body, link_texts(tree))
        text = xmltotxt(body, include_formatting=False)
    return RawExtraction(
        text=text.strip(),
        title=document.title,
        author=document.author,
        date=document.date,
        site_name=document.sitename,
    )
