"""The offline demo corpus: fictional outlets' feeds and article pages, plus the ground truth.

The data lives in ``ingest/demo/corpus/`` (package data, read with :mod:`importlib.resources`
so it works from an installed wheel):

* ``outlets.yaml`` — one entry per outlet: key, name, ``.example`` domain, feed path and
  format, language, the feed file and ``routes`` (served URL path -> page file).
* ``<outlet key>/feed.xml`` or ``feed.json`` and ``<outlet key>/pages/*.html``.
* ``ground-truth.yaml`` — for every page: its story, ``duplicate_of`` (syndicated copies),
  ``revision_of`` (later versions of one article), expected topics and metadata.

Feeds and pages are *templates*: every absolute URL is written as ``{base}/path`` and
:func:`render` substitutes the outlet's base URL (e.g. ``http://127.0.0.5:8801``) when served.
Routes are keyed by URL path only; a server should ignore the query string when looking one
up, because some feed links carry tracking parameters (``?utm_source=rss``) on purpose.

Usage::

    corpus = load_corpus()
    ledger = corpus.outlet("ledger")
    page = render(ledger.routes["/world/2025/sep/25/..."], "http://127.0.0.5:8801")
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from importlib.resources.abc import Traversable
from types import MappingProxyType
from typing import Literal, cast

import yaml

BASE_PLACEHOLDER = b"{base}"
"""The placeholder every absolute URL in the corpus starts with."""

FeedFormat = Literal["rss", "atom", "json"]
FEED_FORMATS: tuple[FeedFormat, ...] = ("rss", "atom", "json")

_PACKAGE = "ingest.demo"
_DATA_DIR = "corpus"


class DemoCorpusError(Exception):
    """The bundled corpus is missing or malformed (a packaging or editing mistake)."""


@dataclass(frozen=True)
class Outlet:
    """One fictional news outlet: its feed and the pages it serves (all templates)."""

    key: str
    name: str
    domain: str
    feed_path: str
    feed_format: FeedFormat
    language: str
    description: str
    feed: bytes
    routes: Mapping[str, bytes]

    def template_for(self, path: str) -> bytes | None:
        """The template served at URL ``path`` (feed or page), or None if there is none."""
        if path == self.feed_path:
            return self.feed
        return self.routes.get(path)


@dataclass(frozen=True, order=True)
class ArticleRef:
    """Points at one page of the corpus: outlet key and served URL path."""

    outlet: str
    path: str


@dataclass(frozen=True)
class ExpectedArticle:
    """What the pipeline should conclude about one page."""

    outlet: str
    path: str
    story: str
    duplicate_of: ArticleRef | None
    revision_of: ArticleRef | None
    topics: tuple[str, ...]
    title: str
    author: str
    published: datetime
    modified: datetime
    canonical_path: str
    in_feed: bool

    @property
    def ref(self) -> ArticleRef:
        """This article's reference (outlet, path)."""
        return ArticleRef(self.outlet, self.path)


@dataclass(frozen=True)
class ExpectedStory:
    """One real-world event; its expected topics are the union over its articles."""

    id: str
    headline: str
    headline_terms: tuple[str, ...]
    topics: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class GroundTruth:
    """Expected stories, duplicates, revisions and topics. Articles are in stream order."""

    topics: tuple[str, ...]
    stories: tuple[ExpectedStory, ...]
    articles: tuple[ExpectedArticle, ...]

    def story(self, story_id: str) -> ExpectedStory:
        """The story with id ``story_id`` (KeyError if unknown)."""
        for story in self.stories:
            if story.id == story_id:
                return story
        raise KeyError(story_id)

    def article(self, ref: ArticleRef) -> ExpectedArticle:
        """The article at ``ref`` (KeyError if unknown)."""
        for article in self.articles:
            if article.ref == ref:
                return article
        raise KeyError(ref)


@dataclass(frozen=True)
class DemoCorpus:
    """The whole bundled corpus."""

    outlets: tuple[Outlet, ...]
    ground_truth: GroundTruth

    def outlet(self, key: str) -> Outlet:
        """The outlet with ``key`` (KeyError if unknown)."""
        for outlet in self.outlets:
            if outlet.key == key:
                return outlet
        raise KeyError(key)

    @property
    def page_count(self) -> int:
        """Number of article pages across all outlets."""
        return sum(len(outlet.routes) for outlet in self.outlets)


def render(template: bytes, base: str) -> bytes:
    """Replace every ``{base}`` in ``template`` with ``base`` (a trailing slash is dropped)."""
    return template.replace(BASE_PLACEHOLDER, base.rstrip("/").encode("utf-8"))


@functools.cache
def load_corpus() -> DemoCorpus:
    """Load and cross-check the bundled corpus. Raises DemoCorpusError if it is malformed."""
    root = resources.files(_PACKAGE).joinpath(_DATA_DIR)
    outlets_doc = _mapping(_load_yaml(root, "outlets.yaml"), "outlets.yaml")
    outlets = tuple(
        _outlet(root, _mapping(item, f"outlets.yaml: outlets[{i}]"))
        for i, item in enumerate(_list(outlets_doc, "outlets", "outlets.yaml"))
    )
    truth = _ground_truth(_mapping(_load_yaml(root, "ground-truth.yaml"), "ground-truth.yaml"))
    corpus = DemoCorpus(outlets=outlets, ground_truth=truth)
    _check_references(corpus)
    return corpus


# --- parsing helpers: the data is ours, but a bad edit should still say what is wrong -------


def _read(root: Traversable, relative: str) -> bytes:
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise DemoCorpusError(f"corpus file path {relative!r} must be relative, without '..'")
    node = root
    for part in parts:
        node = node.joinpath(part)
    try:
        return node.read_bytes()
    except OSError as exc:
        raise DemoCorpusError(f"corpus file {relative!r} cannot be read: {exc}") from exc


def _load_yaml(root: Traversable, name: str) -> object:
    try:
        return yaml.safe_load(_read(root, name))
    except yaml.YAMLError as exc:
        raise DemoCorpusError(f"{name} is not valid YAML: {exc}") from exc


def _mapping(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise DemoCorpusError(f"{where}: expected a mapping")
    return cast("Mapping[str, object]", value)


def _list(doc: Mapping[str, object], key: str, where: str) -> list[object]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise DemoCorpusError(f"{where}: {key!r} must be a list")
    return value


def _str(doc: Mapping[str, object], key: str, where: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise DemoCorpusError(f"{where}: {key!r} must be a non-empty string")
    return value


def _strings(doc: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    items = _list(doc, key, where)
    if not all(isinstance(item, str) for item in items):
        raise DemoCorpusError(f"{where}: {key!r} must be a list of strings")
    return tuple(cast("list[str]", items))


def _datetime(doc: Mapping[str, object], key: str, where: str) -> datetime:
    text = _str(doc, key, where)
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise DemoCorpusError(f"{where}: {key!r} is not an ISO 8601 date-time: {text!r}") from exc
    if value.tzinfo is None:
        raise DemoCorpusError(f"{where}: {key!r} has no UTC offset: {text!r}")
    return value


def _ref(doc: Mapping[str, object], key: str, where: str) -> ArticleRef | None:
    value = doc.get(key)
    if value is None:
        return None
    ref = _mapping(value, f"{where}: {key}")
    return ArticleRef(_str(ref, "outlet", where), _str(ref, "path", where))


def _outlet(root: Traversable, doc: Mapping[str, object]) -> Outlet:
    key = _str(doc, "key", "outlets.yaml")
    where = f"outlets.yaml: outlet {key!r}"
    feed_format = _str(doc, "feed_format", where)
    if feed_format not in FEED_FORMATS:
        raise DemoCorpusError(f"{where}: feed_format must be one of {FEED_FORMATS}")
    routes_doc = _mapping(doc.get("routes"), f"{where}: routes")
    routes: dict[str, bytes] = {}
    for path, file in routes_doc.items():
        if not path.startswith("/") or not isinstance(file, str):
            raise DemoCorpusError(f"{where}: route {path!r} must map '/path' to a file name")
        routes[path] = _read(root, f"{key}/{file}")
    return Outlet(
        key=key,
        name=_str(doc, "name", where),
        domain=_str(doc, "domain", where),
        feed_path=_str(doc, "feed_path", where),
        feed_format=feed_format,
        language=_str(doc, "language", where),
        description=_str(doc, "description", where),
        feed=_read(root, f"{key}/{_str(doc, 'feed_file', where)}"),
        routes=MappingProxyType(routes),
    )


def _ground_truth(doc: Mapping[str, object]) -> GroundTruth:
    where = "ground-truth.yaml"
    stories = []
    for i, item in enumerate(_list(doc, "stories", where)):
        story = _mapping(item, f"{where}: stories[{i}]")
        at = f"{where}: stories[{i}]"
        stories.append(
            ExpectedStory(
                id=_str(story, "id", at),
                headline=_str(story, "headline", at),
                headline_terms=_strings(story, "headline_terms", at),
                topics=_strings(story, "topics", at),
                note=_str(story, "note", at),
            )
        )
    articles = []
    for i, item in enumerate(_list(doc, "articles", where)):
        art = _mapping(item, f"{where}: articles[{i}]")
        at = f"{where}: articles[{i}]"
        articles.append(
            ExpectedArticle(
                outlet=_str(art, "outlet", at),
                path=_str(art, "path", at),
                story=_str(art, "story", at),
                duplicate_of=_ref(art, "duplicate_of", at),
                revision_of=_ref(art, "revision_of", at),
                topics=_strings(art, "topics", at),
                title=_str(art, "title", at),
                author=_str(art, "author", at),
                published=_datetime(art, "published", at),
                modified=_datetime(art, "modified", at),
                canonical_path=_str(art, "canonical_path", at),
                in_feed=art.get("in_feed") is True,
            )
        )
    return GroundTruth(
        topics=_strings(doc, "topics", where), stories=tuple(stories), articles=tuple(articles)
    )


def _check_references(corpus: DemoCorpus) -> None:
    """Every ground-truth reference must name a served page, story and known topic."""
    served = {ArticleRef(outlet.key, path) for outlet in corpus.outlets for path in outlet.routes}
    truth = corpus.ground_truth
    story_ids = {story.id for story in truth.stories}
    for article in truth.articles:
        name = f"ground-truth.yaml: article {article.outlet}{article.path}"
        refs = [article.ref, article.duplicate_of, article.revision_of]
        missing = [ref for ref in refs if ref is not None and ref not in served]
        if missing:
            raise DemoCorpusError(f"{name}: no such page {missing[0]}")
        if article.story not in story_ids:
            raise DemoCorpusError(f"{name}: unknown story {article.story!r}")
        unknown = set(article.topics) - set(truth.topics)
        if unknown:
            raise DemoCorpusError(f"{name}: unknown topics {sorted(unknown)}")
    described = {article.ref for article in truth.articles}
    undescribed = sorted(served - described)
    if undescribed:
        raise DemoCorpusError(f"ground-truth.yaml: page {undescribed[0]} has no entry")
