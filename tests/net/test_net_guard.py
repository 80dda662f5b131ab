"""The address policy and URL checks (property tests) and TLS verification."""

from __future__ import annotations

import asyncio
import http.server
import ipaddress
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.config import Settings
from ingest.net import AddressPolicy, ErrorClass, Fetcher, FetchError, check_url
from ingest.net.client import parse_retry_after

OPEN = AddressPolicy()
FORBIDDEN_V4 = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "0.0.0.0/8",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "192.0.0.0/24",
    "198.18.0.0/15",
]


@st.composite
def forbidden_v4(draw: st.DrawFn) -> ipaddress.IPv4Address:
    net = ipaddress.ip_network(draw(st.sampled_from(FORBIDDEN_V4)))
    return net[draw(st.integers(0, net.num_addresses - 1))]


@given(forbidden_v4())
def test_forbidden_ipv4_is_blocked_in_every_disguise(ip: ipaddress.IPv4Address) -> None:
    n = int(ip)
    disguises = [
        str(ip),
        f"::ffff:{ip}",  # IPv4-mapped
        str(ipaddress.IPv6Address((0x64FF9B << 96) | n)),  # NAT64
        str(ipaddress.IPv6Address((0x2002 << 112) | (n << 80))),  # 6to4
    ]
    for form in disguises:
        assert OPEN.blocked_reason(form) is not None, form
    for literal in (str(n), hex(n), f"0{n:o}"):  # 2130706433, 0x7f000001, 017700000001
        with pytest.raises(FetchError) as exc:
            check_url(f"http://{literal}/", OPEN)
        assert exc.value.error_class is ErrorClass.BLOCKED


@pytest.mark.parametrize(
    "address", ["::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "fec0::1", "100::1"]
)
def test_special_ipv6_is_blocked(address: str) -> None:
    assert OPEN.blocked_reason(address) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "93.184.216.34"])
def test_public_addresses_pass(address: str) -> None:
    assert OPEN.blocked_reason(address) is None


def test_allow_networks_opts_in_exactly_those() -> None:
    policy = AddressPolicy.from_setting("127.0.0.2/32, 10.1.0.0/16")
    assert policy.blocked_reason("127.0.0.2") is None
    assert policy.blocked_reason("10.1.2.3") is None
    assert policy.blocked_reason("127.0.0.1") is not None
    assert policy.blocked_reason("10.2.0.1") is not None
    with pytest.raises(ValueError, match="not a CIDR"):
        AddressPolicy.from_setting("localhost")


def test_url_normalisation() -> None:
    assert check_url("feed://example.com/rss", OPEN) == "http://example.com/rss"
    assert check_url("feed:https://example.com/rss", OPEN) == "https://example.com/rss"
    assert check_url("https://example.com/a#frag", OPEN) == "https://example.com/a"
    for bad in ("http://exa mple.com/", "http://example.com/\x00", "//example.com/", ""):
        with pytest.raises(FetchError) as exc:
            check_url(bad, OPEN)
        assert exc.value.error_class is ErrorClass.BAD_URL


def test_retry_after_forms() -> None:
    assert parse_retry_after("120", 60) == 60
    assert parse_retry_after("30", 60) == 30
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 60) == 0
    assert parse_retry_after("soon", 60) is None


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An HTTPS server with a self-signed certificate for 127.0.0.2."""
    folder: Path = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.2",
            "-addext",
            "subjectAltName=IP:127.0.0.2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    yield f"https://127.0.0.2:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_untrusted_certificate_is_a_tls_error(tls_server: str, settings: Settings) -> None:
    async def run() -> FetchError:
        async with Fetcher(settings) as fetcher:
            with pytest.raises(FetchError) as exc:
                await fetcher.fetch(tls_server)
            return exc.value

    error = asyncio.run(run())
    assert error.error_class is ErrorClass.TLS
    assert "certificate" in error.reason.lower()
