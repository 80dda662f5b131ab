"""Delivery against real receivers on loopback: exact counts, keys, retries, crashes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ingest.alerts.channels import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from ingest.config import Settings
from ingest.pipeline.alerts import CRASH_AFTER_SEND_ENV, release_digests, send_due_alerts
from ingest.store.db import transaction
from ingest.store.models import Delivery

REPO = Path(__file__).resolve().parents[2]
HOSTILE_TITLE = '<script>alert(1)</script><img src=x onerror="alert(2)">Quake'


def seed_alerts(seed: Any, target: str, n: int = 3, channel: str = "webhook", **policy: Any):  # type: ignore[no-untyped-def]
    topic = seed.topic("quake")
    seed.subscription("ops", ["quake"], channel=channel, target=target, **policy)
    stories = []
    for i in range(n):
        story = seed.story(
            f"{HOSTILE_TITLE} {i}",
            [
                ("evil.example", "<b>Evil</b>", "javascript:alert(3)"),
                ("good.example", "Good & fine", f"https://good.example/{i}"),
            ],
        )
        snippet = f"<script>x</script>quake near <b>city</b> {i}"
        seed.match(story, topic, snippet=snippet, spans=[(18, 23)])
        stories.append(story)
    seed.enqueue(stories)
    return stories


def test_webhook_run_twice_delivers_each_alert_once(
    seed: Any, webhook: Any, alert_settings: Settings
) -> None:
    stories = seed_alerts(seed, webhook.url)
    seed.enqueue(stories)  # the tagging task ran twice
    first = send_due_alerts(seed.db_url, settings=alert_settings)
    second = send_due_alerts(seed.db_url, settings=alert_settings)
    assert (first.sent, second.claimed) == (3, 0)
    assert len(webhook.requests) == 3
    rows = seed.outbox()
    assert sorted(webhook.keys()) == sorted(r.idempotency_key for r in rows)
    assert {r.status for r in rows} == {"sent"}
    assert {r.provider_id for r in rows} == {"req-1", "req-2", "req-3"}
    for request in webhook.requests:
        headers, body = request["headers"], request["body"]
        assert verify("test-secret", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
        payload = json.loads(body)
        assert payload["idempotency_key"] == headers["Idempotency-Key"]
        story = payload["stories"][0]
        assert "<" not in story["headline"] and story["headline"].endswith(
            "Quake " + story["headline"][-1]
        )
        assert story["url"].startswith("https://newsmon.example/newsmon/stories/")
        assert story["outlets"][0]["url"] is None  # javascript: link dropped
        assert story["topics"][0]["snippet"].startswith("quake near city")
        assert story["topics"][0]["highlights"] == ["quake"]


def test_transient_failures_retry_with_backoff_then_succeed(
    seed: Any, webhook: Any, alert_settings: Settings
) -> None:
    seed_alerts(seed, webhook.url, n=1)
    webhook.statuses = [503, 500]
    now = datetime.now(UTC)
    assert send_due_alerts(seed.db_url, now=now, settings=alert_settings).retried == 1
    (row,) = seed.outbox()
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 503")
    assert row.due_at == now + timedelta(minutes=1)
    assert send_due_alerts(seed.db_url, now=now, settings=alert_settings).claimed == 0
    later = now + timedelta(minutes=1)
    assert send_due_alerts(seed.db_url, now=later, settings=alert_settings).retried == 1
    (row,) = seed.outbox()
    assert row.due_at == later + timedelta(minutes=2)
    assert (
        send_due_alerts(seed.db_url, now=later + timedelta(hours=1), settings=alert_settings).sent
        == 1
    )
    assert len(set(webhook.keys())) == 1 and len(webhook.requests) == 3
    with transaction(seed.db_url) as s:
        outcomes = [d.outcome for d in s.scalars(select(Delivery).order_by(Delivery.id))]
    assert outcomes == ["retry", "retry", "sent"]


def test_permanent_failure_and_attempt_limit_mark_dead(
    seed: Any, webhook: Any, alert_settings: Settings
) -> None:
    seed_alerts(seed, webhook.url, n=2)
    webhook.statuses = [404, 503]
    settings = alert_settings.model_copy(update={"alert_max_attempts": 1})
    summary = send_due_alerts(seed.db_url, settings=settings)
    assert (summary.dead, summary.sent) == (2, 0)
    errors = sorted(r.last_error or "" for r in seed.outbox())
    assert errors == ["HTTP 404", "gave up after 1 attempts: HTTP 503"]
    assert send_due_alerts(seed.db_url, settings=settings).claimed == 0


def test_ssrf_guard_applies_to_webhooks(seed: Any, webhook: Any, alert_settings: Settings) -> None:
    seed_alerts(seed, webhook.url, n=1)
    guarded = alert_settings.model_copy(update={"allow_networks": ""})
    os.environ.pop("NEWSMON_ALLOW_NETWORKS", None)  # (restored by monkeypatch)
    assert send_due_alerts(seed.db_url, settings=guarded).dead == 1
    assert webhook.requests == []
    assert "blocked" in (seed.outbox()[0].last_error or "")


def test_email_over_smtp_html_and_text_parts(
    seed: Any, smtp: Any, alert_settings: Settings
) -> None:
    recorder, port = smtp
    settings = alert_settings.model_copy(update={"smtp_port": port})
    seed_alerts(seed, "analyst@example.org", n=2, channel="email")
    summary = send_due_alerts(seed.db_url, settings=settings)
    assert summary.sent == 2, [r.last_error for r in seed.outbox()]
    assert send_due_alerts(seed.db_url, settings=settings).claimed == 0
    assert len(recorder.messages) == 2
    rows = seed.outbox()
    ids = sorted(str(m["Message-ID"]) for m in recorder.messages)
    assert ids == sorted(f"<{r.idempotency_key}@newsmon.example>" for r in rows)
    assert all("queued as TESTID" in (r.provider_id or "") for r in rows)
    for message in recorder.messages:
        assert message["To"] == "analyst@example.org"
        html_part = message.get_body(preferencelist=("html",))
        text_part = message.get_body(preferencelist=("plain",))
        assert html_part is not None and text_part is not None
        html = html_part.get_content()
        text = text_part.get_content()
        assert "<script" not in html.lower() and "javascript:" not in html.lower()
        assert "onerror=" not in html.lower()
        assert "<img" not in html.lower()
        assert 'href="https://good.example/' in html
        assert "Good &amp; fine" in html and "<mark>quake</mark> near city" in html
        assert "Quake" in text and "https://newsmon.example/newsmon/stories/" in text


def test_digest_is_one_message_with_its_stories(
    seed: Any, webhook: Any, alert_settings: Settings
) -> None:
    seed_alerts(seed, webhook.url, n=3, budget_per_hour=1)
    first = send_due_alerts(seed.db_url, settings=alert_settings)
    assert first.sent == 1
    later = datetime.now(UTC) + timedelta(hours=1, minutes=1)
    assert release_digests(seed.db_url, now=later) == 1
    assert send_due_alerts(seed.db_url, now=later, settings=alert_settings).sent == 1
    digest = webhook.json_bodies()[1]
    assert digest["type"] == "digest" and len(digest["stories"]) == 2
    assert {r.status for r in seed.outbox()} == {"sent", "digested"}


def test_slack_block_kit_escapes_mrkdwn(seed: Any, webhook: Any, alert_settings: Settings) -> None:
    seed_alerts(seed, webhook.url, n=1, channel="slack")
    assert send_due_alerts(seed.db_url, settings=alert_settings).sent == 1
    message = webhook.json_bodies()[0]
    assert message["blocks"][0]["type"] == "header"
    dumped = json.dumps(message)
    assert "javascript:" not in dumped and "<script" not in dumped
    assert "&lt;" not in message["blocks"][0]["text"]["text"]  # plain_text stays plain
    assert "<https://good.example/0|Good &amp; fine>" in dumped


def test_two_senders_at_once_deliver_each_alert_once(
    seed: Any, webhook: Any, alert_settings: Settings
) -> None:
    seed_alerts(seed, webhook.url, n=20)
    summaries: list[Any] = []
    barrier = threading.Barrier(2)

    def sender() -> None:
        barrier.wait()
        summaries.append(send_due_alerts(seed.db_url, settings=alert_settings))

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(s.sent for s in summaries) == 20
    assert len(webhook.requests) == 20 and len(set(webhook.keys())) == 20
    assert {r.status for r in seed.outbox()} == {"sent"}


SENDER = (
    "import sys\n"
    "from ingest.pipeline.alerts import send_due_alerts\n"
    "send_due_alerts(sys.argv[1], limit=int(sys.argv[2]))\n"
)


def test_sender_killed_between_send_and_commit_delivers_at_most_twice(
    seed: Any, webhook: Any, alert_settings: Settings, tmp_path: Path
) -> None:
    seed_alerts(seed, webhook.url, n=2)
    env = {**os.environ, CRASH_AFTER_SEND_ENV: "1", "NEWSMON_ALERT_LEASE_S": "60"}
    proc = subprocess.run(
        [sys.executable, "-c", SENDER, seed.db_url, "100"],
        env=env,
        cwd=REPO,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert len(webhook.requests) == 1
    crashed_key = webhook.keys()[0]
    # Both rows were claimed in one batch; the outcome of the send was never committed.
    assert [r.status for r in seed.outbox()] == ["sending", "sending"]
    # While the lease runs, a normal sender leaves the rows alone.
    assert send_due_alerts(seed.db_url, settings=alert_settings).claimed == 0
    after_lease = datetime.now(UTC) + timedelta(seconds=61)
    assert send_due_alerts(seed.db_url, now=after_lease, settings=alert_settings).sent == 2
    assert send_due_alerts(seed.db_url, now=after_lease, settings=alert_settings).claimed == 0
    keys = webhook.keys()
    assert len(keys) == 3 and keys.count(crashed_key) == 2  # twice, same key
    assert {r.status for r in seed.outbox()} == {"sent"}


@pytest.mark.parametrize("status", [401, 410])
def test_4xx_is_permanent(seed: Any, webhook: Any, alert_settings: Settings, status: int) -> None:
    seed_alerts(seed, webhook.url, n=1)
    webhook.statuses = [status]
    assert send_due_alerts(seed.db_url, settings=alert_settings).dead == 1


def test_apprise_json_url_delivers_and_is_ssrf_checked(
    seed: Any, webhook: Any, alert_settings: Settings
) -> None:
    port = webhook.server.server_address[1]
    seed_alerts(seed, f"json://127.0.0.1:{port}/hook", n=1, channel="apprise")
    assert send_due_alerts(seed.db_url, settings=alert_settings).sent == 1
    (request,) = webhook.requests
    assert "Quake" in json.loads(request["body"])["title"]
    assert "<script" not in request["body"].decode()


def test_apprise_to_a_blocked_address_is_dead(seed: Any, alert_settings: Settings) -> None:
    seed_alerts(seed, "json://169.254.169.254/latest", n=1, channel="apprise")
    assert send_due_alerts(seed.db_url, settings=alert_settings).dead == 1
    assert "blocked" in (seed.outbox()[0].last_error or "")


def test_alerts_of_a_disabled_subscription_are_not_sent(
    seed: Any, webhook: Any, alert_settings: Settings
) -> None:
    from ingest.store.models import Subscription

    seed_alerts(seed, webhook.url, n=1)
    with transaction(seed.db_url) as s:
        for sub in s.scalars(select(Subscription)):
            sub.enabled = False
    assert send_due_alerts(seed.db_url, settings=alert_settings).dead == 1
    assert webhook.requests == []
