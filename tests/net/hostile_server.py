"""A deliberately hostile HTTP server on loopback for the network and feed tests.

Routes are plain functions ``handler(conn, request) -> None`` that write whatever bytes
they like to the raw socket: well-formed responses, bombs, drips, silence. Every request
is counted per path, so tests can prove a forbidden destination was never contacted.
"""

from __future__ import annotations

import collections
import socket
import socketserver
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import brotli
import zstandard

GIB = 1 << 30
MIB = 1 << 20


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


Handler = Callable[[socket.socket, Request], None]


@dataclass
class HostileServer:
    host: str
    routes: dict[str, Handler] = field(default_factory=dict)
    hits: collections.Counter[str] = field(default_factory=collections.Counter)
    stop: threading.Event = field(default_factory=threading.Event)
    port: int = 0
    _server: socketserver.ThreadingTCPServer | None = None

    @property
    def base(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def start(self) -> HostileServer:
        owner = self

        class _Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn: socket.socket = self.request
                conn.settimeout(30)
                while not owner.stop.is_set():
                    request = _read_request(conn)
                    if request is None:
                        return
                    owner.hits[request.path] += 1
                    handler = owner.routes.get(request.path.split("?")[0], not_found)
                    try:
                        handler(conn, request)
                    except OSError:
                        return
                    if request.headers.get("connection", "").lower() == "close":
                        return

        class _Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            address_family = socket.AF_INET6 if ":" in self.host else socket.AF_INET

        self._server = _Server((self.host, 0), _Handler)
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def close(self) -> None:
        self.stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _read_request(conn: socket.socket) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = conn.recv(65536)
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
        if len(data) > 65536:
            return None
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    method, path, _ = head[0].split(" ", 2)
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Request(method, path, headers)


def send_head(conn: socket.socket, status: int, headers: dict[str, str]) -> None:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers.items()]
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))


def respond(status: int = 200, body: bytes = b"", **headers: str) -> Handler:
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}

    def handler(conn: socket.socket, request: Request) -> None:
        send_head(conn, status, {**hdrs, "Content-Length": str(len(body))})
        conn.sendall(body)

    return handler


not_found = respond(404, b"not found")


def redirect(location: str, status: int = 302) -> Handler:
    return respond(status, b"", Location=location)


def stream_forever(chunk: bytes = b"A" * 65536, **headers: str) -> Handler:
    """An endless body generated on the fly (close-delimited)."""

    def handler(conn: socket.socket, request: Request) -> None:
        send_head(conn, 200, {"Connection": "close", **headers})
        sent = 0
        while sent < 600 * MIB:
            conn.sendall(chunk)
            sent += len(chunk)
        conn.close()

    return handler


def drip(stop: threading.Event, delay: float = 1.0) -> Handler:
    """A body of 10,000 bytes at one byte per ``delay`` seconds."""

    def handler(conn: socket.socket, request: Request) -> None:
        send_head(conn, 200, {"Content-Length": "10000", "Content-Type": "application/xml"})
        for _ in range(10000):
            if stop.wait(delay):
                return
            conn.sendall(b"<")

    return handler


def silence(stop: threading.Event) -> Handler:
    """Accept the request and never answer."""

    def handler(conn: socket.socket, request: Request) -> None:
        stop.wait(30)

    return handler


def _zero_chunks(total: int, size: int = MIB) -> Iterator[bytes]:
    zeros = b"\0" * size
    for _ in range(total // size):
        yield zeros


def gzip_bomb(total: int = GIB) -> bytes:
    """gzip of ``total`` zero bytes, built quickly: one full-flushed deflate block repeated
    (a full flush byte-aligns and resets the dictionary, so copies concatenate)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = comp.compress(b"\0" * MIB) + comp.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for chunk in _zero_chunks(total):
        crc = zlib.crc32(chunk, crc)
    tail = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush()  # final empty block
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = crc.to_bytes(4, "little") + (total & 0xFFFFFFFF).to_bytes(4, "little")
    return header + block * (total // MIB) + tail + trailer


def brotli_bomb(total: int = GIB) -> bytes:
    comp = brotli.Compressor(quality=1)
    parts = [comp.process(c) for c in _zero_chunks(total, 4 * MIB)]
    return b"".join(parts) + comp.finish()


def zstd_bomb(total: int = GIB) -> bytes:
    comp = zstandard.ZstdCompressor(level=3).compressobj()
    parts = [comp.compress(c) for c in _zero_chunks(total)]
    return b"".join(parts) + comp.flush()


def gzip_of(data: bytes) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return comp.compress(data) + comp.flush()


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class RssPeak:
    """Peak resident-memory growth of this process while the block runs (sampled every
    5 ms in a thread): unlike tracemalloc it does not slow the code it measures, and it
    sees C allocations (decompressor windows, libxml2) too."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self._stop = threading.Event()
        self.baseline = 0
        self.peak = 0

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> RssPeak:
        self.baseline = self.peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline
