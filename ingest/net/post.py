"""POSTing JSON (alert webhooks, Slack) through the same guarded transport as fetches.

Webhook and Slack URLs are operator-configured but still go through the SSRF guard:
a subscription must not be a way to reach the metadata service or the database. The
reply body is only read raw and capped (never decoded): only the status matters, and a
compressed reply could otherwise expand without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from ingest.config import Settings
from ingest.net.errors import ErrorClass, FetchError
from ingest.net.guard import AddressPolicy, check_url
from ingest.net.transport import guarded_transport

MAX_RESPONSE_BYTES = 64 * 1024
POST_DEADLINE_S = 30.0


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes


class JsonPoster:
    """POSTs through the SSRF guard, reusing one guarded client (and its TLS context and
    connections) across the sends of one sender run. Not thread-safe: one per run.

    Any HTTP status is returned; transport failures and blocked destinations raise
    :class:`FetchError`.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.policy = AddressPolicy.from_setting(settings.allow_networks)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None

    def __enter__(self) -> JsonPoster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._loop is not None:
            if self._client is not None:
                self._loop.run_until_complete(self._client.aclose())
            self._loop.close()
        self._loop = self._client = None

    def _ensure_client(self) -> tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]:
        if self._loop is None or self._client is None:
            self._loop = asyncio.new_event_loop()
            self._client = httpx.AsyncClient(
                transport=guarded_transport(self.policy, max_connections=4),
                trust_env=False,
                follow_redirects=False,  # a redirected POST is a misconfigured hook
                headers={"User-Agent": self.settings.user_agent_string},
            )
        return self._loop, self._client

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpReply:
        target = check_url(url, self.policy)
        loop, client = self._ensure_client()
        return loop.run_until_complete(self._post(client, target, body, headers))

    async def _post(
        self, client: httpx.AsyncClient, target: str, body: bytes, headers: Mapping[str, str]
    ) -> HttpReply:
        deadline = min(self.settings.fetch_deadline_s, POST_DEADLINE_S)
        timeout = httpx.Timeout(deadline, connect=min(self.settings.connect_timeout_s, deadline))
        try:
            async with asyncio.timeout(deadline):
                request = client.build_request(
                    "POST", target, content=body, headers=dict(headers), timeout=timeout
                )
                response = await client.send(request, stream=True)
                try:
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_raw():
                        size += len(chunk)
                        if size > MAX_RESPONSE_BYTES:
                            break  # only the status matters; never buffer a huge reply
                        chunks.append(chunk)
                finally:
                    await response.aclose()
                return HttpReply(
                    response.status_code, dict(response.headers.items()), b"".join(chunks)
                )
        except FetchError:
            raise
        except TimeoutError:
            raise FetchError(ErrorClass.TIMEOUT, "deadline exceeded", url=target) from None
        except httpx.HTTPError as exc:
            cause: BaseException | None = exc
            while cause is not None:
                if isinstance(cause, FetchError):
                    raise cause from None
                cause = cause.__cause__ or cause.__context__
            cls = ErrorClass.CONNECT if isinstance(exc, httpx.ConnectError) else ErrorClass.NETWORK
            raise FetchError(cls, str(exc) or type(exc).__name__, url=target) from None


def post_json(url: str, body: bytes, headers: Mapping[str, str], settings: Settings) -> HttpReply:
    """One-off :meth:`JsonPoster.post`."""
    with JsonPoster(settings) as poster:
        return poster.post(url, body, headers)
