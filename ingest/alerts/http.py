"""POSTing alert JSON through newsmon's one HTTP layer (:mod:`ingest.net`).

Webhook and Slack URLs are operator-configured but still go through the SSRF guard:
a subscription must not be a way to reach the metadata service or the database.

``ingest.net`` did not yet export a POST function when this was written; until it does,
:func:`post_json` builds a one-off client on ``ingest.net``'s guarded transport (so the
URL check and per-connection address vetting are the same code as for feeds). When
``ingest.net.post_json`` exists it is used instead.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ingest.config import Settings
from ingest.net import AddressPolicy, ErrorClass, FetchError, check_url
from ingest.net.transport import guarded_transport

MAX_RESPONSE_BYTES = 64 * 1024
POST_DEADLINE_S = 30.0


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes


def _net_post_json() -> Callable[..., Any] | None:
    post = getattr(importlib.import_module("ingest.net"), "post_json", None)
    return post if callable(post) else None


async def _post_guarded(
    url: str, body: bytes, headers: Mapping[str, str], settings: Settings
) -> HttpReply:
    policy = AddressPolicy.from_setting(settings.allow_networks)
    target = check_url(url, policy)
    deadline = min(settings.fetch_deadline_s, POST_DEADLINE_S)
    timeout = httpx.Timeout(deadline, connect=min(settings.connect_timeout_s, deadline))
    async with httpx.AsyncClient(
        transport=guarded_transport(policy, max_connections=2),
        trust_env=False,
        follow_redirects=False,  # a redirected POST is a misconfigured hook, not a hop
        headers={"User-Agent": settings.user_agent_string},
        timeout=timeout,
    ) as client:
        try:
            async with asyncio.timeout(deadline):
                async with client.stream("POST", target, content=body, headers=dict(headers)) as r:
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in r.aiter_bytes():
                        size += len(chunk)
                        if size > MAX_RESPONSE_BYTES:
                            break  # only the status matters; never buffer a huge reply
                        chunks.append(chunk)
                    return HttpReply(r.status_code, dict(r.headers.items()), b"".join(chunks))
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
    """POST ``body`` to ``url`` through the SSRF guard. Any HTTP status is returned;
    transport failures and blocked destinations raise :class:`FetchError`."""
    net_post = _net_post_json()
    if net_post is not None:
        status, reply_headers, reply_body = net_post(url, body, dict(headers))
        return HttpReply(int(status), dict(reply_headers), bytes(reply_body))
    return asyncio.run(_post_guarded(url, body, headers, settings))
