"""``newsmon demo``: the whole pipeline on the bundled corpus, offline, in under a minute.

It serves the corpus on loopback (one address per outlet), runs a local SMTP sink that
appends alert emails to a mailbox file, applies a config with the corpus' feeds, the
shipped default topics and one analyst subscribed to them, runs every stage once, and
writes an HTML report. A second run finds every feed not yet due (or unchanged), so it
adds nothing.
"""

from __future__ import annotations

import contextlib
import html
import mailbox
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ingest.config import (
    FeedConfig,
    NewsmonConfig,
    Settings,
    SubscriptionConfig,
    TopicConfig,
    get_settings,
)
from ingest.demo.server import DEFAULT_PORT, ServedCorpus, serve_corpus
from ingest.pipeline.run import RunSummary, StageCallback, run_once, sync_config
from ingest.store.db import transaction, upgrade
from ingest.store.reports import StoryOverview, stories_overview, table_counts

ANALYST_EMAIL = "analyst@newsmon.example"


@dataclass
class DemoResult:
    db_url: str
    report: Path
    mailbox: Path
    stories: list[StoryOverview]
    counts: dict[str, int]
    run: RunSummary
    emails: int


def default_topics() -> tuple[TopicConfig, ...]:
    """The topics shipped for the founding case (ingest/topics/default_topics.yaml)."""
    text = resources.files("ingest.topics").joinpath("default_topics.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    return tuple(TopicConfig.model_validate(t) for t in data["topics"])


def demo_config(served: ServedCorpus) -> NewsmonConfig:
    topics = default_topics()
    return NewsmonConfig(
        feeds=tuple(
            FeedConfig(url=o.feed_url, title=o.outlet.name, source=o.outlet.domain)
            for o in served.outlets
        ),
        topics=topics,
        subscriptions=(
            SubscriptionConfig(
                name="analyst",
                email=ANALYST_EMAIL,
                topics=tuple(t.name for t in topics),
                mode="immediate",
            ),
        ),
    )


@contextlib.contextmanager
def smtp_sink(path: Path) -> Iterator[int]:
    """A loopback SMTP server that appends every message to an mbox file."""
    from aiosmtpd.controller import Controller

    lock = threading.Lock()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            message: Message = message_from_bytes(envelope.content)
            with lock:
                box = mailbox.mbox(str(path))
                try:
                    box.add(message)
                    box.flush()
                finally:
                    box.close()
            return "250 OK"

    with socket.socket() as probe:  # a free port; aiosmtpd needs a number up front
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def count_emails(path: Path) -> int:
    if not path.exists():
        return 0
    box = mailbox.mbox(str(path))
    try:
        return len(box)
    finally:
        box.close()


def run_demo(
    db_url: str | None = None,
    workdir: Path | None = None,
    port: int = DEFAULT_PORT,
    on_stage: StageCallback | None = None,
) -> DemoResult:
    base_settings = get_settings()
    workdir = workdir or base_settings.home
    workdir.mkdir(parents=True, exist_ok=True)
    db_url = db_url or f"sqlite:///{(workdir / 'demo.db').as_posix()}"
    upgrade(db_url)
    mbox_path = workdir / "demo-mailbox.mbox"
    with serve_corpus(port) as served, smtp_sink(mbox_path) as smtp_port:
        settings: Settings = base_settings.model_copy(
            update={
                # The corpus is served on loopback: opt those addresses in for this run
                # only (the SSRF guard refuses loopback by default).
                "allow_networks": "127.0.0.0/8",
                "per_host_delay_s": 0.0,
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp_port,
                "smtp_starttls": False,
                "smtp_ssl": False,
            }
        )
        sync_config(db_url, demo_config(served))
        summary = run_once(db_url, settings, on_stage)
    with transaction(db_url) as session:
        stories = stories_overview(session)
        counts = table_counts(session)
    report = workdir / "demo-report.html"
    report.write_text(render_report(stories, counts), encoding="utf-8")
    return DemoResult(
        db_url=db_url,
        report=report,
        mailbox=mbox_path,
        stories=stories,
        counts=counts,
        run=summary,
        emails=count_emails(mbox_path),
    )


def _alerts_text(alerts: dict[str, int]) -> str:
    return ", ".join(f"{n} {state}" for state, n in sorted(alerts.items())) or "—"


def render_report(stories: list[StoryOverview], counts: dict[str, int]) -> str:
    """A self-contained HTML page (no scripts, no external assets); all text escaped."""
    rows = []
    for s in stories:
        topics = "".join(f'<span class="topic">{html.escape(t)}</span>' for t in s.topics)
        rows.append(
            "<tr>"
            f"<td>{s.id}</td>"
            f"<td class='headline'>{html.escape(s.headline)}</td>"
            f"<td>{s.article_count}</td>"
            f"<td>{s.source_count}<div class='sources'>"
            f"{html.escape(', '.join(s.sources))}</div></td>"
            f"<td>{topics or '—'}</td>"
            f"<td>{html.escape(_alerts_text(s.alerts))}</td>"
            "</tr>"
        )
    totals = " · ".join(f"{n} {html.escape(name)}" for name, n in counts.items())
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>newsmon demo report</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2rem; color: #1d232a; }}
h1 {{ font-size: 1.5rem; margin-bottom: .2rem; }}
.meta {{ color: #5b6570; margin-bottom: 1.2rem; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; vertical-align: top; padding: .45rem .6rem;
          border-bottom: 1px solid #e3e7eb; }}
th {{ background: #f3f5f7; }}
.headline {{ font-weight: 600; max-width: 34rem; }}
.sources {{ color: #5b6570; font-size: .85em; }}
.topic {{ display: inline-block; background: #e8f0fe; color: #1a4fb4; border-radius: 9px;
          padding: 0 .5rem; margin: 0 .2rem .2rem 0; font-size: .85em; }}
</style></head>
<body>
<h1>newsmon demo — stories</h1>
<div class="meta">Generated {generated} · {totals}</div>
<table>
<thead><tr><th>#</th><th>Story</th><th>Articles</th><th>Outlets</th><th>Topics</th>
<th>Alerts</th></tr></thead>
<tbody>
{"".join(rows)}
</tbody></table>
</body></html>
"""
