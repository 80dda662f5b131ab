"""Benchmark: the poll stage against 2,000 feeds x 30 items on >= 100 loopback hosts.

A feed server runs in its own process, listening on 127.0.1.1 … 127.0.1.N (one port,
many addresses: each address is one "host"). It answers conditional GETs with 304, adds
a small think time per response (so overlapping requests are visible), and counts the
most requests it ever had in flight per host.

Figures, each beside a baseline measured in the same run:
- cold pass (every feed new, 200 + parse + store) vs a naive sequential
  ``httpx.get`` + ``feedparser.parse`` loop over the same feeds — target >= 1.5x;
- warm pass (validators stored, mostly 304) vs the same naive loop — target >= 10x;
- max concurrent requests per host seen by the server vs the per-host limit.

Run: ``.venv/bin/python bench/poll.py`` (about 1–2 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

THINK_TIME_S = 0.002


def feed_body(feed: int, items: int) -> bytes:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Bench feed {feed}</title><link>http://bench.example/{feed}/</link>"
        "<description>benchmark</description>"
    ]
    for i in range(items):
        parts.append(
            f"<item><title>Feed {feed} item {i}: something happened somewhere</title>"
            f"<link>http://bench.example/{feed}/articles/{i}.html</link>"
            f'<guid isPermaLink="false">bench-{feed}-{i}</guid>'
            f"<pubDate>Tue, 02 Jan 2024 {i % 24:02d}:{i % 60:02d}:00 GMT</pubDate>"
            f"<description>&lt;p&gt;Summary of item {i} of feed {feed}, with a little "
            f"&lt;b&gt;markup&lt;/b&gt; as real feeds have.&lt;/p&gt;</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def serve(hosts: list[str], feeds: int, items: int, ready: Any) -> None:
    """The feed server process (asyncio, keep-alive, ETag/304, per-host counters)."""
    bodies = {f: feed_body(f, items) for f in range(feeds)}
    in_flight: dict[str, int] = dict.fromkeys(hosts, 0)
    peak: dict[str, int] = dict.fromkeys(hosts, 0)
    counts = {"requests": 0, "not_modified": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host = writer.get_extra_info("sockname")[0]
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                if path == "/__stats":
                    body = json.dumps({"peak": peak, **counts}).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
                    writer.write(body)
                    await writer.drain()
                    continue
                if path == "/__reset":
                    peak.update(dict.fromkeys(hosts, 0))
                    counts.update(requests=0, not_modified=0)
                    writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                    await writer.drain()
                    continue
                in_flight[host] += 1
                peak[host] = max(peak[host], in_flight[host])
                counts["requests"] += 1
                try:
                    await asyncio.sleep(THINK_TIME_S)
                    feed = int(path.rsplit("/", 1)[1])
                    etag = f'"feed-{feed}-v1"'
                    if headers.get("if-none-match") == etag:
                        counts["not_modified"] += 1
                        writer.write(
                            b"HTTP/1.1 304 Not Modified\r\nETag: %s\r\n\r\n" % etag.encode()
                        )
                    else:
                        body = bodies[feed]
                        writer.write(
                            b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                            b"ETag: %s\r\nLast-Modified: Tue, 02 Jan 2024 23:00:00 GMT\r\n"
                            b"Content-Length: %d\r\n\r\n" % (etag.encode(), len(body))
                        )
                        writer.write(body)
                    await writer.drain()
                finally:
                    in_flight[host] -= 1
                if headers.get("connection", "").lower() == "close":
                    return
        finally:
            writer.close()

    async def main() -> None:
        first = await asyncio.start_server(handle, hosts[0], 0, backlog=1024)
        port = first.sockets[0].getsockname()[1]
        for host in hosts[1:]:
            await asyncio.start_server(handle, host, port, backlog=1024)
        ready.send(port)
        await asyncio.Event().wait()

    asyncio.run(main())


def naive_loop(urls: list[str]) -> tuple[float, float]:
    """The baseline: sequential httpx.get + feedparser.parse.

    Returns (feeds/s, share of the time spent in httpx.get)."""
    import feedparser
    import httpx

    in_get = 0.0
    started = time.perf_counter()
    for url in urls:
        before = time.perf_counter()
        response = httpx.get(url, timeout=30)
        in_get += time.perf_counter() - before
        feedparser.parse(response.content)
    elapsed = time.perf_counter() - started
    return len(urls) / elapsed, in_get / elapsed


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--hosts", type=int, default=125)
    parser.add_argument("--db", default="", help="database URL (default: a temporary SQLite)")
    parser.add_argument("--parse-workers", type=int, default=2)
    parser.add_argument(
        "--naive-every",
        type=int,
        default=4,
        help="time the naive loop on every Nth feed (all hosts; it is slow)",
    )
    args = parser.parse_args(argv)

    import httpx

    from ingest.config import Settings
    from ingest.pipeline.poll import poll_due
    from ingest.store import feeds_repo
    from ingest.store.db import get_engine, transaction
    from ingest.store.models import Base

    hosts = [f"127.0.1.{i}" for i in range(1, args.hosts + 1)]
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=serve, args=(hosts, args.feeds, args.items, child), daemon=True)
    server.start()
    port = parent.recv()
    urls = [f"http://{hosts[f % len(hosts)]}:{port}/feed/{f}" for f in range(args.feeds)]
    control = f"http://{hosts[0]}:{port}"
    tmp = tempfile.TemporaryDirectory()
    db_url = args.db or f"sqlite:///{tmp.name}/bench.db"
    Base.metadata.create_all(get_engine(db_url))
    with transaction(db_url) as session:
        feeds_repo.add_feed_urls(session, urls)
    settings = Settings(
        allow_networks="127.0.1.0/24",
        per_host_concurrency=2,
        per_host_delay_s=0.02,
        fetch_deadline_s=30,
        poll_concurrency=64,
        poll_batch_size=args.feeds,
        poll_parse_workers=args.parse_workers,
    )
    try:
        print(f"{args.feeds} feeds x {args.items} items on {len(hosts)} hosts, db {db_url}")
        sample = urls[:: args.naive_every]
        naive, get_share = naive_loop(sample)
        print(
            f"naive sequential httpx.get + feedparser.parse over {len(sample)} of the feeds: "
            f"{naive:.1f} feeds/s ({get_share:.0%} of the time in httpx.get)"
        )
        httpx.get(control + "/__reset")

        started = time.perf_counter()
        cold = poll_due(db_url, settings)
        cold_rate = cold.feeds / (time.perf_counter() - started)
        print(f"cold pass: {cold_rate:.0f} feeds/s ({cold.as_dict()})")

        with transaction(db_url) as session:
            feeds_repo.mark_due(session)
        started = time.perf_counter()
        warm = poll_due(db_url, settings)
        warm_rate = warm.feeds / (time.perf_counter() - started)
        print(f"warm pass: {warm_rate:.0f} feeds/s ({warm.as_dict()})")
        stats = httpx.get(control + "/__stats").json()
    finally:
        server.terminate()
        tmp.cleanup()
    max_per_host = max(stats["peak"].values())
    print(
        f"server: {stats['requests']} requests, {stats['not_modified']} answered 304, "
        f"max {max_per_host} at once per host (limit {settings.per_host_concurrency})"
    )
    ok = cold.ok == args.feeds and warm.not_modified == args.feeds
    ok = ok and cold.new_items == args.feeds * args.items and warm.new_items == 0
    if not ok:
        print("WARNING: the passes did not do what they should", cold, warm)
    return [
        {
            "name": "poll_cold_feeds_per_s",
            "value": round(cold_rate, 1),
            "unit": "feeds/s",
            "baseline": round(naive, 1),
            "target": round(1.5 * naive, 1),
            "met": ok and cold_rate >= 1.5 * naive,
        },
        {
            "name": "poll_warm_feeds_per_s",
            "value": round(warm_rate, 1),
            "unit": "feeds/s",
            "baseline": round(naive, 1),
            "target": round(10 * naive, 1),
            "met": ok and warm_rate >= 10 * naive,
        },
        {
            "name": "poll_max_requests_per_host",
            "value": max_per_host,
            "unit": "requests",
            "baseline": settings.per_host_concurrency,
            "target": settings.per_host_concurrency,
            "met": max_per_host <= settings.per_host_concurrency,
        },
    ]


if __name__ == "__main__":
    from bench._results import record

    figures = main()
    for figure in figures:
        print(json.dumps(figure))
    record(figures)
