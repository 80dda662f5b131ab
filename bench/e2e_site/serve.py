"""Serve the benchmark site (see site.py) on many loopback addresses, in its own process.

Run by bench/e2e.py as a subprocess (so serving never counts against the pipeline's
memory, and a crash of the benchmark cannot leave a listening socket behind for long):

    python bench/e2e_site/serve.py --workdir DIR [--pages 5000] [--hosts 100]

It builds the site, binds every host address on one free port, writes ``DIR/urls.txt``
(every feed link, the URL list trafilatura's CLI gets) and ``DIR/site.json`` (feed URLs,
counts), then prints ``READY <port>`` and serves until stdin closes or it is killed.

A small asyncio HTTP/1.1 server (keep-alive, Content-Length): serving is cheap next to
extraction, so the machine's two cores go to the clients being measured. ``GET /__stats``
returns request counts by client (newsmon / trafilatura / other) and kind (feed, page,
robots, missing), which is how the benchmark checks both sides really fetched over HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # repo root (ingest)

from e2e_site.site import FEED_PATH, Site, build_site

ROBOTS = b"User-agent: *\nAllow: /\n"


def _client(agent: str) -> str:
    agent = agent.lower()
    if "newsmon" in agent:
        return "newsmon"
    if "trafilatura" in agent:
        return "trafilatura"
    return "other"


def _free_port(hosts: list[str]) -> int:
    """A port free on every host address (bind-test each, retry a few random ports)."""
    rng = random.Random()
    for _ in range(50):
        port = rng.randrange(20000, 60000)
        sockets = []
        try:
            for host in hosts:
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sockets.append(s)
                s.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free port on every loopback host address")


async def _serve(site: Site, ready_line: str, delay_s: float) -> None:
    stats: Counter[str] = Counter()
    # Politeness as the server sees it: a request from one client to one host arriving
    # sooner than half the delay after that client's previous one counts as too soon.
    # Half, because this process timestamps a request when its event loop gets to it:
    # on a loaded machine that lags by up to ~0.15 s (requests sent 0.5 s apart by a
    # controlled client arrived 0.46-0.55 s apart). A client that ignores the delay (or
    # keeps it per process, with several processes) shows up with gaps near zero.
    last_request: dict[tuple[str, str], float] = {}
    loop = asyncio.get_running_loop()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        local_host = writer.get_extra_info("sockname")[0]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = ([*lines[0].split(" "), "", "", ""])[:3]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                path = urlsplit(target).path
                who = _client(headers.get("user-agent", ""))
                status, ctype, body = 404, "text/plain", b"not found"
                if path != "/__stats" and delay_s > 0:
                    now, key = loop.time(), (who, local_host)
                    previous = last_request.get(key)
                    if previous is not None and now - previous < 0.5 * delay_s:
                        stats[f"{who}.too_soon"] += 1
                    last_request[key] = now
                if path == "/__stats":
                    status, ctype = 200, "application/json"
                    body = json.dumps(dict(stats)).encode()
                elif path == "/robots.txt":
                    status, ctype, body = 200, "text/plain", ROBOTS
                    stats[f"{who}.robots"] += 1
                elif path == FEED_PATH and local_host in site.feeds:
                    status, ctype = 200, "application/rss+xml; charset=utf-8"
                    body = site.feeds[local_host]
                    stats[f"{who}.feed"] += 1
                elif (local_host, path) in site.pages:
                    status, ctype = 200, "text/html; charset=utf-8"
                    body = site.pages[(local_host, path)]
                    stats[f"{who}.page"] += 1
                else:
                    stats[f"{who}.missing"] += 1
                keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                reason = {200: "OK", 404: "Not Found"}[status]
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(body)}\r\n"
                    f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n".encode()
                )
                if method != "HEAD":
                    writer.write(body)
                await writer.drain()
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    servers = [
        await asyncio.start_server(handle, host, site.port, reuse_address=True, backlog=256)
        for host in site.hosts
    ]
    print(ready_line, flush=True)
    # Serve until the parent closes our stdin (or kills us): no orphan server.
    await loop.run_in_executor(None, sys.stdin.read)
    for server in servers:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--first-address", default="127.0.3.1")
    parser.add_argument("--delay", type=float, default=0.0, help="politeness to check, s")
    args = parser.parse_args()
    prefix, last = args.first_address.rsplit(".", 1)
    hosts = [f"{prefix}.{int(last) + i}" for i in range(args.hosts)]
    port = _free_port(hosts)
    site = build_site(args.pages, args.hosts, port, args.first_address)
    args.workdir.mkdir(parents=True, exist_ok=True)
    (args.workdir / "urls.txt").write_text("\n".join(site.entry_urls) + "\n", encoding="utf-8")
    meta = {
        "port": port,
        "hosts": site.hosts,
        "feeds": site.feed_urls(),
        "pages": len(site.pages),
        "entries": len(site.entry_urls),
        "kinds": site.kinds,
        "bytes": sum(len(b) for b in site.pages.values()),
    }
    (args.workdir / "site.json").write_text(json.dumps(meta), encoding="utf-8")
    asyncio.run(_serve(site, f"READY {port}", args.delay))


if __name__ == "__main__":
    main()
