"""The one HTTP client: :class:`Fetcher` (async) and :func:`fetch_url` (sync, for the CLI).

One fetch = at most ``max_redirects + 1`` requests, followed by hand so each hop's URL
goes through :func:`~ingest.net.guard.check_url` and each hop's connection through the
guarded transport. The whole fetch, redirects and body included, runs under one
wall-clock deadline (per-read timeouts alone never stop a 1-byte-per-second server).
Bodies are read raw and decoded by :mod:`ingest.net.decode` under a byte cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import httpx
from protego import Protego

from ingest.config import Settings, get_settings
from ingest.net.decode import ACCEPT_ENCODING, decoder_for
from ingest.net.errors import ErrorClass, FetchError
from ingest.net.guard import AddressPolicy, check_url
from ingest.net.transport import guarded_transport, ssl_context

log = logging.getLogger(__name__)

PERMANENT_REDIRECTS = frozenset({301, 308})
TEMPORARY_REDIRECTS = frozenset({302, 303, 307})
ROBOTS_MAX_BYTES = 512 * 1024
ROBOTS_TTL_S = 24 * 3600.0
ROBOTS_FAILURE_TTL_S = 600.0  # an unreachable robots.txt blocks the host only briefly
ROBOTS_CACHE_MAX = 50_000

# origin -> (expires at, rules): shared by every Fetcher of the process, so a new batch
# does not fetch robots.txt again.
_ROBOTS_CACHE: dict[str, tuple[float, Protego | None]] = {}


def _remember_robots(origin: str, expires: float, rules: Protego | None) -> None:
    if len(_ROBOTS_CACHE) >= ROBOTS_CACHE_MAX:  # bounded: drop the oldest entries
        for key in list(_ROBOTS_CACHE)[: ROBOTS_CACHE_MAX // 10]:
            del _ROBOTS_CACHE[key]
    _ROBOTS_CACHE[origin] = (expires, rules)


ROBOTS_AGENT = "newsmon"
MAX_CRAWL_DELAY_S = 60.0


@dataclass(frozen=True)
class FetchResult:
    """A response newsmon accepted: 2xx with its decoded body, or 304 Not Modified."""

    url: str
    final_url: str
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed_s: float
    peer_ip: str | None = None
    # Each hop as (status, location).
    redirects: list[tuple[int, str]] = field(default_factory=list)
    # Set when every hop was a permanent redirect: the URL callers may store instead.
    permanent_url: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def parse_retry_after(value: str | None, cap_s: float, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (delta-seconds or HTTP-date), clamped to ``[0, cap_s]``."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), cap_s)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(delta, 0.0), cap_s)


class PolitenessBook(Protocol):
    """Where processes that share hosts book their request starts (the pipeline passes
    :class:`ingest.store.politeness.HostSlotBook`), so N workers are not N times as
    impolite as one."""

    def reserve(self, host: str, delay_s: float) -> float:
        """Book the next start on ``host``, ``delay_s`` after the last one booked by
        anyone; return how many seconds to wait before starting. Blocking."""
        ...


class HostGate:
    """Per-host politeness: at most ``concurrency`` requests at once, starts spaced by
    ``delay_s``, and a cool-down while the host's Retry-After runs. With a ``book``,
    the spacing holds across every process that shares it."""

    def __init__(
        self,
        concurrency: int,
        delay_s: float,
        *,
        host: str = "",
        book: PolitenessBook | None = None,
    ) -> None:
        self._sem = asyncio.Semaphore(max(1, concurrency))
        self.delay_s = delay_s
        self.host = host
        self.book = book
        self._next_start = 0.0
        self.cooldown_until = 0.0

    async def __aenter__(self) -> None:
        await self._sem.acquire()
        try:
            if self.delay_s > 0:
                await asyncio.sleep(await self._wait_s())
        except BaseException:
            self._sem.release()
            raise

    async def _wait_s(self) -> float:
        now = time.monotonic()
        start = max(now, self._next_start)
        self._next_start = start + self.delay_s
        local_wait = start - now
        if self.book is None:
            return local_wait
        try:
            shared_wait = await asyncio.to_thread(self.book.reserve, self.host, self.delay_s)
        except Exception as exc:  # the book is down: this process's spacing still holds
            log.warning("politeness book unavailable (%s); spacing per process only", exc)
            self.book = None
            return local_wait
        return max(local_wait, shared_wait)

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._sem.release()


def _classify(exc: BaseException, url: str) -> FetchError:
    """Map transport exceptions to a :class:`FetchError` with its class."""
    seen: BaseException | None = exc
    while seen is not None:  # the root cause says more than httpx's wrapper
        if isinstance(seen, FetchError):
            if not seen.url:
                seen.url = url
            return seen
        if isinstance(seen, ssl.SSLError):
            return FetchError(ErrorClass.TLS, str(seen) or "TLS failure", url=url)
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return FetchError(ErrorClass.BAD_URL, str(exc) or "invalid URL", url=url)
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return FetchError(ErrorClass.TIMEOUT, "deadline exceeded", url=url)
    if isinstance(exc, httpx.ConnectError):
        text = str(exc)
        if "SSL" in text or "CERTIFICATE" in text.upper():
            return FetchError(ErrorClass.TLS, text, url=url)
        return FetchError(ErrorClass.CONNECT, text or "connection failed", url=url)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.LocalProtocolError):
        return FetchError(ErrorClass.PROTOCOL, str(exc) or "malformed HTTP", url=url)
    if isinstance(exc, httpx.TransportError | OSError):
        return FetchError(ErrorClass.NETWORK, str(exc) or type(exc).__name__, url=url)
    raise exc


@dataclass
class _Hop:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    location: str | None = None
    peer_ip: str | None = None


class Fetcher:
    """Async HTTP client with the SSRF guard, caps, deadline and per-host politeness.

    Use as ``async with Fetcher(settings) as f: result = await f.fetch(url)``. One
    Fetcher per event loop; share it across all fetches so host limits are global.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        max_connections: int = 200,
        book: PolitenessBook | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.book = book
        self.policy = AddressPolicy.from_setting(self.settings.allow_networks)
        self._ssl = ssl_context()  # built once: loading CA certificates is slow
        # One small connection pool per host: httpcore scans every connection of a pool
        # on every request, so one shared pool over hundreds of hosts costs O(hosts).
        # Transports, not clients: httpx's client parses every Location header itself
        # and raises on hostile ones; redirects are ours to judge.
        self._transports: dict[str, httpx.AsyncHTTPTransport] = {}
        self._gates: dict[str, HostGate] = {}
        # Taken after the host gate, so requests queued for a busy host hold no slot.
        self._in_flight = asyncio.Semaphore(max_connections)
        self._robots_locks: dict[str, asyncio.Lock] = {}

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        transports, self._transports = list(self._transports.values()), {}
        for transport in transports:
            await transport.aclose()

    def _transport_for(self, host: str) -> httpx.AsyncHTTPTransport:
        transport = self._transports.get(host)
        if transport is None:
            pool_size = 2 * max(1, self.settings.per_host_concurrency)  # http and https
            transport = guarded_transport(self.policy, max_connections=pool_size, ctx=self._ssl)
            self._transports[host] = transport
        return transport

    def gate(self, host: str) -> HostGate:
        """The politeness gate for one host name."""
        gate = self._gates.get(host)
        if gate is None:
            gate = HostGate(
                self.settings.per_host_concurrency,
                self.settings.per_host_delay_s,
                host=host,
                book=self.book,
            )
            self._gates[host] = gate
        return gate

    async def fetch(
        self,
        url: str,
        *,
        max_bytes: int | None = None,
        deadline_s: float | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = "*/*",
    ) -> FetchResult:
        """GET ``url`` safely. Returns a 2xx or 304 result; raises :class:`FetchError`."""
        settings = self.settings
        limit = max_bytes if max_bytes is not None else settings.max_feed_bytes
        deadline = deadline_s if deadline_s is not None else settings.fetch_deadline_s
        headers = {"Accept": accept, "Accept-Encoding": ACCEPT_ENCODING}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = check_url(url, self.policy)
        started = time.monotonic()
        deadline_at: float | None = None
        hops: list[tuple[int, str]] = []
        seen = {current}
        all_permanent = True
        for _ in range(settings.max_redirects + 1):
            host = urlsplit(current).hostname or ""
            gate = self.gate(host)
            wait = gate.cooldown_until - time.monotonic()
            if wait > 0:
                raise FetchError(
                    ErrorClass.THROTTLED,
                    f"{host} asked to wait {wait:.0f}s",
                    url=current,
                    retry_after_s=wait,
                )
            async with contextlib.AsyncExitStack() as held:
                loop = asyncio.get_running_loop()
                if deadline_at is None:
                    # The clock starts once the first host lets us in: waiting behind our
                    # own politeness limits is not the server's fault.
                    await held.enter_async_context(gate)
                    await held.enter_async_context(self._in_flight)
                    deadline_at = loop.time() + deadline
                else:  # a redirect hop: the deadline already runs
                    try:
                        async with asyncio.timeout_at(deadline_at):
                            await held.enter_async_context(gate)
                            await held.enter_async_context(self._in_flight)
                    except TimeoutError:
                        raise FetchError(
                            ErrorClass.TIMEOUT, "deadline exceeded", url=current
                        ) from None
                try:
                    async with asyncio.timeout_at(deadline_at):
                        hop = await self._request(
                            current, headers, limit, deadline_at - loop.time()
                        )
                except FetchError:
                    raise
                except Exception as exc:
                    raise _classify(exc, current) from None
            if hop.location is None:
                self._raise_for_status(hop, current, gate)
                return FetchResult(
                    url=url,
                    final_url=current,
                    status=hop.status,
                    headers=hop.headers,
                    body=hop.body,
                    elapsed_s=time.monotonic() - started,
                    peer_ip=hop.peer_ip,
                    redirects=hops,
                    permanent_url=current if hops and all_permanent else None,
                )
            try:
                joined = urljoin(current, hop.location)
            except ValueError:
                raise FetchError(
                    ErrorClass.BAD_URL, "malformed redirect Location", url=current
                ) from None
            target = check_url(joined, self.policy)
            hops.append((hop.status, target))
            all_permanent = all_permanent and hop.status in PERMANENT_REDIRECTS
            if target in seen:
                raise FetchError(ErrorClass.TOO_MANY_REDIRECTS, "redirect loop", url=target)
            seen.add(target)
            current = target
        raise FetchError(
            ErrorClass.TOO_MANY_REDIRECTS, f"more than {settings.max_redirects} redirects", url=url
        )

    async def _request(
        self, url: str, headers: Mapping[str, str], limit: int, remaining: float
    ) -> _Hop:
        timeout = httpx.Timeout(remaining, connect=min(self.settings.connect_timeout_s, remaining))
        transport = self._transport_for(urlsplit(url).hostname or "")
        request = httpx.Request(
            "GET",
            url,
            headers={"User-Agent": self.settings.user_agent_string, **headers},
            extensions={"timeout": timeout.as_dict()},
        )
        response = await transport.handle_async_request(request)
        try:
            stream = response.extensions.get("network_stream")
            peer = stream.get_extra_info("server_addr") if stream is not None else None
            hop = _Hop(
                status=response.status_code,
                headers=dict(response.headers.items()),
                peer_ip=str(peer[0]) if peer else None,
            )
            if response.status_code in PERMANENT_REDIRECTS | TEMPORARY_REDIRECTS:
                hop.location = response.headers.get("location")
                if hop.location is not None:
                    return hop  # never read a redirect's body
            if 200 <= response.status_code < 300:
                hop.body = await self._read_body(response, limit, url)
            return hop
        finally:
            await response.aclose()

    @staticmethod
    async def _read_body(response: httpx.Response, limit: int, url: str) -> bytes:
        # Compressed input can be slightly larger than its output (incompressible data).
        raw_limit = limit + limit // 64 + 4096
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > raw_limit:
            raise FetchError(ErrorClass.TOO_LARGE, f"Content-Length {length} over cap", url=url)
        try:
            decoder = decoder_for(response.headers.get("content-encoding"), limit)
        except FetchError as exc:
            exc.url = url
            raise
        parts: list[bytes] = []
        raw_total = 0
        try:
            async for chunk in response.aiter_raw():
                raw_total += len(chunk)
                if raw_total > raw_limit:
                    raise FetchError(ErrorClass.TOO_LARGE, f"body over {raw_limit} bytes")
                parts.append(decoder.feed(chunk))
            parts.append(decoder.finish())
        except FetchError as exc:
            exc.url = url
            raise
        return b"".join(parts)

    def _raise_for_status(self, hop: _Hop, url: str, gate: HostGate) -> None:
        status = hop.status
        if 200 <= status < 300 or status == 304:
            return
        retry_after = parse_retry_after(
            hop.headers.get("retry-after"), self.settings.retry_after_cap_s
        )
        if retry_after and status in (429, 503):
            gate.cooldown_until = time.monotonic() + retry_after
        if 400 <= status < 500:
            cls = ErrorClass.HTTP_4XX
        elif 500 <= status < 600:
            cls = ErrorClass.HTTP_5XX
        else:
            cls = ErrorClass.HTTP_OTHER
        raise FetchError(cls, f"HTTP {status}", url=url, status=status, retry_after_s=retry_after)

    async def robots_for(self, url: str) -> Protego | None:
        """The parsed robots.txt of ``url``'s origin; None = allow all.

        Cached per origin for the whole process (every batch and Fetcher shares it), and
        fetched once however many pages of the origin ask at the same time.
        """
        parts = urlsplit(check_url(url, self.policy))
        origin = f"{parts.scheme}://{parts.netloc}"
        cached = _ROBOTS_CACHE.get(origin)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        lock = self._robots_locks.setdefault(origin, asyncio.Lock())
        async with lock:
            cached = _ROBOTS_CACHE.get(origin)  # another task may have just fetched it
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
            rules: Protego | None
            ttl = ROBOTS_TTL_S
            try:
                result = await self.fetch(origin + "/robots.txt", max_bytes=ROBOTS_MAX_BYTES)
                rules = Protego.parse(result.body.decode("utf-8", "replace"))
            except FetchError as exc:
                if exc.error_class is ErrorClass.HTTP_4XX:
                    rules = None  # RFC 9309: no robots.txt means no restrictions
                elif exc.error_class in (ErrorClass.BLOCKED, ErrorClass.BAD_URL):
                    raise
                else:  # unreachable robots.txt: assume complete disallow, briefly
                    rules = Protego.parse("User-agent: *\nDisallow: /")
                    ttl = ROBOTS_FAILURE_TTL_S
            _remember_robots(origin, time.monotonic() + ttl, rules)
            return rules

    async def fetch_page(self, url: str, *, deadline_s: float | None = None) -> FetchResult:
        """Fetch an article page: robots.txt checked, crawl-delay honoured, page size cap."""
        rules = await self.robots_for(url)
        if rules is not None:
            if not rules.can_fetch(url, ROBOTS_AGENT):
                raise FetchError(ErrorClass.ROBOTS, "disallowed by robots.txt", url=url)
            delay = rules.crawl_delay(ROBOTS_AGENT)
            if delay:
                gate = self.gate(urlsplit(url).hostname or "")
                gate.delay_s = max(gate.delay_s, min(float(delay), MAX_CRAWL_DELAY_S))
        return await self.fetch(
            url,
            max_bytes=self.settings.max_page_bytes,
            deadline_s=deadline_s,
            accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
        )


def fetch_url(url: str, settings: Settings | None = None, **kwargs: object) -> FetchResult:
    """Synchronous one-off :meth:`Fetcher.fetch` (CLI, scripts). Raises FetchError."""

    async def run() -> FetchResult:
        async with Fetcher(settings, max_connections=4) as fetcher:
            return await fetcher.fetch(url, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(run())


def fetch_page(url: str, settings: Settings | None = None) -> FetchResult:
    """Synchronous :meth:`Fetcher.fetch_page` for one page."""

    async def run() -> FetchResult:
        async with Fetcher(settings, max_connections=4) as fetcher:
            return await fetcher.fetch_page(url)

    return asyncio.run(run())
