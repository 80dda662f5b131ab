"""URL canonicalisation: one canonical form, and one key, per real document.

The rules, in order: unwrap redirect/aggregator wrappers (``google.com/url?q=``,
``l.facebook.com/l.php?u=``, Google News article ids that embed the target), lower-case
scheme and host, treat http and https as the same document, drop default ports, drop
``www.``/``m.``/``amp.`` host variants, undo AMP paths, drop tracking parameters and
fragments, sort the remaining query parameters, drop trailing slashes. A same-site
``rel=canonical`` given by the page wins over the fetched URL (a cross-site one is ignored:
any page could otherwise claim to be another site's article).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

MAX_URL_LENGTH = 2048
_MAX_UNWRAP_DEPTH = 3


class UrlError(ValueError):
    """The string is not a usable http(s) URL (empty, too long, other scheme, no host)."""


# Tracking parameters: exact names and prefixes (compared lower-case).
_TRACKING_EXACT = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "igshid", "twclid",
        "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id",
        "oly_enc_id", "vero_id", "wickedid", "ref", "ref_src", "ref_url", "referrer",
        "cmpid", "cmp", "ncid", "ocid", "smid", "smtyp", "ito", "spm", "share", "s_cid",
        "via", "feature", "at_medium", "at_campaign",
        "__twitter_impression", "amp", "outputtype", "rss", "partner", "intcmp", "wt.mc_id",
        "icid", "sr_share", "guccounter", "guce_referrer", "guce_referrer_sig", "_r", "hp",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "piwik_", "hsa_", "at_", "ga_", "mtm_", "itm_")

# Host label prefixes that name a variant of the same site.
_HOST_VARIANT_PREFIXES = ("www.", "www2.", "m.", "mobile.", "amp.")

# Wrapper hosts/paths whose query parameter carries the real target.
_WRAPPER_PARAMS = ("url", "u", "q", "target", "dest", "destination", "redirect", "to", "link")
_WRAPPER_PATHS = re.compile(r"^/(url|l\.php|link|redirect|redir|out|r|outbound|ck/a)/?$", re.I)
_GOOGLE_NEWS_ARTICLE = re.compile(r"/(?:rss/)?articles/([A-Za-z0-9_-]+)")
_EMBEDDED_URL = re.compile(rb"https?://[\x21-\x7e]+")


def _check(url: str) -> str:
    if not isinstance(url, str):
        raise UrlError(f"URL must be a string, not {type(url).__name__}")
    url = url.strip()
    if not url:
        raise UrlError("empty URL")
    if len(url) > MAX_URL_LENGTH:
        raise UrlError(f"URL longer than {MAX_URL_LENGTH} characters")
    return url


def _split(url: str) -> tuple[str, str, str, str, str]:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError as exc:
        raise UrlError(f"malformed URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlError(f"not an http(s) URL: scheme {scheme or '(none)'!r}")
    if not parts.hostname:
        raise UrlError("URL has no host")
    return scheme, parts.netloc, parts.path, parts.query, parts.fragment


def _normalise_host(netloc: str) -> str:
    # Drop userinfo (never part of a document's identity), default ports, trailing dot.
    hostport = netloc.rsplit("@", 1)[-1].lower()
    host, _, port = hostport.rpartition(":") if hostport.count(":") == 1 else (hostport, "", "")
    if not host:
        host, port = hostport, ""
    host = host.rstrip(".")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise UrlError(f"invalid host name {host!r}") from None
    for prefix in _HOST_VARIANT_PREFIXES:
        # Keep at least two labels: "m.example" stays, "m.example.com" -> "example.com".
        if host.startswith(prefix) and host[len(prefix) :].count(".") >= 1:
            host = host[len(prefix) :]
            break
    if port in ("", "80", "443"):
        return host
    return f"{host}:{port}"


def _normalise_path(path: str) -> str:
    # Re-quote so equivalent percent-encodings compare equal ("%7e" == "~").
    path = quote(unquote(path), safe="/:@!$&'()*+,;=-._~")
    segments = [s for s in path.split("/") if s not in ("", ".")]
    # AMP variants: a leading or trailing "amp" segment, or "name.amp.html" / "name.amp".
    if segments and segments[-1].lower() in ("amp", "amp.html"):
        segments.pop()
    if segments and segments[0].lower() == "amp":
        segments.pop(0)
    if segments:
        last = segments[-1]
        last = re.sub(r"\.amp(\.html?)?$", r"\1", last, flags=re.I)
        segments[-1] = last
    return "/" + "/".join(segments)


def _is_tracking(name: str) -> bool:
    name = name.lower()
    return name in _TRACKING_EXACT or name.startswith(_TRACKING_PREFIXES)


def _normalise_query(query: str) -> str:
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if not _is_tracking(k)]
    return urlencode(sorted(pairs), doseq=False)


def _google_news_target(path: str) -> str | None:
    match = _GOOGLE_NEWS_ARTICLE.search(path)
    if not match:
        return None
    token = match.group(1)
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    found = _EMBEDDED_URL.search(raw)
    return found.group(0).decode("ascii") if found else None


def _unwrap(url: str) -> str | None:
    """The target of a redirect/aggregator wrapper, or None if ``url`` is not one."""
    _scheme, netloc, path, query, _ = _split(url)
    host = netloc.rsplit("@", 1)[-1].lower()
    if host.startswith("news.google.") or host == "news.url.google.com":
        target = _google_news_target(path)
        if target:
            return target
    if _WRAPPER_PATHS.match(path) or host in (
        "l.facebook.com",
        "lm.facebook.com",
        "out.reddit.com",
    ):
        params = dict(parse_qsl(query, keep_blank_values=False))
        for name in _WRAPPER_PARAMS:
            value = params.get(name, "")
            if value.lower().startswith(("http://", "https://")):
                return value
    return None


def _same_site(host_a: str, host_b: str) -> bool:
    def site(host: str) -> str:
        return ".".join(host.split(":")[0].split(".")[-2:])

    return site(host_a) == site(host_b)


def canonical_url(url: str, rel_canonical: str | None = None) -> str:
    """The canonical form of ``url`` (see the module docstring for the rules).

    ``rel_canonical`` is the page's ``<link rel=canonical>`` if known (may be relative);
    it replaces ``url`` when it points to the same site. Raises :class:`UrlError`.
    """
    url = _check(url)
    for _ in range(_MAX_UNWRAP_DEPTH):
        target = _unwrap(url)
        if target is None:
            break
        url = _check(target)
    _scheme, netloc, path, query, _fragment = _split(url)
    host = _normalise_host(netloc)
    if rel_canonical:
        try:
            candidate = canonical_url(urljoin(url, rel_canonical.strip()))
        except UrlError:
            candidate = ""
        if candidate and _same_site(urlsplit(candidate).netloc, host):
            return candidate
    # http and https serve the same document; the canonical form is https.
    result = urlunsplit(("https", host, _normalise_path(path), _normalise_query(query), ""))
    if len(result) > MAX_URL_LENGTH:
        raise UrlError(f"URL longer than {MAX_URL_LENGTH} characters")
    return result


def url_key(url: str, rel_canonical: str | None = None) -> str:
    """sha256 hex of :func:`canonical_url`: the article's fixed-width unique key."""
    return hashlib.sha256(canonical_url(url, rel_canonical).encode("utf-8")).hexdigest()
