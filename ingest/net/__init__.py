"""newsmon's only HTTP layer: SSRF-guarded, size- and time-capped, polite.

Everything that opens a socket to a URL a stranger controls goes through here::

    async with Fetcher(settings) as fetcher:
        result = await fetcher.fetch(url, etag=..., last_modified=...)
        page = await fetcher.fetch_page(article_url)   # robots.txt checked

Failures raise :class:`FetchError` whose :class:`ErrorClass` says why.
"""

from ingest.net.client import (
    Fetcher,
    FetchResult,
    PolitenessBook,
    fetch_page,
    fetch_url,
    parse_retry_after,
)
from ingest.net.errors import ErrorClass, FetchError
from ingest.net.guard import AddressPolicy, check_url
from ingest.net.post import HttpReply, JsonPoster, post_json

__all__ = [
    "AddressPolicy",
    "ErrorClass",
    "FetchError",
    "FetchResult",
    "Fetcher",
    "HttpReply",
    "JsonPoster",
    "PolitenessBook",
    "check_url",
    "fetch_page",
    "fetch_url",
    "parse_retry_after",
    "post_json",
]
