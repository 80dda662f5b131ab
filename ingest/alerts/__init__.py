"""Alerts: subscription policy, outbox rules, rendering and delivery channels.

- :mod:`ingest.alerts.policy` — immediate vs digest, budgets, quiet hours, follow-ups;
- :mod:`ingest.alerts.outbox` — idempotency keys, retry backoff, what to enqueue;
- :mod:`ingest.alerts.render` — sanitised subject, text, HTML, Slack blocks, webhook JSON;
- :mod:`ingest.alerts.channels` — SMTP, signed webhook, Slack, Apprise.

The stages that use them (enqueue, release digests, send) are in
:mod:`ingest.pipeline.alerts`; the SQL is in :mod:`ingest.store.alerts_repo`.
"""

from ingest.alerts.channels import DeliveryError, channel_for, sign, verify
from ingest.alerts.outbox import idempotency_key, retry_delay
from ingest.alerts.policy import Policy, digest_release_at, in_quiet_hours, route_alert
from ingest.alerts.render import AlertContent, RenderedAlert, clean_text, render, safe_url

__all__ = [
    "AlertContent",
    "DeliveryError",
    "Policy",
    "RenderedAlert",
    "channel_for",
    "clean_text",
    "digest_release_at",
    "idempotency_key",
    "in_quiet_hours",
    "render",
    "retry_delay",
    "route_alert",
    "safe_url",
    "sign",
    "verify",
]
