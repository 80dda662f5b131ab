"""`newsmon demo` end to end: the founding case comes out as one story with its outlets and
the three topics, alerts are written once, a second run adds nothing, and the HTML report
renders in a real browser."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ingest.demo.corpus import load_corpus
from ingest.demo.run import DemoResult, run_demo
from tests.support.chromium import dump_dom, screenshot

FOUNDING_TOPICS = {"cloud contracts", "surveillance", "employee protest"}


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoResult, DemoResult]:
    workdir = tmp_path_factory.mktemp("demo")
    # The same port both times, as `newsmon demo` does: feed URLs must not change.
    with socket.socket() as probe:
        probe.bind(("127.0.0.11", 0))
        port = probe.getsockname()[1]
    first = run_demo(workdir=workdir, port=port)
    second = run_demo(workdir=workdir, port=port)
    return first, second


def founding_story(result: DemoResult):  # type: ignore[no-untyped-def]
    truth = load_corpus().ground_truth
    expected = {a.outlet for a in truth.articles if a.story == "msft-unit8200-azure"}
    domains = {o.key: o.domain for o in load_corpus().outlets}
    expected_domains = {domains[k] for k in expected}
    best = max(result.stories, key=lambda s: len(set(s.sources) & expected_domains))
    return best, expected_domains


def test_founding_case_is_one_story_with_its_outlets_and_topics(
    demo_runs: tuple[DemoResult, DemoResult],
) -> None:
    first, _ = demo_runs
    story, expected_domains = founding_story(first)
    assert set(story.sources) >= expected_domains - {"marketpost.example"}, story
    assert set(story.topics) >= FOUNDING_TOPICS, story
    assert "Microsoft" in story.headline
    # The founding case is not split: no other story carries two of its outlets' reports.
    others = [s for s in first.stories if s.id != story.id and "Unit 8200" in s.headline]
    assert not others, others


def test_alert_once_per_story(demo_runs: tuple[DemoResult, DemoResult]) -> None:
    first, second = demo_runs
    story, _ = founding_story(first)
    assert sum(story.alerts.values()) == 1, story.alerts
    assert first.emails >= 1
    assert second.emails == first.emails  # the rerun sent nothing new


def test_second_run_adds_nothing(demo_runs: tuple[DemoResult, DemoResult]) -> None:
    first, second = demo_runs
    assert first.counts["articles"] >= 40
    assert second.counts == first.counts


def test_report_renders_in_chromium(demo_runs: tuple[DemoResult, DemoResult]) -> None:
    first, _ = demo_runs
    url = first.report.resolve().as_uri()
    dom = dump_dom(url)
    assert "newsmon demo" in dom and "Microsoft" in dom
    shot: Path = screenshot(url, "demo-report.png")
    assert shot.stat().st_size > 10_000


def _pipeline_view(result: DemoResult) -> tuple[dict, dict, dict]:  # type: ignore[type-arg]
    """(ref -> story id, ref -> duplicate-of ref, story id -> topics) as the pipeline has them."""
    from urllib.parse import urlsplit

    from sqlalchemy import select

    from ingest.demo.corpus import ArticleRef
    from ingest.store.db import transaction
    from ingest.store.models import Article, StoryTopic, Topic

    outlets = {o.domain: o.key for o in load_corpus().outlets}
    story_of: dict[ArticleRef, int] = {}
    dup_of: dict[ArticleRef, ArticleRef] = {}
    with transaction(result.db_url) as s:
        rows = s.execute(
            select(Article.id, Article.source, Article.url, Article.story_id, Article.duplicate_of)
        ).all()
        ref_by_id = {i: ArticleRef(outlets[src], urlsplit(url).path) for i, src, url, _, _ in rows}
        for i, _, _, story, dup in rows:
            story_of[ref_by_id[i]] = story
            if dup is not None:
                dup_of[ref_by_id[i]] = ref_by_id[dup]
        topics: dict[int, set[str]] = {}
        for story, name in s.execute(
            select(StoryTopic.story_id, Topic.name).join(Topic, Topic.id == StoryTopic.topic_id)
        ):
            topics.setdefault(story, set()).add(name)
    return story_of, dup_of, topics


def test_pipeline_reproduces_the_ground_truth(demo_runs: tuple[DemoResult, DemoResult]) -> None:
    """Stories, syndicated duplicates and story topics as written in ground-truth.yaml."""
    first, _ = demo_runs
    truth = load_corpus().ground_truth
    story_of, dup_of, topics = _pipeline_view(first)
    fetched = [a for a in truth.articles if a.in_feed]
    # The partition into stories, pair by pair (story ids are arbitrary). Unrelated news
    # and near misses (other surveillance, other Microsoft news, another cloud contract)
    # never merge with anything. The founding case's related threads (the Nimbus contract,
    # the earlier protest firings) are separate events in the ground truth; online
    # clustering may still fold Nimbus into the growing founding story (a known limit,
    # counted here so a regression shows).
    related = {"msft-unit8200-azure", "project-nimbus", "msft-protest-firings"}
    same_truth = same_both = merged_related = 0
    for i, a in enumerate(fetched):
        for b in fetched[i + 1 :]:
            together = story_of[a.ref] == story_of[b.ref]
            same_truth += a.story == b.story
            same_both += together and a.story == b.story
            if together and a.story != b.story:
                assert {a.story, b.story} <= related, (a.path, b.path)
                merged_related += 1
    assert same_both / same_truth >= 0.85, (same_both, same_truth)
    assert merged_related <= 3 * 15, merged_related
    # Every syndicated copy is marked as a duplicate of its original.
    for a in fetched:
        if a.duplicate_of is not None:
            assert dup_of.get(a.ref) == a.duplicate_of, a.path
    # Story topics: the expected ones are there (the pipeline may find more, never fewer).
    for story in truth.stories:
        members = [a for a in fetched if a.story == story.id]
        if members:
            found = topics.get(story_of[members[0].ref], set())
            assert set(story.topics) <= found, (story.id, story.topics, found)
