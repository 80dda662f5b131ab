"""Article body and metadata from a parsed tree: trafilatura plus general clean-up.

What we do beyond ``trafilatura.extract`` defaults, and why (scores on the dev set are
logged in ``bench/extract_quality.py``):

* ``fast=True`` — skip trafilatura's readability/jusText comparison. On news pages the
  comparison more often swaps in a worse candidate than it rescues one, and it costs
  about a third of the time.
* ``include_comments=False`` — reader comments are not the article.
* a link/title filter (:func:`drop_link_and_title_blocks`): a short block whose text is
  (mostly) the text of one ``<a>`` in the page is a teaser for another page; a block that
  repeats the page's title (or the feed entry's) is the headline, which is metadata.
* split bodies (:func:`continuation_paragraphs`): when the first extracted paragraph
  sits in a container with same-class siblings holding much more prose, read them too.
* a boilerplate filter over the extracted blocks (:func:`drop_boilerplate_blocks`):
  "Related:", "Read more", newsletter and social-follow prompts, copyright lines. These are
  patterns of the *genre* (any news site, several languages), not of particular sites.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from lxml.etree import _Element
from lxml.html import HtmlElement
from trafilatura import bare_extraction
from trafilatura.xml import xmltotxt

from ingest.extract.metadata import page_metadata


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
      | recommended\b\s*[:|] | don['’]?t\s+miss\b | most\s+(read|popular)\b | trending\b\s*[:|]
      | sign\s+up\b | subscribe\b | click\s+here\b | follow\s+(us|\w+)(\s+\w+){0,4}\s+on\s+
        (twitter|facebook|instagram|linkedin|youtube|tiktok)
      | share\s+(this|on)\b | advertisement\s*$ | copyright\b | ©
      | lesen\s+sie\s+auch | mehr\s+zum\s+thema | weiterlesen\b
      | lire\s+aussi | à\s+lire\s+aussi | leia\s+(também|mais) | veja\s+também
      | leggi\s+anche | lee\s+también | ver\s+también
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# Anywhere in a short block: newsletter and social prompts, reporter contact lines.
_PROMOTION = re.compile(
    r"""\b(newsletters?|inbox
      | follow\s+(us|me|him|her|them|\w+)(\s+\w+){0,3}\s+on\s+(twitter|facebook|instagram)
      | may\s+be\s+reached\s+at | reach\s+the\s+reporters?\b | email\s+the\s+(writer|author)
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_MAX_BOILERPLATE_WORDS = 40
_BLOCK_TAGS = ("p", "head", "item", "quote", "list", "table")


def _block_text(element: _Element) -> str:
    """The block's text with line breaks (``<lb/>``) read as spaces, whitespace collapsed."""
    parts: list[str] = []

    def walk(node: _Element) -> None:
        parts.append(" " if node.tag == "lb" else node.text or "")
        for child in node:
            walk(child)
            parts.append(child.tail or "")

    walk(element)
    return " ".join("".join(parts).split())


def is_boilerplate_block(text: str) -> bool:
    """A short block that reads like a link list, a newsletter/contact prompt or a footer."""
    if not text or len(text.split()) > _MAX_BOILERPLATE_WORDS:
        return False
    return bool(_BOILERPLATE_START.match(text) or _PROMOTION.search(text))


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
# A block counts as a link when one link's text covers at least this share of its words.
_LINK_SHARE = 0.8
_MIN_TITLE_PART_WORDS = 4
_TITLE_SEPARATOR = re.compile(r"\s+[|–—-]\s+")
_BARE_URL = re.compile(r"^(https?://|www\.)\S+$")


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


def _is_link_block(words: list[str], links: set[str]) -> bool:
    """The block is one link's text, allowing a short tail (e.g. "[VIDEO]", "|")."""
    count = len(words)
    if count < _MIN_LINK_BLOCK_WORDS:
        return False
    shortest = max(_MIN_LINK_BLOCK_WORDS, math.ceil(_LINK_SHARE * count))
    return any(" ".join(words[:size]) in links for size in range(count, shortest - 1, -1))


def title_variants(*titles: str | None) -> set[str]:
    """Normalised titles, also without a " | Site name" style suffix or prefix."""
    found: set[str] = set()
    for title in titles:
        if not title:
            continue
        found.add(_normalised_words(title))
        for part in _TITLE_SEPARATOR.split(title):
            words = _normalised_words(part)
            if words.count(" ") + 1 >= _MIN_TITLE_PART_WORDS:
                found.add(words)
    found.discard("")
    return found


def drop_link_and_title_blocks(body: _Element, links: set[str], titles: set[str]) -> None:
    """Remove blocks that repeat the headline, are a bare URL, or are one link's text.

    The headline is metadata, not body; a block that is all link is a teaser for another
    page. Both are judged against this page's own title and links, no site rules.
    """
    for element in list(body.iter("p", "item", "head")):
        parent = element.getparent()
        if parent is None:
            continue
        text = _block_text(element)
        words = _normalised_words(text)
        if words in titles or _BARE_URL.match(text) or _is_link_block(words.split(), links):
            parent.remove(element)


_MIN_ANCHOR_WORDS = 10
_MIN_CONTINUATION_WORDS = 8
_MAX_CONTAINER_CLIMB = 4
_MIN_CONTINUATION_SHARE = 0.5


def _container_with_twins(anchor: HtmlElement) -> HtmlElement | None:
    """The nearest classed ancestor that has a later sibling with the same tag and class."""
    node = anchor.getparent()
    for _ in range(_MAX_CONTAINER_CLIMB):
        if node is None:
            return None
        klass = node.get("class")
        if klass and any(
            sib.tag == node.tag and sib.get("class") == klass for sib in node.itersiblings()
        ):
            return node
        node = node.getparent()
    return None


def continuation_paragraphs(tree: HtmlElement, extracted: str) -> list[str]:
    """Paragraphs from sibling "chunk" containers that trafilatura did not take.

    Some templates split one article body into several sibling containers with the same
    class (e.g. around ads); trafilatura keeps the first. We find the container of the first
    extracted paragraph and read the same-class containers that follow it.
    """
    lines = [_normalised_words(line) for line in extracted.splitlines()]
    seen = set(lines)
    anchor_text = next((w for w in lines if w.count(" ") + 1 >= _MIN_ANCHOR_WORDS), None)
    if anchor_text is None:
        return []
    anchor = next(
        (p for p in tree.iter("p") if _normalised_words(p.text_content()) == anchor_text), None
    )
    container = _container_with_twins(anchor) if anchor is not None else None
    if container is None:
        return []
    found: list[str] = []
    klass = container.get("class")
    for sibling in container.itersiblings():
        if sibling.tag != container.tag or sibling.get("class") != klass:
            continue
        for paragraph in sibling.iter("p"):
            text = " ".join(paragraph.text_content().split())
            words = _normalised_words(text)
            if words.count(" ") + 1 >= _MIN_CONTINUATION_WORDS and words not in seen:
                seen.add(words)
                found.append(text)
    # A split body leaves a lot behind; a little (an author bio, an "About us" blurb in a
    # look-alike box) is more likely boilerplate than article.
    added = sum(len(_WORD.findall(text)) for text in found)
    if added < _MIN_CONTINUATION_SHARE * len(_WORD.findall(extracted)):
        return []
    return found


def extract_raw(tree: HtmlElement, url: str | None, feed_title: str | None = None) -> RawExtraction:
    """Run trafilatura once on ``tree`` (not modified), clean up, and add metadata."""
    document = bare_extraction(
        tree,
        url=url,
        fast=True,
        include_comments=False,
        include_tables=True,
        with_metadata=False,
    )
    metadata = page_metadata(tree, url)
    if document is None or isinstance(document, dict):
        return RawExtraction("", metadata.title, metadata.author, metadata.date, metadata.site_name)
    body = document.body
    text = ""
    if body is not None:
        drop_boilerplate_blocks(body)
        titles = title_variants(metadata.title, feed_title)
        drop_link_and_title_blocks(body, link_texts(tree), titles)
        text = xmltotxt(body, include_formatting=False)
        more = continuation_paragraphs(tree, text)
        if more:
            text = "\n".join([text, *more])
    return RawExtraction(
        text=text.strip(),
        title=metadata.title,
        author=metadata.author,
        date=metadata.date,
        site_name=metadata.site_name,
    )
