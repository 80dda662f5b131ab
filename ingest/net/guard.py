"""The SSRF guard: which URLs and which IP addresses newsmon may connect to.

Checked twice: :func:`check_url` on every URL before any I/O (scheme, userinfo, length,
numeric host literals in all their legacy spellings), and :meth:`AddressPolicy.check` on
every address DNS returns, right before connecting to exactly that address (see
:mod:`ingest.net.transport`). Both run again on every redirect hop.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ingest.net.errors import ErrorClass, FetchError

MAX_URL_LENGTH = 2048
ALLOWED_SCHEMES = frozenset({"http", "https"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# IPv6 ranges that embed an IPv4 address the packet may really be delivered to.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# Only 2000::/3 is global unicast; everything else in IPv6 is special-purpose.
_IPV6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# IETF protocol assignments: Python calls a few of these global; none hosts a feed.
_IETF_PROTOCOL = ipaddress.ip_network("192.0.0.0/24")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form maps, translates or tunnels to, if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _NAT64) or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.teredo is not None:
        return ip.teredo[1]  # the client address the relay forwards to
    return None


def _special_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address, or None if it is one."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_unspecified:
            return "unspecified address"
        if ip.is_loopback:
            return "loopback address"
        if ip.is_multicast:
            return "multicast address"
        if ip.is_link_local or ip.is_site_local:
            return "link-local address"
        if ip in ipaddress.ip_network("fc00::/7"):
            return "unique-local address"
        if ip not in _IPV6_GLOBAL_UNICAST:
            return "reserved IPv6 address"
        if not ip.is_global:
            return "non-global IPv6 address"
        return None
    checks = (
        (ip.is_unspecified, "unspecified address"),
        (ip.is_loopback, "loopback address"),
        (ip.is_link_local, "link-local address (incl. cloud metadata)"),
        (ip in _CGNAT, "carrier-grade NAT address"),
        (ip in _IETF_PROTOCOL, "IETF protocol-assignment address"),
        (ip.is_multicast, "multicast address"),
        (ip.is_private, "private address"),
        (ip.is_reserved, "reserved address"),
        (not ip.is_global, "non-global address"),
    )
    for hit, reason in checks:
        if hit:
            return reason
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Public unicast addresses only, plus the operator's ``allow`` networks."""

    allow: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_setting(cls, allow_networks: str) -> AddressPolicy:
        """Parse ``NEWSMON_ALLOW_NETWORKS`` (comma-separated CIDRs)."""
        nets: list[IPNetwork] = []
        for part in allow_networks.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                nets.append(ipaddress.ip_network(part, strict=False))
            except ValueError as exc:
                raise ValueError(f"NEWSMON_ALLOW_NETWORKS: {part!r} is not a CIDR") from exc
        return cls(tuple(nets))

    def _allowed(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allow)

    def blocked_reason(self, address: str | IPAddress) -> str | None:
        """None if newsmon may connect to ``address``; else why not."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return f"not an IP address: {address!s}"
        if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
            return "scoped IPv6 address"
        if self._allowed(ip):
            return None
        if isinstance(ip, ipaddress.IPv6Address):
            inner = _embedded_ipv4(ip)
            if inner is not None:
                # Judge the IPv4 address the traffic ends up at, not its IPv6 wrapper.
                if self._allowed(inner):
                    return None
                reason = _special_reason(inner)
                return f"{reason} (inside {ip})" if reason else None
        reason = _special_reason(ip)
        return f"{reason} {ip}" if reason else None

    def check(self, address: str, *, url: str = "") -> None:
        """Raise ``FetchError(blocked)`` unless ``address`` may be connected to."""
        reason = self.blocked_reason(address)
        if reason is not None:
            raise FetchError(ErrorClass.BLOCKED, reason, url=url)


def numeric_host(host: str) -> IPAddress | None:
    """The address a numeric host literal denotes, in any spelling a resolver accepts.

    ``inet_aton`` accepts the legacy forms (``2130706433``, ``0x7f.1``, ``017700000001``,
    ``127.1``) that getaddrinfo would silently turn into addresses.
    """
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        pass
    if text and all(c in "0123456789abcdefxABCDEFX." for c in text) and text[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def host_blocked_reason(host: str, policy: AddressPolicy) -> str | None:
    """Why ``host`` (a name or a numeric literal) may not be contacted, or None.

    For clients that connect by themselves (Apprise): a name is resolved here and every
    address checked. Best effort only, since such a client resolves again (DNS rebinding);
    a name that does not resolve is left to it (many services put a token there).
    """
    ip = numeric_host(host)
    if ip is not None:
        addresses = [str(ip)]
    else:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return None
        addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        reason = policy.blocked_reason(address)
        if reason is not None:
            return f"{host} resolves to {reason}"
    return None


# One C-level scan (a Python loop over the characters cost more than the request).
_CONTROL_OR_SPACE = re.compile("[\x00-\x20\x7f]")


def check_url(url: str, policy: AddressPolicy) -> str:
    """Validate and normalise a URL before any I/O; returns the URL to request.

    ``feed://`` and ``feed:https://`` are rewritten to http(s). Numeric hosts are checked
    against ``policy`` here and rewritten to their canonical spelling, so the address
    that is checked is the address that is connected to.
    """
    if not isinstance(url, str) or not url.strip():
        raise FetchError(ErrorClass.BAD_URL, "empty URL", url=str(url)[:200])
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise FetchError(ErrorClass.BAD_URL, f"URL longer than {MAX_URL_LENGTH}", url=url[:200])
    if _CONTROL_OR_SPACE.search(url):
        raise FetchError(ErrorClass.BAD_URL, "control character or space in URL", url=url[:200])
    lower = url.lower()
    if lower.startswith("feed:"):
        rest = url[5:]
        url = rest if rest.lower().startswith(("http://", "https://")) else "http:" + rest
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError(ErrorClass.BAD_URL, f"malformed URL: {exc}", url=url[:200]) from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise FetchError(
            ErrorClass.BAD_URL, f"scheme {scheme or '(none)'!r} not allowed", url=url[:200]
        )
    if "@" in parts.netloc:
        raise FetchError(ErrorClass.BAD_URL, "credentials in URL not allowed", url=url[:200])
    host = parts.hostname or ""
    if not host:
        raise FetchError(ErrorClass.BAD_URL, "URL has no host", url=url[:200])
    ip = numeric_host(host)
    if ip is not None:
        policy.check(str(ip), url=url)
        host = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
