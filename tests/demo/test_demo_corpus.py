"""The bundled demo corpus loads, its feeds parse, its pages look like real news pages and
its ground truth agrees with the data."""

from __future__ import annotations

import json
import re
from collections import Counter
from urllib.parse import urlsplit

import feedparser
import lxml.html
import pytest
import trafilatura
from hypothesis import given
from hypothesis import strategies as st

from ingest.demo.corpus import (
    ArticleRef,
    DemoCorpus,
    Outlet,
    load_corpus,
    render,
)

BASE = "http://127.0.0.5:8801"
FOUNDING = "msft-unit8200-azure"
ALL_TOPICS = {"cloud contracts", "surveillance", "employee protest"}


@pytest.fixture(scope="module")
def corpus() -> DemoCorpus:
    return load_corpus()


def feed_links(outlet: Outlet) -> list[str]:
    """Item links of an outlet's feed, rendered with BASE."""
    data = render(outlet.feed, BASE)
    if outlet.feed_format == "json":
        # feedparser 6.0 does not read JSON Feed; it is plain JSON by design.
        return [item["url"] for item in json.loads(data)["items"]]
    return [entry.link for entry in feedparser.parse(data).entries]


def page_tree(outlet: Outlet, path: str) -> lxml.html.HtmlElement:
    return lxml.html.fromstring(render(outlet.routes[path], BASE))


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def shingles(text: str, size: int = 5) -> set[tuple[str, ...]]:
    tokens = words(text)
    return {tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def jaccard(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    return len(a & b) / len(a | b)


def extracted_text(corpus: DemoCorpus, ref: ArticleRef) -> str:
    html = render(corpus.outlet(ref.outlet).routes[ref.path], BASE).decode("utf-8")
    text = trafilatura.extract(html)
    assert text, ref
    return text


# --- shape ------------------------------------------------------------------------------


def test_corpus_has_enough_outlets_pages_and_formats(corpus: DemoCorpus) -> None:
    assert len(corpus.outlets) >= 8
    assert corpus.page_count >= 40
    formats = Counter(outlet.feed_format for outlet in corpus.outlets)
    assert formats["rss"] >= 2
    assert formats["atom"] >= 1
    assert formats["json"] == 1
    assert len({outlet.key for outlet in corpus.outlets}) == len(corpus.outlets)


def test_outlets_use_reserved_example_domains(corpus: DemoCorpus) -> None:
    for outlet in corpus.outlets:
        assert outlet.domain.endswith(".example"), outlet.key
        assert outlet.feed_path.startswith("/")


def test_load_corpus_is_cached_and_immutable(corpus: DemoCorpus) -> None:
    assert load_corpus() is corpus
    routes = corpus.outlets[0].routes
    with pytest.raises(TypeError):
        routes["/new"] = b""  # type: ignore[index]


# --- feeds ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_xml_feeds_parse_with_feedparser(corpus: DemoCorpus, fmt: str) -> None:
    expected_version = {"rss": "rss20", "atom": "atom10"}[fmt]
    for outlet in (o for o in corpus.outlets if o.feed_format == fmt):
        parsed = feedparser.parse(render(outlet.feed, BASE))
        assert not parsed.bozo, (outlet.key, parsed.get("bozo_exception"))
        assert parsed.version == expected_version
        assert len(parsed.entries) >= 3, outlet.key
        for entry in parsed.entries:
            assert entry.title and entry.link and entry.id and entry.summary, outlet.key
            assert entry.get("author"), (outlet.key, entry.title)
            assert entry.published_parsed is not None, (outlet.key, entry.title)


def test_json_feed_is_json_feed_1_1(corpus: DemoCorpus) -> None:
    (outlet,) = [o for o in corpus.outlets if o.feed_format == "json"]
    feed = json.loads(render(outlet.feed, BASE))
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"]
    assert feed["feed_url"] == BASE + outlet.feed_path
    assert len(feed["items"]) >= 3
    for item in feed["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert item["url"].startswith(BASE + "/")
        assert item.get("content_text") or item.get("content_html")
        assert item["authors"][0]["name"]
        assert item["date_published"]


def test_every_feed_link_resolves_to_a_route(corpus: DemoCorpus) -> None:
    for outlet in corpus.outlets:
        links = feed_links(outlet)
        assert links, outlet.key
        for link in links:
            parts = urlsplit(link)
            assert f"{parts.scheme}://{parts.netloc}" == BASE, link
            assert parts.path in outlet.routes, (outlet.key, link)


def test_some_feed_links_carry_tracking_parameters(corpus: DemoCorpus) -> None:
    tracked = [
        link
        for outlet in corpus.outlets
        for link in feed_links(outlet)
        if re.search(r"[?&](utm_\w+|CMP)=", link)
    ]
    assert len(tracked) >= 3


def test_feeds_list_only_the_latest_version_of_a_revised_article(corpus: DemoCorpus) -> None:
    truth = corpus.ground_truth
    revisions = [a for a in truth.articles if a.revision_of is not None]
    assert revisions
    for article in revisions:
        assert article.revision_of is not None
        links = {urlsplit(link).path for link in feed_links(corpus.outlet(article.outlet))}
        assert article.path in links
        assert article.revision_of.path not in links


# --- pages ------------------------------------------------------------------------------


def test_render_substitutes_every_placeholder(corpus: DemoCorpus) -> None:
    for outlet in corpus.outlets:
        for template in [outlet.feed, *outlet.routes.values()]:
            assert b"{base}" in template
            rendered = render(template, BASE + "/")
            assert b"{base}" not in rendered
            assert BASE.encode() + b"/" in rendered


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="{}/"), max_size=30))
def test_render_inserts_base_verbatim(base: str) -> None:
    assert render(b"<a href='{base}/x'>{base}</a>", base) == (
        f"<a href='{base}/x'>{base}</a>".encode()
    )


def test_pages_link_only_to_their_own_base_or_reserved_hosts(corpus: DemoCorpus) -> None:
    allowed = {"127.0.0.5:8801", "schema.org", "www.w3.org", "purl.org", "jsonfeed.org"}
    for outlet in corpus.outlets:
        for template in [outlet.feed, *outlet.routes.values()]:
            for url in re.findall(rb"https?://[^\s\"'<>]+", render(template, BASE)):
                host = urlsplit(url.decode()).netloc
                assert host in allowed or host.endswith(".example"), (outlet.key, url)


def test_every_page_has_furniture_and_a_canonical_link(corpus: DemoCorpus) -> None:
    truth = corpus.ground_truth
    for outlet in corpus.outlets:
        for path in outlet.routes:
            tree = page_tree(outlet, path)
            where = f"{outlet.key}{path}"
            navigation = tree.xpath(
                "//nav | //*[@role='navigation'] | //*[contains(@class, 'nav')]"
                " | //*[contains(@class, 'menu')]"
            )
            assert navigation, where
            onward = tree.xpath(
                "//*[contains(@id, 'comment') or contains(@class, 'comment')"
                " or contains(@class, 'related') or contains(@id, 'related')]"
            )
            assert onward, where
            page_text = tree.text_content().lower()
            assert "cookie" in page_text, where
            assert "newsletter" in page_text or "sign up" in page_text, where
            assert tree.xpath(
                "//footer | //*[contains(@id, 'footer') or contains(@class, 'footer')]"
            ), where
            canonical = tree.xpath("//link[@rel='canonical']/@href")
            expected = truth.article(ArticleRef(outlet.key, path))
            assert canonical == [BASE + expected.canonical_path], where
            headline = tree.xpath("string(//h1)").strip()
            assert headline == expected.title, where


def test_page_templates_differ_between_outlets(corpus: DemoCorpus) -> None:
    def skeleton(outlet: Outlet) -> tuple[str, ...]:
        tree = page_tree(outlet, next(iter(outlet.routes)))
        return tuple(element.tag for element in tree.iter() if isinstance(element.tag, str))

    skeletons = {skeleton(outlet) for outlet in corpus.outlets}
    assert len(skeletons) == len(corpus.outlets)


def test_page_metadata_comes_in_several_forms(corpus: DemoCorpus) -> None:
    kinds: Counter[str] = Counter()
    for outlet in corpus.outlets:
        tree = page_tree(outlet, next(iter(outlet.routes)))
        kinds["json-ld"] += bool(tree.xpath("//script[@type='application/ld+json']"))
        kinds["og"] += bool(tree.xpath("//meta[@property='og:title']"))
        kinds["published_time"] += bool(tree.xpath("//meta[contains(@property, 'published')]"))
        kinds["article"] += bool(tree.xpath("//article"))
        kinds["no-article"] += not tree.xpath("//article")
    assert all(kinds[k] >= 2 for k in ("json-ld", "og", "published_time", "article", "no-article"))
    assert kinds["json-ld"] < len(corpus.outlets)


# --- ground truth -----------------------------------------------------------------------


def test_ground_truth_references_exist(corpus: DemoCorpus) -> None:
    truth = corpus.ground_truth
    served = {ArticleRef(o.key, path) for o in corpus.outlets for path in o.routes}
    assert {a.ref for a in truth.articles} == served
    story_ids = {story.id for story in truth.stories}
    assert len(story_ids) == len(truth.stories)
    assert {a.story for a in truth.articles} == story_ids
    assert set(truth.topics) == ALL_TOPICS
    for article in truth.articles:
        for ref in (article.duplicate_of, article.revision_of):
            assert ref is None or ref in served


def test_story_topics_are_the_union_of_their_articles(corpus: DemoCorpus) -> None:
    truth = corpus.ground_truth
    for story in truth.stories:
        union = {t for a in truth.articles if a.story == story.id for t in a.topics}
        assert union == set(story.topics), story.id
    assert set(truth.story(FOUNDING).topics) == ALL_TOPICS


def test_founding_story_has_the_required_shapes(corpus: DemoCorpus) -> None:
    truth = corpus.ground_truth
    founding = [a for a in truth.articles if a.story == FOUNDING]
    independent = {a.outlet for a in founding if a.duplicate_of is None}
    assert len(independent) >= 5
    copies = [a for a in founding if a.duplicate_of is not None]
    assert len({a.outlet for a in copies}) >= 3
    assert any(a.revision_of is not None for a in founding)
    assert min(a.published for a in founding).date().isoformat() >= "2025-09-25"
    assert any("Amazon Web Services" in a.title or "Amazon" in a.title for a in founding)
    separate = {"project-nimbus", "msft-protest-firings"}
    assert separate <= {story.id for story in truth.stories}


def test_duplicates_point_at_originals_from_other_outlets(corpus: DemoCorpus) -> None:
    truth = corpus.ground_truth
    for article in truth.articles:
        if article.duplicate_of is None:
            continue
        original = truth.article(article.duplicate_of)
        assert original.duplicate_of is None
        assert original.outlet != article.outlet
        assert original.story == article.story
        assert original.published <= article.published


def test_revisions_share_the_canonical_url_and_are_later(corpus: DemoCorpus) -> None:
    truth = corpus.ground_truth
    for article in truth.articles:
        if article.revision_of is None:
            continue
        earlier = truth.article(article.revision_of)
        assert earlier.canonical_path == article.canonical_path == article.path
        assert earlier.modified < article.modified
        assert not earlier.in_feed and article.in_feed
        new_text = extracted_text(corpus, article.ref)
        old_text = extracted_text(corpus, earlier.ref)
        assert len(words(new_text)) > len(words(old_text))
        assert jaccard(shingles(new_text), shingles(old_text)) > 0.7


def test_syndicated_copies_are_near_duplicates_and_independent_reports_are_not(
    corpus: DemoCorpus,
) -> None:
    truth = corpus.ground_truth
    for article in truth.articles:
        if article.duplicate_of is not None:
            copy = shingles(extracted_text(corpus, article.ref))
            original = shingles(extracted_text(corpus, article.duplicate_of))
            assert jaccard(copy, original) > 0.6, article.ref
    independent = [a for a in truth.articles if a.story == FOUNDING and a.duplicate_of is None]
    texts = {a.ref: shingles(extracted_text(corpus, a.ref)) for a in independent}
    for a in independent:
        for b in independent:
            same_article = a.ref == b.revision_of or b.ref == a.revision_of
            if a.ref < b.ref and not same_article:
                assert jaccard(texts[a.ref], texts[b.ref]) < 0.3, (a.ref, b.ref)


def test_article_bodies_have_news_length(corpus: DemoCorpus) -> None:
    for article in corpus.ground_truth.articles:
        count = len(words(extracted_text(corpus, article.ref)))
        assert 150 <= count <= 700, (article.ref, count)


def test_founding_story_mentions_every_topic_angle(corpus: DemoCorpus) -> None:
    truth = corpus.ground_truth
    text = " ".join(
        extracted_text(corpus, a.ref) for a in truth.articles if a.story == FOUNDING
    ).lower()
    for phrase in ("no azure for apartheid", "mass surveillance", "contract", "unit 8200"):
        assert phrase in text, phrase
