"""Entry identity: which items of a feed are the same item across polls.

guid, else the canonical link, else title and content. The date is deliberately not
part of any identity that has something better: publishers rewrite pubDate on every
fetch, and an identity that moved with it would make every poll look all-new.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that track the reader, not name the document.
_TRACKING_PREFIXES = ("utm_", "mc_", "_hs")
_TRACKING_NAMES = frozenset({"fbclid", "gclid", "dclid", "msclkid", "igshid", "ref_src"})


def canonical_link(url: str) -> str:
    """A stable spelling of a link: lowercase scheme/host, no default port, no fragment,
    no tracking parameters."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith(_TRACKING_PREFIXES) and k.lower() not in _TRACKING_NAMES
    ]
    return urlunsplit((scheme, host, parts.path or "/", urlencode(query), ""))


def item_key(
    guid: str | None,
    url: str | None,
    title: str | None,
    summary: str | None,
    published: datetime | None,
) -> str:
    """sha256 hex (64 chars, the ``entries.item_key`` column) of the item's identity."""
    if guid:
        identity = "guid\0" + guid
    elif url:
        identity = "link\0" + canonical_link(url)
    elif title or summary:
        identity = "text\0" + (title or "") + "\0" + (summary or "")
    else:
        identity = "date\0" + (published.isoformat() if published else "")
    return hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()
