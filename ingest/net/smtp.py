"""SMTP delivery: the only place newsmon opens a mail connection.

One message per connection (alerts are few, and a fresh connection per message keeps a
failure from poisoning the next one): STARTTLS (port 587) or implicit TLS (465), login
only over TLS, and every failure classified as permanent (retrying cannot help: 5xx,
authentication, certificates) or transient.
"""

from __future__ import annotations

import smtplib
import ssl

from ingest.config import Settings


class SmtpError(Exception):
    """A message that did not go through. ``permanent``: retrying cannot help."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


def _classify(exc: Exception) -> SmtpError:
    code = getattr(exc, "smtp_code", None)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in exc.recipients.values()]
        code = min(codes) if codes else None
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return SmtpError(f"SMTP authentication failed ({code})", permanent=True)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SmtpError(f"SMTP server: {exc}", permanent=True)
    if isinstance(code, int) and 500 <= code < 600:
        return SmtpError(f"SMTP {code}: {exc}"[:500], permanent=True)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SmtpError(f"SMTP TLS certificate: {exc}"[:500], permanent=True)
    return SmtpError(f"SMTP: {type(exc).__name__}: {exc}"[:500], permanent=False)


def _connect(settings: Settings) -> smtplib.SMTP:
    s = settings
    if not s.smtp_host:
        raise SmtpError("no SMTP server configured (NEWSMON_SMTP_HOST)", permanent=False)
    context = ssl.create_default_context()
    if s.smtp_ssl:
        return smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s, context=context)
    client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s)
    if s.smtp_starttls:
        client.ehlo()
        if client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
        elif s.smtp_user:
            client.close()  # never send credentials in clear text
            raise SmtpError("SMTP server does not offer STARTTLS", permanent=True)
    return client


def send_message(settings: Settings, sender: str, recipient: str, message: bytes) -> str:
    """Send one message (CRLF line ends) through ``NEWSMON_SMTP_*``; returns the
    server's reply to DATA (often its queue id). Raises :class:`SmtpError`."""
    try:
        client = _connect(settings)
        try:
            if settings.smtp_user:
                client.login(settings.smtp_user, settings.smtp_password)
            client.ehlo_or_helo_if_needed()
            code, reply = client.mail(sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, sender)
            code, reply = client.rcpt(recipient)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
            code, reply = client.data(message)
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
    except SmtpError:
        raise
    except (smtplib.SMTPException, OSError) as exc:
        raise _classify(exc) from None
    return reply.decode("utf-8", "replace").strip()
