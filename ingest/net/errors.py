"""Classified fetch errors: every failure of :mod:`ingest.net` names its class.

Feed health and retry policy key off :class:`ErrorClass`, never off message text. A
``blocked`` or ``bad_url`` error is a property of the destination, not of the moment, so
callers must not retry it as if it were transient (see :attr:`ErrorClass.transient`).
"""

from __future__ import annotations

import enum


class ErrorClass(enum.StrEnum):
    """Why a fetch failed."""

    BAD_URL = "bad_url"  # not http(s), userinfo, too long, malformed
    BLOCKED = "blocked"  # SSRF guard: destination address not allowed
    DNS = "dns"  # name does not resolve
    CONNECT = "connect"  # refused / unreachable
    TLS = "tls"  # certificate or handshake failure (never retried insecurely)
    TIMEOUT = "timeout"  # wall-clock deadline of the whole fetch exceeded
    TOO_LARGE = "too_large"  # decoded (or raw) body over the cap
    TOO_MANY_REDIRECTS = "too_many_redirects"  # redirect loop or chain over the limit
    BAD_ENCODING = "bad_encoding"  # Content-Encoding not asked for, nested, or corrupt
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    HTTP_OTHER = "http_other"  # 1xx/3xx without Location and other oddities
    THROTTLED = "throttled"  # host asked us to wait (Retry-After) and the wait is not over
    ROBOTS = "robots"  # robots.txt disallows the page
    PROTOCOL = "protocol"  # malformed HTTP
    NETWORK = "network"  # connection reset and other transport errors
    PARSE = "parse"  # the bytes are not a feed (raised by ingest.feeds)

    @property
    def transient(self) -> bool:
        """True if the same request may succeed later without anyone changing anything."""
        return self in _TRANSIENT


_TRANSIENT = frozenset(
    {
        ErrorClass.DNS,
        ErrorClass.CONNECT,
        ErrorClass.TIMEOUT,
        ErrorClass.HTTP_5XX,
        ErrorClass.THROTTLED,
        ErrorClass.PROTOCOL,
        ErrorClass.NETWORK,
    }
)


class FetchError(Exception):
    """A fetch that did not produce a usable response.

    ``status`` is the HTTP status when there was one; ``retry_after_s`` is the server's
    Retry-After (already capped) when it sent one.
    """

    def __init__(
        self,
        error_class: ErrorClass,
        reason: str,
        *,
        url: str = "",
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{error_class.value}: {reason}")
        self.error_class = error_class
        self.reason = reason
        self.url = url
        self.status = status
        self.retry_after_s = retry_after_s
