"""Delivery channels: SMTP email, signed JSON webhook, Slack, Apprise.

A channel sends one :class:`~ingest.alerts.render.RenderedAlert` with a stable
idempotency key and returns the provider's id, or raises :class:`DeliveryError` saying
whether trying again later can help (``permanent``). Receivers de-duplicate with the key:
webhooks get an ``Idempotency-Key`` header, emails a deterministic ``Message-ID``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

from ingest.alerts.render import RenderedAlert
from ingest.config import Settings
from ingest.net import AddressPolicy, ErrorClass, FetchError, JsonPoster
from ingest.net.guard import host_blocked_reason
from ingest.net.smtp import SmtpError, send_message

SIGNATURE_HEADER = "X-Newsmon-Signature"
TIMESTAMP_HEADER = "X-Newsmon-Timestamp"
# HTTP statuses worth retrying: the receiver is busy, down, or timed out.
_TRANSIENT_STATUS = frozenset({408, 409, 425, 429})


class DeliveryError(Exception):
    """A send that did not go through. ``permanent``: retrying cannot help."""

    def __init__(self, reason: str, *, permanent: bool, retry_after_s: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after_s = retry_after_s


class Channel(Protocol):
    def send(self, target: str, alert: RenderedAlert, key: str) -> str:
        """Deliver ``alert`` to ``target``; returns the provider's id for the message."""
        ...


# ------------------------------------------------------------------------------ email


def message_id(key: str, sender: str) -> str:
    """A deterministic Message-ID: the same alert always carries the same one."""
    domain = sender.rsplit("@", 1)[-1].strip(" >") or "newsmon.invalid"
    return f"<{key}@{domain}>"


def build_email(alert: RenderedAlert, key: str, sender: str, recipient: str) -> EmailMessage:
    """An HTML email with a plain-text alternative and a stable Message-ID."""
    msg = EmailMessage()
    msg["Subject"] = alert.subject
    msg["From"] = sender
    msg["To"] = recipient
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id(key, sender)
    msg["X-Newsmon-Idempotency-Key"] = key
    msg.set_content(alert.text)
    msg.add_alternative(alert.html, subtype="html")
    return msg


class EmailChannel:
    """SMTP with STARTTLS (port 587) or implicit TLS (465); settings from ``NEWSMON_SMTP_*``
    (the connection itself lives in :mod:`ingest.net.smtp`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, target: str, alert: RenderedAlert, key: str) -> str:
        s = self.settings
        msg = build_email(alert, key, s.smtp_from, target)
        # smtplib sends bytes as given: the wire needs CRLF line ends.
        wire = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
        try:
            server_id = send_message(s, s.smtp_from, target, wire)
        except SmtpError as exc:
            raise DeliveryError(exc.reason, permanent=exc.permanent) from None
        mid = str(msg["Message-ID"])
        return f"{mid} {server_id}"[:500] if server_id and server_id.upper() != "OK" else mid


# ---------------------------------------------------------------------------- webhook


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``"<timestamp>." + body`` (the timestamp is
    signed too, so a captured request cannot be replayed later with a fresh one)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Receiver side of :func:`sign` (constant-time compare)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def _http_outcome(status: int, headers: dict[str, str], retry_after: float | None) -> None:
    if 200 <= status < 300:
        return
    if status >= 500 or status in _TRANSIENT_STATUS:
        raise DeliveryError(f"HTTP {status}", permanent=False, retry_after_s=retry_after)
    raise DeliveryError(f"HTTP {status}", permanent=True)


def _retry_after(headers: dict[str, str]) -> float | None:
    value = {k.lower(): v for k, v in headers.items()}.get("retry-after", "")
    return float(value) if value.strip().isdigit() else None


def _post(poster: JsonPoster, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
    try:
        reply = poster.post(url, body, headers)
    except FetchError as exc:
        if exc.status is not None:
            _http_outcome(exc.status, {}, exc.retry_after_s)
        raise DeliveryError(
            str(exc), permanent=not exc.error_class.transient, retry_after_s=exc.retry_after_s
        ) from None
    _http_outcome(reply.status, reply.headers, _retry_after(reply.headers))
    return {k.lower(): v for k, v in reply.headers.items()}


@dataclass
class WebhookChannel:
    """JSON POST signed with HMAC-SHA256 (``X-Newsmon-Signature``), with an
    ``Idempotency-Key`` header receivers use to drop repeats."""

    settings: Settings
    poster: JsonPoster

    def send(self, target: str, alert: RenderedAlert, key: str) -> str:
        body = json.dumps(alert.json, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": key,
            TIMESTAMP_HEADER: timestamp,
        }
        if self.settings.webhook_secret:
            headers[SIGNATURE_HEADER] = sign(self.settings.webhook_secret, timestamp, body)
        reply_headers = _post(self.poster, target, body, headers)
        return reply_headers.get("x-request-id") or reply_headers.get("request-id") or key


@dataclass
class SlackChannel:
    """A Slack incoming webhook carrying a Block Kit message."""

    settings: Settings
    poster: JsonPoster

    def send(self, target: str, alert: RenderedAlert, key: str) -> str:
        body = json.dumps(alert.slack, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": key}
        reply_headers = _post(self.poster, target, body, headers)
        return reply_headers.get("x-slack-req-id") or f"slack:{key}"


@dataclass
class AppriseChannel:
    """Any Apprise URL (optional extra: ``pip install newsmon[apprise]``).

    Apprise opens its own connections and reports only success or failure, so a
    failure is treated as transient until the attempts run out. Before sending, every
    host the URL names is resolved and checked against the SSRF policy (best effort:
    Apprise resolves again itself, so this does not stop DNS rebinding).
    """

    settings: Settings

    def send(self, target: str, alert: RenderedAlert, key: str) -> str:
        try:
            import apprise
        except ImportError:
            raise DeliveryError("apprise is not installed", permanent=True) from None
        notifier = apprise.Apprise()
        if not notifier.add(target):
            raise DeliveryError("not a valid Apprise URL", permanent=True)
        reason = _apprise_blocked(
            notifier, AddressPolicy.from_setting(self.settings.allow_networks)
        )
        if reason is not None:
            raise DeliveryError(f"{ErrorClass.BLOCKED.value}: {reason}", permanent=True)
        ok = notifier.notify(title=alert.subject, body=alert.text)
        if not ok:
            raise DeliveryError("Apprise notification failed", permanent=False)
        return f"apprise:{key}"


def _apprise_blocked(notifier: Iterable[object], policy: AddressPolicy) -> str | None:
    """Why one of the Apprise targets' hosts may not be contacted, or None."""
    for server in notifier:
        host = getattr(server, "host", None)
        if isinstance(host, str) and host:
            reason = host_blocked_reason(host, policy)
            if reason is not None:
                return reason
    return None


def channel_for(name: str, settings: Settings, poster: JsonPoster) -> Channel:
    """The channel implementation for a subscription's ``channel`` column
    (``poster``: the HTTP client webhook and Slack channels share during a run)."""
    if name == "email":
        return EmailChannel(settings)
    if name == "webhook":
        return WebhookChannel(settings, poster)
    if name == "slack":
        return SlackChannel(settings, poster)
    if name == "apprise":
        return AppriseChannel(settings)
    raise DeliveryError(f"unknown channel {name!r}", permanent=True)
