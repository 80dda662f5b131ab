"""Batch extraction speed on the dev pages, beside a plain ``trafilatura.extract`` loop.

Both sides see the same 72 gunzipped pages; the batch side runs ``extract_directory``
(reading the .html.gz files, the worker pool, JSON Lines output), so pool start-up and IPC
are included. Targets: ≥ 0.9× the plain loop with 1 worker, ≥ 1.7× with 2 (2 cores).
Each figure is the best of a few interleaved runs, for all sides alike (the machine is
shared, so single runs are noisy).
Also prints how long starting one worker takes with each multiprocessing start method.
"""

from __future__ import annotations

import gzip
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trafilatura

from ingest.extract import ExtractionPool, ExtractionTask
from ingest.extract.batch import extract_directory

DEV_HTML = Path("/work/shared/data/extraction-dev/html")
RUNS = 3


def _plain_loop(pages: list[bytes]) -> float:
    start = time.perf_counter()
    for html in pages:
        trafilatura.extract(html)
    return len(pages) / (time.perf_counter() - start)


def _batch(workers: int, count: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        extract_directory(DEV_HTML, Path(tmp) / "out.jsonl", workers)
        return count / (time.perf_counter() - start)


def _worker_start_ms(method: str) -> float:
    page = b"<html><body><p>hello</p></body></html>"
    start = time.perf_counter()
    with ExtractionPool(1, start_method=method) as pool:
        pool.map_one(ExtractionTask("x", page))
    return (time.perf_counter() - start) * 1000


def main() -> list[dict[str, Any]]:
    pages = [gzip.decompress(p.read_bytes()) for p in sorted(DEV_HTML.glob("*.html.gz"))]
    _plain_loop(pages[:5])  # warm imports and caches
    plain = one = two = 0.0
    for _ in range(RUNS):  # interleaved, so load from other jobs hits all sides alike
        plain = max(plain, _plain_loop(pages))
        one = max(one, _batch(1, len(pages)))
        two = max(two, _batch(2, len(pages)))
    print(f"plain trafilatura.extract loop: {plain:6.1f} pages/s")
    print(f"batch, 1 worker:  {one:6.1f} pages/s = {one / plain:.2f}x (target 0.9x)")
    print(f"batch, 2 workers: {two:6.1f} pages/s = {two / plain:.2f}x (target 1.7x)")
    load = os.getloadavg()[0]
    print(f"load average during the run: {load:.1f} on {os.cpu_count()} CPUs (others' jobs)")
    for method in ("fork", "forkserver", "spawn"):
        print(f"start + first page, {method:10s}: {_worker_start_ms(method):7.1f} ms")
    return [
        {
            "name": "extract_batch_1_worker_vs_plain",
            "value": round(one / plain, 3),
            "unit": "x plain trafilatura",
            "baseline": round(plain, 1),
            "target": 0.9,
            "met": one / plain >= 0.9,
            "load_avg": round(load, 1),
        },
        {
            "name": "extract_batch_2_workers_vs_plain",
            "value": round(two / plain, 3),
            "unit": "x plain trafilatura",
            "baseline": round(plain, 1),
            "target": 1.7,
            "met": two / plain >= 1.7,
            "load_avg": round(load, 1),
        },
    ]


if __name__ == "__main__":
    from _results import record  # type: ignore[import-not-found]

    record(main())
