"""Build the loopback news site of the end-to-end benchmark, in memory, deterministically.

Base pages are the dev extraction pages (``/work/shared/data/extraction-dev/html``, real
news pages) and the demo corpus pages (``ingest/demo/corpus``). From them we make
``pages`` served article pages spread over ``hosts`` loopback hosts, each host with one
RSS feed listing its articles:

* originals (most pages): a base page's markup with its paragraphs replaced by paragraphs
  drawn from the whole pool and a title made from the new lead, so every original has
  its own text in a real page layout;
* syndicated copies: an earlier original re-served on another host under its own URL
  (same text: the pipeline must fold it as a duplicate);
* revisions: an earlier original with one paragraph changed, at a new path on the same
  host, its canonical pointing at the original URL (a new version of one article);
* tracking variants: extra feed entries linking to an already listed page with
  ``utm_*`` parameters (not extra pages: the same page under another URL).

Every absolute link to the page's original site, and its canonical/og:url, are
rewritten to the served host. Only seeded randomness: the same arguments give the same
site.
"""

from __future__ import annotations

import gzip
import html
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

DEV_PAGES = Path("/work/shared/data/extraction-dev/html")
# Larger dev pages cost trafilatura 0.15-1.7 s each; keeping them would put the benchmark
# far beyond its 10-minute budget on 2 cores without changing the comparison (both sides
# extract the same pages).
MAX_BASE_BYTES = 120_000
FEED_PATH = "/feed.xml"
SECTIONS = ("world", "politics", "business", "technology", "science", "sport", "culture")

_P = re.compile(r"(<p\b[^>]*>)(.*?)(</p>)", re.S | re.I)
_TAG = re.compile(r"<[^>]+>")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.S | re.I)
_CANONICAL_TAG = re.compile(r"<link\b[^>]*\brel=[\"']?canonical\b[^>]*>", re.I)
_OG_URL_TAG = re.compile(r"<meta\b[^>]*\bproperty=[\"']?og:url\b[^>]*>", re.I)
_HREF = re.compile(r"\bhref=[\"']([^\"']+)[\"']", re.I)
_CONTENT = re.compile(r"\bcontent=[\"']([^\"']+)[\"']", re.I)
_HEAD = re.compile(r"<head\b[^>]*>", re.I)


@dataclass(frozen=True)
class BasePage:
    """A template page: its HTML and the origin its absolute links point at."""

    name: str
    html: str
    origin: str | None  # scheme://host of its original canonical, if any


@dataclass
class Site:
    """Everything the server serves and the benchmark needs to know."""

    hosts: list[str]
    port: int
    pages: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (host, path) -> body
    feeds: dict[str, bytes] = field(default_factory=dict)  # host -> RSS body
    entry_urls: list[str] = field(default_factory=list)  # every feed link, feed order
    kinds: dict[str, int] = field(default_factory=dict)

    def base(self, host: str) -> str:
        return f"http://{host}:{self.port}"

    def feed_urls(self) -> list[str]:
        return [self.base(h) + FEED_PATH for h in self.hosts]


def _origin(page: str) -> str | None:
    for pattern, attr in ((_CANONICAL_TAG, _HREF), (_OG_URL_TAG, _CONTENT)):
        tag = pattern.search(page)
        if tag:
            found = attr.search(tag.group(0))
            if found:
                parts = urlsplit(html.unescape(found.group(1)))
                if parts.scheme in ("http", "https") and parts.netloc:
                    return f"{parts.scheme}://{parts.netloc}"
    return None


def load_base_pages() -> list[BasePage]:
    """The dev extraction pages (up to MAX_BASE_BYTES) and the demo corpus pages."""
    from ingest.demo.corpus import load_corpus, render

    bases: list[BasePage] = []
    for path in sorted(DEV_PAGES.glob("*.html.gz")):
        text = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        if len(text) <= MAX_BASE_BYTES:
            bases.append(BasePage(path.name, text, _origin(text)))
    demo_origin = "http://demo.invalid"
    for outlet in load_corpus().outlets:
        for route, template in sorted(outlet.routes.items()):
            text = render(template, demo_origin).decode("utf-8", "replace")
            bases.append(BasePage(f"{outlet.key}{route}", text, demo_origin))
    return bases


def _paragraph_pool(bases: list[BasePage]) -> list[str]:
    pool = []
    for base in bases:
        for match in _P.finditer(base.html):
            inner = match.group(2)
            if len(_TAG.sub("", inner).strip()) >= 80:
                pool.append(inner)
    return pool


def _rehost(page: str, origin: str | None, base: str) -> str:
    """Point every absolute link to the page's original site at the served host."""
    if not origin:
        return page
    host = urlsplit(origin).netloc
    bare = host.removeprefix("www.")
    for prefix in (f"https://{host}", f"http://{host}", f"https://{bare}", f"http://{bare}"):
        page = page.replace(prefix, base)
    return page.replace(f"//{host}/", f"{base}/")


def _set_canonical(page: str, url: str) -> str:
    """Drop the page's canonical and og:url tags, put ours first in <head>."""
    tags = (
        f'<link rel="canonical" href="{html.escape(url)}">'
        f'<meta property="og:url" content="{html.escape(url)}">'
    )
    page = _OG_URL_TAG.sub("", _CANONICAL_TAG.sub("", page))
    head = _HEAD.search(page)
    at = head.end() if head else 0
    return page[:at] + tags + page[at:]


def _retitle(page: str, title: str) -> str:
    old = _TITLE.search(page)
    if old is None:
        return page
    old_text = old.group(1).strip()
    new = html.escape(title)
    if old_text:
        page = page.replace(old_text, new)
    return page


def _headline(paragraph: str, rng: random.Random) -> str:
    words = html.unescape(_TAG.sub("", paragraph)).split()
    start = rng.randrange(max(1, len(words) - 10))
    return " ".join(words[start : start + rng.randint(6, 11)]).strip(" ,.;:") or "Untitled"


_SYLLABLES = ("ka", "lo", "mir", "ten", "vos", "dra", "bel", "quin", "sar", "hu", "zen", "ol")


@dataclass
class _Event:
    """What the articles about one real-world event share: names, a figure, paragraphs."""

    names: list[str]
    figure: str
    paragraphs: list[str]


def _new_event(pool: list[str], rng: random.Random) -> _Event:
    names = [
        "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
        for _ in range(4)
    ]
    return _Event(names, f"{rng.randint(2, 999)},{rng.randint(100, 999)}", rng.sample(pool, 6))


def _shuffle_body(page: str, pool: list[str], event: _Event, rng: random.Random) -> tuple[str, str]:
    """Replace long paragraphs by the event's and the pool's paragraphs, the event's names
    woven in (the pool is small: without them unrelated articles would look alike).
    Returns (page, first new paragraph)."""
    first: list[str] = []

    def swap(match: re.Match[str]) -> str:
        if len(_TAG.sub("", match.group(2)).strip()) < 80:
            return match.group(0)
        source = event.paragraphs if rng.random() < 0.5 else pool
        chosen = (
            f"In {rng.choice(event.names)}, {rng.choice(event.names)} said {event.figure} "
            f"people were affected. {rng.choice(source)}"
        )
        if not first:
            first.append(chosen)
        return match.group(1) + chosen + match.group(3)

    page = _P.sub(swap, page)
    return page, first[0] if first else rng.choice(pool)


def _revise(page: str, pool: list[str], rng: random.Random) -> str:
    matches = [m for m in _P.finditer(page) if len(_TAG.sub("", m.group(2)).strip()) >= 80]
    if not matches:
        return page
    target = rng.choice(matches)
    return page[: target.start(2)] + rng.choice(pool) + page[target.end(2) :]


@dataclass
class _Article:
    host: str
    path: str
    title: str
    lead: str
    published: datetime
    body: str  # before rehosting: links still point at the template origin
    origin: str | None


def build_site(
    pages: int = 5000,
    hosts: int = 100,
    port: int = 0,
    first_address: str = "127.0.3.1",
    seed: int = 20261128,
    now: datetime | None = None,
) -> Site:
    """The whole site: ``pages`` article pages over ``hosts`` hosts (+ tracking variants)."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    prefix, last = first_address.rsplit(".", 1)
    host_names = [f"{prefix}.{int(last) + i}" for i in range(hosts)]
    site = Site(hosts=host_names, port=port)
    bases = load_base_pages()
    pool = _paragraph_pool(bases)
    originals: list[_Article] = []
    by_host: dict[str, list[_Article]] = {h: [] for h in host_names}
    event: _Event | None = None
    kinds = {"original": 0, "syndicated": 0, "revision": 0, "tracking_variant": 0}
    for slot in range(pages):
        host = host_names[slot % hosts]
        published = now - timedelta(minutes=rng.randrange(48 * 60))
        section = rng.choice(SECTIONS)
        stamp = published.strftime("%Y/%m/%d")
        roll = rng.random()
        if originals and roll < 0.15:  # syndicated copy of an earlier original elsewhere
            source = rng.choice(originals[-400:])
            kind = "syndicated"
            article = _Article(
                host,
                f"/{section}/{stamp}/syndicated-{slot}.html",
                source.title,
                source.lead,
                source.published + timedelta(minutes=rng.randint(5, 180)),
                source.body,
                source.origin,
            )
            canonical = site.base(host) + article.path
            body = source.body
        elif roll < 0.22 and by_host[host]:  # revision: same canonical, one paragraph new
            source = rng.choice(by_host[host][-20:])
            kind = "revision"
            article = _Article(
                host,
                f"/{section}/{stamp}/story-{slot}-update.html",
                source.title,
                source.lead,
                source.published,
                _revise(source.body, pool, rng),
                source.origin,
            )
            body = article.body
            canonical = site.base(source.host) + source.path
        else:
            template = rng.choice(bases)
            # Events of geometric size (mean ~2.5 originals), like real news.
            if event is None or rng.random() < 0.4:
                event = _new_event(pool, rng)
            body, lead = _shuffle_body(template.html, pool, event, rng)
            title = _headline(lead, rng)
            body = _retitle(body, title)
            kind = "original"
            slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "story"
            article = _Article(
                host,
                f"/{section}/{stamp}/{slug}-{slot}.html",
                title,
                lead,
                published,
                body,
                template.origin,
            )
            canonical = site.base(host) + article.path
            originals.append(article)
            by_host[host].append(article)
        kinds[kind] += 1
        served = _set_canonical(_rehost(body, article.origin, site.base(host)), canonical)
        site.pages[(host, article.path)] = served.encode("utf-8")
        site.entry_urls.append(site.base(host) + article.path)
    # Tracking-parameter variants: 5% extra entries for pages already listed.
    listed = list(site.entry_urls)
    for _ in range(pages // 20):
        url = rng.choice(listed)
        site.entry_urls.append(f"{url}?utm_source=rss&utm_medium=feed")
        kinds["tracking_variant"] += 1
    site.kinds = kinds
    site.feeds = _feeds(site, rng)
    return site


def _feeds(site: Site, rng: random.Random) -> dict[str, bytes]:
    items: dict[str, list[str]] = {h: [] for h in site.hosts}
    for n, url in enumerate(site.entry_urls):
        host = urlsplit(url).hostname or ""
        path = urlsplit(url).path
        page = site.pages[(host, path)].decode("utf-8")
        title_match = _TITLE.search(page)
        title = html.unescape(_TAG.sub("", title_match.group(1))).strip() if title_match else ""
        first_paragraph = _P.search(page)
        lead = html.unescape(_TAG.sub("", first_paragraph.group(2) if first_paragraph else ""))
        when = datetime.now(UTC) - timedelta(minutes=rng.randrange(48 * 60))
        items[host].append(
            "<item>"
            f"<title>{html.escape(title[:300])}</title>"
            f"<link>{html.escape(url)}</link>"
            f'<guid isPermaLink="false">e2e-{n}</guid>'
            f"<pubDate>{format_datetime(when)}</pubDate>"
            f"<description>{html.escape(lead[:400])}</description>"
            "</item>"
        )
    feeds = {}
    for host, parts in items.items():
        feeds[host] = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Outlet {host}</title><link>{site.base(host)}/</link>"
            f"<description>e2e benchmark outlet</description>{''.join(parts)}</channel></rss>"
        ).encode()
    return feeds
