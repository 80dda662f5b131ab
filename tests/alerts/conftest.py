"""Fixtures for the alert tests: rows inserted directly, real receivers on loopback.

- ``seed``: small helpers that insert topics, stories (with articles from outlets),
  story-topic matches and subscriptions;
- ``webhook``: an HTTP receiver (http.server in a thread) that records every request
  and answers with scripted statuses;
- ``smtp``: an aiosmtpd SMTP server on 127.0.0.1 recording every message;
- ``alert_settings``: Settings pointing at those receivers, loopback allowed through
  the SSRF guard (also exported as NEWSMON_* for subprocess senders).
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import insert, select, update

from ingest.config import Settings, get_settings
from ingest.pipeline.alerts import enqueue_alerts
from ingest.store.db import transaction
from ingest.store.models import (
    AlertOutbox,
    Article,
    Story,
    StoryArticle,
    StoryTopic,
    Subscription,
    Topic,
)

WEBHOOK_SECRET = "test-secret"
T0 = datetime(2026, 3, 27, 10, 5, tzinfo=UTC)


class Seeder:
    """Insert test rows directly (no pipeline stages needed)."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self._n = 0

    def topic(self, name: str) -> int:
        with transaction(self.db_url) as s:
            return int(
                s.execute(
                    insert(Topic).values(name=name, query=name).returning(Topic.id)
                ).scalar_one()
            )

    def story(
        self,
        headline: str,
        outlets: Sequence[str | tuple[str, str, str]] = ("a.example",),
        first_seen: datetime = T0,
    ) -> int:
        with transaction(self.db_url) as s:
            story_id = int(
                s.execute(
                    insert(Story)
                    .values(
                        headline=headline,
                        headline_article_id=None,
                        first_seen=first_seen,
                        last_seen=first_seen,
                        article_count=0,
                        source_count=0,
                        profile={},
                        updated_at=first_seen,
                    )
                    .returning(Story.id)
                ).scalar_one()
            )
        for outlet in outlets:
            self.add_outlet(story_id, outlet)
        return story_id

    def add_outlet(self, story_id: int, outlet: str | tuple[str, str, str]) -> int:
        source, title, url = (
            outlet if isinstance(outlet, tuple) else (outlet, f"{outlet} report", "")
        )
        self._n += 1
        url = url or f"https://{source}/news/{story_id}-{self._n}"
        with transaction(self.db_url) as s:
            article_id = int(
                s.execute(
                    insert(Article)
                    .values(
                        canonical_url=url,
                        url=url,
                        source=source,
                        title=title,
                        text="body",
                        url_key=hashlib.sha256(f"{url}#{self._n}".encode()).hexdigest(),
                        story_id=story_id,
                    )
                    .returning(Article.id)
                ).scalar_one()
            )
            s.execute(insert(StoryArticle).values(article_id=article_id, story_id=story_id))
            n_sources = len(
                set(
                    s.scalars(
                        select(Article.source)
                        .join(StoryArticle, StoryArticle.article_id == Article.id)
                        .where(StoryArticle.story_id == story_id)
                    )
                )
            )
            s.execute(update(Story).where(Story.id == story_id).values(source_count=n_sources))
        return article_id

    def set_headline(self, story_id: int, headline: str) -> None:
        with transaction(self.db_url) as s:
            s.execute(update(Story).where(Story.id == story_id).values(headline=headline))

    def match(
        self,
        story_id: int,
        topic_id: int,
        snippet: str = "matched text",
        spans: Sequence[tuple[int, int]] = (),
    ) -> None:
        """A story-topic match with a snippet stored the way the tagging stage stores it."""
        payload = {
            "field": "text",
            "text": snippet,
            "spans": [list(x) for x in spans],
            "cut_before": False,
            "cut_after": False,
        }
        hits = [{"field": "text", "start": a, "end": b, "term": snippet[a:b]} for a, b in spans]
        with transaction(self.db_url) as s:
            s.execute(
                insert(StoryTopic).values(
                    story_id=story_id, topic_id=topic_id, snippet=payload, hits=hits
                )
            )

    def subscription(
        self,
        name: str,
        topics: Sequence[str],
        *,
        channel: str = "webhook",
        target: str = "http://127.0.0.1:9/hook",
        mode: str = "immediate",
        **policy: Any,
    ) -> int:
        full_policy = {
            "daily_at": "08:00",
            "timezone": "UTC",
            "budget_per_hour": None,
            "quiet_hours": None,
            "min_outlets": 1,
            "followups": None,
            **policy,
        }
        with transaction(self.db_url) as s:
            return int(
                s.execute(
                    insert(Subscription)
                    .values(
                        name=name,
                        channel=channel,
                        target=target,
                        topics=list(topics),
                        mode=mode,
                        policy=full_policy,
                        enabled=True,
                    )
                    .returning(Subscription.id)
                ).scalar_one()
            )

    def enqueue(self, story_ids: Sequence[int], now: datetime | None = None) -> int:
        with transaction(self.db_url) as s:
            return enqueue_alerts(s, list(story_ids), now)

    def outbox(self) -> list[AlertOutbox]:
        with transaction(self.db_url) as s:
            return list(s.scalars(select(AlertOutbox).order_by(AlertOutbox.id)))


@pytest.fixture
def seed(db_url: str) -> Seeder:
    return Seeder(db_url)


# ------------------------------------------------------------------------ receivers


class WebhookReceiver:
    """Records requests; answers each with the next scripted status (default 200)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(
                        {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Request-Id", f"req-{len(receiver.requests)}")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def keys(self) -> list[str]:
        return [r["headers"].get("Idempotency-Key", "") for r in self.requests]

    def json_bodies(self) -> list[Any]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


class SmtpRecorder:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 2.0.0 Ok: queued as TESTID"


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpRecorder, int]]:
    recorder = SmtpRecorder()
    with socket.socket() as probe:  # a free port (the controller needs a real number)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, int(controller.port)
    finally:
        controller.stop()


@pytest.fixture
def alert_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for senders: loopback allowed through the SSRF guard, no SMTP TLS."""
    monkeypatch.setenv("NEWSMON_ALLOW_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("NEWSMON_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("NEWSMON_PER_HOST_DELAY_S", "0")
    get_settings.cache_clear()
    return Settings(
        allow_networks="127.0.0.0/8",
        webhook_secret=WEBHOOK_SECRET,
        per_host_delay_s=0,
        smtp_host="127.0.0.1",
        smtp_starttls=False,
        smtp_from="alerts@newsmon.example",
        base_url="https://newsmon.example",
    )
