"""Per-host politeness shared by every worker (``host_slots``), on SQLite and PostgreSQL.

Bookings are checked as schedules (how long each caller is told to wait), not by timing
real requests: the schedule is exact whatever the machine's load.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ingest.config import Settings
from ingest.net import Fetcher
from ingest.store.politeness import HostSlotBook

DELAY_S = 10.0  # long next to any scheduling hiccup, so the schedule checks are exact
SLACK_S = 2.0  # time that may pass between two bookings on a loaded machine


def test_bookings_on_one_host_are_spaced_by_the_delay(db_url: str) -> None:
    book = HostSlotBook(db_url)
    waits = [book.reserve("news.example", DELAY_S) for _ in range(3)]
    assert waits[0] == pytest.approx(0.0, abs=SLACK_S)
    assert DELAY_S - SLACK_S < waits[1] <= DELAY_S
    assert 2 * DELAY_S - SLACK_S < waits[2] <= 2 * DELAY_S


def test_hosts_are_booked_independently_and_case_insensitively(db_url: str) -> None:
    book = HostSlotBook(db_url)
    assert book.reserve("a.example", DELAY_S) < SLACK_S
    assert book.reserve("b.example", DELAY_S) < SLACK_S
    assert book.reserve("A.EXAMPLE", DELAY_S) > DELAY_S - SLACK_S


def test_two_workers_share_one_schedule(db_url: str) -> None:
    """Two bookers at once (as two worker processes would) never get the same slot."""
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        book = HostSlotBook(db_url)
        for _ in range(4):
            wait = book.reserve("shared.example", DELAY_S)
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    waits.sort()
    assert len(waits) == 8
    gaps = [b - a for a, b in itertools.pairwise(waits)]
    assert min(gaps) > DELAY_S - SLACK_S, waits


class _CountingBook:
    def __init__(self, inner: HostSlotBook) -> None:
        self.inner = inner
        self.hosts: list[str] = []

    def reserve(self, host: str, delay_s: float) -> float:
        self.hosts.append(host)
        return self.inner.reserve(host, delay_s)


@pytest.fixture
def site() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = b"<html><body><p>ok</p></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_fetchers_of_two_workers_book_every_request(
    db_url: str, site: tuple[str, list[str]]
) -> None:
    base, seen = site
    settings = Settings(allow_networks="127.0.0.0/8", per_host_delay_s=0.05)
    books = [_CountingBook(HostSlotBook(db_url)) for _ in range(2)]

    async def crawl(book: _CountingBook, worker: int) -> None:
        async with Fetcher(settings, book=book) as fetcher:
            for n in range(3):
                await fetcher.fetch(f"{base}/w{worker}/{n}")

    def run(worker: int) -> None:
        asyncio.run(crawl(books[worker], worker))

    threads = [threading.Thread(target=run, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([p for p in seen if p.startswith("/w")]) == 6
    # Every request (robots.txt included) was booked in the shared table.
    assert sum(len(b.hosts) for b in books) == len(seen)
    assert {h for b in books for h in b.hosts} == {"127.0.0.1"}
