"""Prometheus metrics, read from the database at scrape time.

A custom collector (not module-level gauges) so that every scrape reports what the
database says now, whichever process wrote it (Airflow workers, the CLI), and so that
several apps in one process never collide in a global registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ingest.store import queries

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class NewsmonCollector(Collector):
    """Feeds by health, entries by fetch status, articles, extraction failures,
    stories, topic matches and alerts by outbox state."""

    def __init__(self, db_url: Callable[[], str]) -> None:
        self._db_url = db_url

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with queries.read_session(self._db_url()) as session:
            counts = queries.metrics_counts(session)
        feeds = GaugeMetricFamily("newsmon_feeds", "Feeds by health state.", labels=["health"])
        for health, n in sorted(counts.feeds_by_health.items()):
            feeds.add_metric([health], n)
        yield feeds
        entries = GaugeMetricFamily(
            "newsmon_entries", "Feed entries by fetch status.", labels=["status"]
        )
        for status, n in sorted(counts.entries_by_status.items()):
            entries.add_metric([status], n)
        yield entries
        yield GaugeMetricFamily("newsmon_articles", "Articles stored.", value=counts.articles)
        yield GaugeMetricFamily(
            "newsmon_extraction_failures",
            "Articles whose extraction failed.",
            value=counts.extraction_failures,
        )
        yield GaugeMetricFamily("newsmon_stories", "Stories.", value=counts.stories)
        yield GaugeMetricFamily(
            "newsmon_topic_matches", "Story-topic matches.", value=counts.topic_matches
        )
        alerts = GaugeMetricFamily(
            "newsmon_alerts", "Alert outbox rows by state.", labels=["state"]
        )
        for state, n in sorted(counts.alerts_by_status.items()):
            alerts.add_metric([state], n)
        yield alerts


def metrics_registry(db_url: Callable[[], str]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NewsmonCollector(db_url))
    return registry


def render_metrics(registry: CollectorRegistry) -> bytes:
    """The Prometheus text exposition of ``registry``."""
    return generate_latest(registry)
