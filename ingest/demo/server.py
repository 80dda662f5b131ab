"""Serve the demo corpus on loopback: one address per outlet, like separate web sites.

Each outlet gets its own loopback address (127.0.0.11, .12, …) on one port, so outlets are
different hosts to the pipeline (per-host politeness, source domains, canonical URLs) and
their URLs stay the same from one run to the next (a second demo run adds nothing).
The server supports conditional GET (ETag), so the second poll gets 304s.

This is the one listening socket outside ``ingest.net``: a fixture for the offline demo
and the tests, never part of the pipeline itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from ingest.demo.corpus import DemoCorpus, Outlet, load_corpus, render

DEFAULT_PORT = 48080
FIRST_ADDRESS = 11  # 127.0.0.11 is the first outlet
CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}


@dataclass(frozen=True)
class ServedOutlet:
    outlet: Outlet
    base: str

    @property
    def feed_url(self) -> str:
        return self.base + self.outlet.feed_path


@dataclass(frozen=True)
class ServedCorpus:
    corpus: DemoCorpus
    outlets: tuple[ServedOutlet, ...]
    requests: list[str]

    def feed_urls(self) -> list[str]:
        return [o.feed_url for o in self.outlets]


def _handler(outlet: Outlet, base: str, log: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "newsmon-demo/1"

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            log.append(f"{outlet.key} {path}")
            template = outlet.template_for(path)
            if template is None:
                self.send_error(404)
                return
            body = render(template, base)
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            is_feed = path == outlet.feed_path
            ctype = CONTENT_TYPES[outlet.feed_format] if is_feed else "text/html; charset=utf-8"
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: the demo shows its own progress

    return Handler


@contextlib.contextmanager
def serve_corpus(
    port: int = DEFAULT_PORT, corpus: DemoCorpus | None = None
) -> Iterator[ServedCorpus]:
    """Serve every outlet on ``127.0.0.<11+i>:port`` until the block ends.

    ``port=0`` picks a free port (tests); the demo uses a fixed one so feed URLs are the
    same across runs.
    """
    corpus = corpus or load_corpus()
    servers: list[ThreadingHTTPServer] = []
    served: list[ServedOutlet] = []
    log: list[str] = []
    try:
        for i, outlet in enumerate(corpus.outlets):
            host = f"127.0.0.{FIRST_ADDRESS + i}"
            # Bind first (port 0 -> a free one), then the handler learns its base URL.
            server = ThreadingHTTPServer((host, port), BaseHTTPRequestHandler)
            server.daemon_threads = True
            base = f"http://{host}:{server.server_address[1]}"
            server.RequestHandlerClass = _handler(outlet, base, log)
            servers.append(server)
            served.append(ServedOutlet(outlet, base))
            threading.Thread(target=server.serve_forever, daemon=True).start()
        yield ServedCorpus(corpus, tuple(served), log)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
