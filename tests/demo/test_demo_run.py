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
