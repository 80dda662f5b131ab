"""An httpx transport that resolves names itself and connects only to vetted addresses.

httpcore asks its network backend to ``connect_tcp(host, port)``. :class:`GuardedBackend`
resolves ``host``, checks *every* returned address against the :class:`AddressPolicy`
(a name with any forbidden address is refused: that is what DNS-rebinding tricks look
like), then connects to the vetted IP literal. TLS still uses the original name for SNI
and certificate checks, because httpcore passes the origin's host to ``start_tls``.
Redirects open new connections through the same backend, so every hop is checked.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
from httpcore import AsyncNetworkBackend, AsyncNetworkStream
from httpcore._backends.base import SOCKET_OPTION

from ingest.net.errors import ErrorClass, FetchError
from ingest.net.guard import AddressPolicy


class GuardedBackend(AsyncNetworkBackend):
    """Resolve, vet every address, connect to the vetted address only."""

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def _resolve(self, host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except socket.gaierror as exc:
            raise FetchError(ErrorClass.DNS, f"cannot resolve {host!r}: {exc.strerror}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise FetchError(ErrorClass.DNS, f"no address for {host!r}")
        for address in addresses:
            reason = self._policy.blocked_reason(address)
            if reason is not None:
                raise FetchError(ErrorClass.BLOCKED, f"{host} resolves to {reason}")
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        last: Exception | None = None
        for address in await self._resolve(host, port):
            try:
                stream = await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            peer = stream.get_extra_info("server_addr")
            if peer is None or self._policy.blocked_reason(peer[0]) is not None:
                await stream.aclose()
                raise FetchError(ErrorClass.BLOCKED, f"connected peer {peer} not allowed")
            return stream
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        raise FetchError(ErrorClass.BLOCKED, "unix sockets are never used")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """Verified TLS only: system CAs, hostname checks, no insecure fallback anywhere.

    One per process: loading the system CA store costs ~50 ms, and a fetch batch builds
    a new client. Nothing changes the context after this, so sharing it is safe.
    """
    ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def guarded_transport(
    policy: AddressPolicy, *, max_connections: int, ctx: ssl.SSLContext | None = None
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection goes through :class:`GuardedBackend`."""
    ctx = ctx or ssl_context()
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    transport = httpx.AsyncHTTPTransport(verify=ctx, trust_env=False, limits=limits)
    pool_kwargs: dict[str, Any] = {
        "ssl_context": ctx,
        "max_connections": limits.max_connections,
        "max_keepalive_connections": limits.max_keepalive_connections,
        "keepalive_expiry": 30.0,
        "http1": True,
        "http2": False,
        "network_backend": GuardedBackend(policy),
    }
    # httpx has no public hook for the network backend; the pool is its only holder.
    transport._pool = httpcore.AsyncConnectionPool(**pool_kwargs)
    return transport
