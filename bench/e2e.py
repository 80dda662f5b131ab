"""Benchmark: newsmon's whole pipeline vs trafilatura's CLI over the same loopback site.

The alternative a data engineer has is a cron job running ``trafilatura -i urls.txt``.
newsmon does much more per article (feeds, dedupe, stories, topics, alert outbox, a
PostgreSQL database); this measures whether it is still no slower.

Setup (generated at run time, nothing kept):
- a site of ``--pages`` (5,000) article pages over ``--hosts`` (100) loopback hosts
  127.0.3.x, one RSS feed per host, built from the dev extraction pages and the demo
  corpus (originals, syndicated copies, revisions, tracking-parameter variants; see
  bench/e2e_site/site.py), served by a separate process (bench/e2e_site/serve.py);
- a fresh PostgreSQL database ``newsmon_bench_<random>`` (dropped at the end).

Measured in the same run, same URL list, same parallelism (2), same per-host politeness
(``--delay`` seconds between requests to one host: trafilatura's ``SLEEP_TIME``,
newsmon's ``per_host_delay_s``; one request per host at a time on both sides):
- baseline: ``trafilatura -i urls.txt --parallel 2 -o DIR --output-format json
  --with-metadata`` (2 download threads, extraction in its main thread);
- newsmon: 2 worker processes (like two Airflow/Celery workers), each looping over the
  stages' claim+process calls (``--batch`` items per claim, 100 by default): poll
  (claim_due_feeds/poll_feeds), fetch+extract (claim_pending_entries/fetch_and_extract,
  ``extract_workers=1`` each, so 2 extraction processes in all; ``--extract-workers``),
  cluster (cluster_pending), tag (claim_untagged/tag_articles, which also writes the
  alert outbox), until no work is left.

Figures: wall time and URLs/s of each side, newsmon/trafilatura time ratio (target
<= 1.0), worker-seconds and CPU per stage (the worker's own and its PostgreSQL
backends'), peak RSS of each process tree (psutil, summed over the tree, sampled every
0.2 s), how many cores the whole machine kept busy during each side, and the server's
request counts per client (proof that both fetched every page over HTTP).

Run: ``.venv/bin/python bench/e2e.py`` (about 3-5 minutes on 2 cores);
``--pages 500 --hosts 20`` for a quick check.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TRAFILATURA = Path(sys.executable).with_name("trafilatura")
STAGES = ("poll", "fetch", "cluster", "tag")


# ------------------------------------------------------------------ shared helpers
def stop_on_sigterm() -> None:
    """Turn SIGTERM into an exception, so cleanup (servers, databases) runs on a kill too
    (SIGINT is ignored by background jobs of non-interactive shells)."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def scratch_database(prefix: str = "newsmon_bench") -> Iterator[str]:
    """A fresh PostgreSQL database (migrated to head), dropped on exit whatever happens."""
    import psycopg

    from ingest.store.db import get_engine, upgrade

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with contextlib.suppress(Exception):
            get_engine(url).dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class TreeSampler:
    """Peak summed RSS, and CPU seconds, of some processes and all their descendants
    (psutil). CPU is the last reading of each process seen (so a descendant's last
    0.2 s before it exits may be missed)."""

    def __init__(self, interval_s: float = 0.2) -> None:
        self.interval_s = interval_s
        self.pids: list[int] = []
        self.peak_bytes = 0
        self._cpu: dict[tuple[int, float], float] = {}  # (pid, create time) -> CPU s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def cpu_s(self) -> float:
        return sum(self._cpu.values())

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def sample(self) -> None:
        import psutil

        total = 0
        for pid in list(self.pids):
            try:
                root = psutil.Process(pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
                    times = proc.cpu_times()
                    self._cpu[(proc.pid, proc.create_time())] = times.user + times.system
        self.peak_bytes = max(self.peak_bytes, total)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()


@contextlib.contextmanager
def machine_busy(into: dict[str, Any]) -> Iterator[None]:
    """Cores the whole machine kept busy meanwhile (every process: the site server,
    PostgreSQL, anything else running), stored as ``into["machine_cores"]``. Near the
    core count means the side was CPU-bound; well below it, it waited."""
    import psutil

    def busy_s() -> float:
        times = psutil.cpu_times()
        return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))

    before, started = busy_s(), time.monotonic()
    try:
        yield
    finally:
        into["machine_cores"] = (busy_s() - before) / max(time.monotonic() - started, 1e-9)


@contextlib.contextmanager
def site_server(
    workdir: Path, pages: int, hosts: int, delay_s: float = 0.0
) -> Iterator[dict[str, Any]]:
    """Start bench/e2e_site/serve.py; yields site.json; stops it on exit."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "e2e_site" / "serve.py"),
            "--workdir",
            str(workdir),
            "--pages",
            str(pages),
            "--hosts",
            str(hosts),
            "--delay",
            str(delay_s),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"site server failed to start (exit {proc.poll()})")
        meta: dict[str, Any] = json.loads((workdir / "site.json").read_text(encoding="utf-8"))
        yield meta
    finally:
        with contextlib.suppress(Exception):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def server_stats(meta: dict[str, Any]) -> dict[str, int]:
    url = f"http://{meta['hosts'][0]}:{meta['port']}/__stats"
    with urllib.request.urlopen(url, timeout=10) as response:
        stats: dict[str, int] = json.loads(response.read())
    return stats


# ------------------------------------------------------------------ trafilatura side
def run_trafilatura(workdir: Path, delay_s: float, parallel: int) -> dict[str, Any]:
    config = workdir / "trafilatura.cfg"
    # Same politeness as newsmon (SLEEP_TIME between requests to one host); loopback
    # allowed (its SSRF guard, like newsmon's, refuses it by default); rest = defaults.
    import trafilatura

    defaults = Path(str(trafilatura.__file__)).with_name("settings.cfg").read_text("utf-8")
    config.write_text(
        defaults.replace("SLEEP_TIME = 5.0", f"SLEEP_TIME = {delay_s}").replace(
            "SSRF_PROTECTION = on", "SSRF_PROTECTION = off"
        ),
        encoding="utf-8",
    )
    out = workdir / "trafilatura-out"
    command = [
        str(TRAFILATURA),
        "-i",
        str(workdir / "urls.txt"),
        "--parallel",
        str(parallel),
        "-o",
        str(out),
        "--output-format",
        "json",
        "--with-metadata",
        "--config-file",
        str(config),
    ]
    print("  $ " + " ".join(command), flush=True)
    with TreeSampler() as sampler:
        started = time.monotonic()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        sampler.pids.append(proc.pid)
        try:
            _, stderr = proc.communicate()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        elapsed = time.monotonic() - started
    written = sum(1 for _ in out.rglob("*.json")) if out.exists() else 0
    return {
        "elapsed_s": elapsed,
        "exit": proc.returncode,
        "written": written,
        "peak_rss_mb": sampler.peak_bytes / 2**20,
        "cpu_s": sampler.cpu_s,
        "stderr_tail": stderr.decode("utf-8", "replace")[-500:],
    }


# ------------------------------------------------------------------ newsmon side
def worker_settings(delay_s: float, extract_workers: int = 1) -> Any:
    from ingest.config import get_settings

    return get_settings().model_copy(
        update={
            "allow_networks": "127.0.0.0/8",  # the site is on loopback (as in the demo)
            "per_host_delay_s": delay_s,
            "per_host_concurrency": 1,  # one request per host at a time, like trafilatura
            # 2 workers x 1 extraction process = parallelism 2 (newsmon's default is 2
            # per worker; --extract-workers 2 measures that).
            "extract_workers": extract_workers,
        }
    )


def remaining_work(db_url: str) -> int:
    """Work any worker could still do (or is doing): unpolled feeds, never-attempted
    entries, articles waiting for clustering or tagging."""
    from sqlalchemy import text

    from ingest.store.db import transaction

    with transaction(db_url) as session:
        return int(
            session.execute(
                text(
                    "SELECT (SELECT count(*) FROM feeds WHERE last_fetch_at IS NULL)"
                    " + (SELECT count(*) FROM entries"
                    "    WHERE fetch_status = 'pending' AND fetch_attempts = 0)"
                    " + (SELECT count(*) FROM articles WHERE cluster_status = 'pending')"
                    " + (SELECT count(*) FROM articles"
                    "    WHERE cluster_status = 'done' AND tag_status = 'pending')"
                )
            ).scalar_one()
        )


class BackendCpu:
    """CPU seconds of the PostgreSQL backends serving this worker (its connections carry
    a per-worker ``application_name``), read from /proc by psutil: what each stage costs
    the database server."""

    def __init__(self, db_url: str) -> None:
        import psycopg

        self.name = application_name(db_url)
        self.admin = psycopg.connect(PG_ADMIN, autocommit=True)
        self.seen: dict[int, float] = {}

    def delta(self) -> float:
        import psutil

        rows = self.admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (self.name,)
        ).fetchall()
        total = 0.0
        for (pid,) in rows:
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(int(pid)).cpu_times()
                now = times.user + times.system
                total += now - self.seen.get(int(pid), 0.0)
                self.seen[int(pid)] = now
        return total


def application_name(db_url: str) -> str:
    return db_url.rsplit("application_name=", 1)[-1] if "application_name=" in db_url else ""


def worker_main(
    db_url: str, delay_s: float, batch: int, out: Path, extract_workers: int = 1
) -> None:
    """One newsmon worker: claim+process each stage in turn until nothing is left."""
    from ingest.pipeline.cluster import cluster_pending
    from ingest.pipeline.fetch import claim_pending_entries, fetch_and_extract
    from ingest.pipeline.poll import claim_due_feeds, poll_feeds
    from ingest.pipeline.tag import claim_untagged, tag_articles

    settings = worker_settings(delay_s, extract_workers)
    cluster_nowait = functools.partial(cluster_pending, wait=False)
    seconds = dict.fromkeys(STAGES, 0.0)
    pg_cpu = dict.fromkeys(STAGES, 0.0)  # this worker's PostgreSQL backends
    backends = BackendCpu(db_url)
    cpu = dict.fromkeys(STAGES, 0.0)  # this process only (extraction runs in children)
    items = dict.fromkeys(STAGES, 0)
    errors: dict[str, list[str]] = {s: [] for s in STAGES}
    idle_s = 0.0

    def attempt(stage: str, call: Any, *args: Any) -> Any:
        """Run one stage call like an Airflow task with retries: the same claimed ids
        again (the stages are idempotent), 3 tries, then give up on that batch."""
        for _ in range(3):
            try:
                return call(*args)
            except Exception as exc:  # recorded and reported: the benchmark goes on
                errors[stage].append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        return None

    def save() -> None:  # after every round, so a killed worker still reports
        data = {
            "seconds": seconds,
            "cpu": cpu,
            "pg_cpu": pg_cpu,
            "items": items,
            "idle_s": idle_s,
            "errors": errors,
        }
        out.write_text(json.dumps(data))

    while True:
        worked = False
        t, c = time.monotonic(), time.process_time()
        feeds = attempt("poll", claim_due_feeds, db_url, 10)
        if feeds:
            attempt("poll", poll_feeds, db_url, feeds, settings)
            items["poll"] += len(feeds)
            worked = True
        seconds["poll"] += time.monotonic() - t
        cpu["poll"] += time.process_time() - c
        pg_cpu["poll"] += backends.delta()

        t, c = time.monotonic(), time.process_time()
        entries = attempt("fetch", claim_pending_entries, db_url, batch)
        if entries:
            attempt("fetch", fetch_and_extract, db_url, entries, settings)
            items["fetch"] += len(entries)
            worked = True
        seconds["fetch"] += time.monotonic() - t
        cpu["fetch"] += time.process_time() - c
        pg_cpu["fetch"] += backends.delta()

        t, c = time.monotonic(), time.process_time()
        # One clustering writer at a time: if another worker is clustering, it will take
        # these articles too, so fetch meanwhile instead of waiting for its lock.
        clustered = attempt("cluster", cluster_nowait, db_url, batch, settings)
        n = clustered.articles + clustered.skipped if clustered else 0
        items["cluster"] += n
        worked = worked or n > 0
        seconds["cluster"] += time.monotonic() - t
        cpu["cluster"] += time.process_time() - c
        pg_cpu["cluster"] += backends.delta()

        t, c = time.monotonic(), time.process_time()
        untagged = attempt("tag", claim_untagged, db_url, batch)
        if untagged:
            attempt("tag", tag_articles, db_url, untagged)
            items["tag"] += len(untagged)
            worked = True
        seconds["tag"] += time.monotonic() - t
        cpu["tag"] += time.process_time() - c
        pg_cpu["tag"] += backends.delta()

        if not worked:
            if remaining_work(db_url) == 0:
                break
            time.sleep(0.2)  # the other worker holds the rest; look again shortly
            idle_s += 0.2
        save()
    save()


def run_newsmon(
    db_url: str,
    meta: dict[str, Any],
    workdir: Path,
    delay_s: float,
    workers: int,
    batch: int,
    budget_s: float,
    extract_workers: int = 1,
) -> dict[str, Any]:
    """Run the workers; past ``budget_s`` stop them and extrapolate from the done part."""
    from ingest.config import FeedConfig, NewsmonConfig, SubscriptionConfig
    from ingest.demo.run import default_topics
    from ingest.pipeline.run import sync_config

    topics = default_topics()
    config = NewsmonConfig(
        feeds=tuple(
            FeedConfig(url=url, title=f"Outlet {i}", source=f"outlet{i}.example")
            for i, url in enumerate(meta["feeds"])
        ),
        topics=topics,
        subscriptions=(
            SubscriptionConfig(
                name="analyst",
                email="analyst@newsmon.example",
                topics=tuple(t.name for t in topics),
                mode="immediate",
            ),
        ),
    )
    sync_config(db_url, config)
    procs = []
    outs = [workdir / f"worker-{i}.json" for i in range(workers)]
    database = db_url.rsplit("/", 1)[-1]
    with TreeSampler() as sampler, TreeSampler(interval_s=0.5) as pg_sampler:
        started = time.monotonic()
        for out in outs:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    f"{db_url}?application_name=newsmon-bench-{len(procs)}",
                    "--delay",
                    str(delay_s),
                    "--batch",
                    str(batch),
                    "--extract-workers",
                    str(extract_workers),
                    "--worker-out",
                    str(out),
                ]
            )
            procs.append(proc)
            sampler.pids.append(proc.pid)
        try:
            last = 0.0
            while any(p.poll() is None for p in procs):
                time.sleep(0.5)
                # The database server's share of the work: the backends serving the
                # workers (their CPU is not in the workers' process tree).
                pg_sampler.pids[:] = postgres_backends(database)
                now = time.monotonic() - started
                if now > budget_s:
                    print(f"  newsmon over its {budget_s:.0f} s budget: stopping", flush=True)
                    break
                if now - last > 15:
                    last = now
                    print(f"  newsmon {now:5.0f} s: {progress(db_url)}", flush=True)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
        elapsed = time.monotonic() - started
    codes = [p.returncode for p in procs]
    per_worker = [json.loads(o.read_text()) for o in outs if o.exists()]
    seconds = {s: sum(w["seconds"][s] for w in per_worker) for s in STAGES}
    stage_cpu = {s: sum(w["cpu"][s] for w in per_worker) for s in STAGES}
    stage_pg_cpu = {s: sum(w["pg_cpu"][s] for w in per_worker) for s in STAGES}
    items = {s: sum(w["items"][s] for w in per_worker) for s in STAGES}
    counts = table_counts(db_url)
    done = done_fraction(db_url)
    return {
        "elapsed_s": elapsed / max(done, 1e-3),
        "measured_s": elapsed,
        "done_fraction": done,
        "exit": codes,
        "stage_s": seconds,
        "stage_cpu_s": stage_cpu,
        "stage_pg_cpu_s": stage_pg_cpu,
        "stage_items": items,
        "idle_s": sum(w["idle_s"] for w in per_worker),
        "errors": {s: [e for w in per_worker for e in w["errors"][s]] for s in STAGES},
        "peak_rss_mb": sampler.peak_bytes / 2**20,
        "cpu_s": sampler.cpu_s,
        "postgres_cpu_s": pg_sampler.cpu_s,
        "counts": counts,
    }


def done_fraction(db_url: str) -> float:
    """Share of the work finished: entries fetched (or given up) and articles tagged."""
    from sqlalchemy import text

    from ingest.store.db import transaction

    with transaction(db_url) as session:
        entries, fetched, articles, tagged = session.execute(
            text(
                "SELECT (SELECT count(*) FROM entries),"
                " (SELECT count(*) FROM entries WHERE fetch_status <> 'pending'),"
                " (SELECT count(*) FROM articles),"
                " (SELECT count(*) FROM articles WHERE tag_status <> 'pending'"
                "    OR cluster_status = 'skipped')"
            )
        ).one()
    if not entries:
        return 0.0
    # Fetch is most of the work per entry; clustering+tagging of stored articles the rest.
    return float(
        0.5 * fetched / entries
        + 0.5 * (tagged / articles if articles else 0.0) * (fetched / entries)
    )


def postgres_backends(database: str) -> list[int]:
    """Process ids of the PostgreSQL backends connected to ``database`` (same machine)."""
    import psycopg

    with psycopg.connect(PG_ADMIN) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return [int(r[0]) for r in rows]


def progress(db_url: str) -> str:
    return f"{done_fraction(db_url):.0%} done, {remaining_work(db_url)} units of work left"


def table_counts(db_url: str) -> dict[str, int]:
    from sqlalchemy import text

    from ingest.store.db import transaction

    queries = {
        "entries": "SELECT count(*) FROM entries",
        "entries_fetched": "SELECT count(*) FROM entries WHERE fetch_status = 'fetched'",
        "entries_pending": "SELECT count(*) FROM entries WHERE fetch_status = 'pending'",
        "entries_failed": "SELECT count(*) FROM entries WHERE fetch_status = 'failed'",
        "articles": "SELECT count(*) FROM articles",
        "articles_ok": "SELECT count(*) FROM articles WHERE extraction_status = 'ok'",
        "revised": "SELECT count(*) FROM articles WHERE version > 1",
        "duplicates": "SELECT count(*) FROM articles WHERE duplicate_of IS NOT NULL",
        "stories": "SELECT count(*) FROM stories",
        "article_topics": "SELECT count(*) FROM article_topics",
        "alert_outbox": "SELECT count(*) FROM alert_outbox",
    }
    with transaction(db_url) as session:
        return {k: int(session.execute(text(q)).scalar_one()) for k, q in queries.items()}


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.5, help="per-host politeness, s")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--batch",
        type=int,
        default=100,
        help="claim size of every stage (100: what docs/scaling.md advises for fetch workers;"
        " 50 gives more per-batch overhead, 200 longer serial phases)",
    )
    parser.add_argument(
        "--extract-workers",
        type=int,
        default=1,
        help="extraction processes per worker (1: parallelism 2 in all, like the baseline)",
    )
    parser.add_argument(
        "--budget-factor",
        type=float,
        default=1.0,
        help="stop newsmon after this many times trafilatura's time (at least 240 s) and"
        " extrapolate from the share of the work done",
    )
    parser.add_argument("--no-record", action="store_true", help="print, do not record")
    parser.add_argument("--worker", metavar="DB_URL", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        profile_dir = os.environ.get("NEWSMON_BENCH_PROFILE")  # where to dump cProfile stats
        if profile_dir:
            import cProfile

            with cProfile.Profile(time.process_time) as profiler:  # CPU, not waits
                worker_main(
                    args.worker, args.delay, args.batch, args.worker_out, args.extract_workers
                )
            profiler.dump_stats(Path(profile_dir) / f"worker-{os.getpid()}.prof")
        else:
            worker_main(args.worker, args.delay, args.batch, args.worker_out, args.extract_workers)
        return []

    stop_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="newsmon-e2e-"))
    try:
        print(f"building and serving the site ({args.pages} pages, {args.hosts} hosts)…")
        started = time.monotonic()
        with site_server(workdir, args.pages, args.hosts, args.delay) as meta:
            print(
                f"  ready in {time.monotonic() - started:.0f} s: {meta['pages']} pages, "
                f"{meta['entries']} feed entries ({meta['kinds']}), "
                f"{meta['bytes'] / 2**20:.0f} MiB of HTML",
                flush=True,
            )
            print("baseline: trafilatura CLI over the same URL list…", flush=True)
            busy: dict[str, Any] = {}
            with machine_busy(busy):
                traf = run_trafilatura(workdir, args.delay, args.workers)
            traf.update(busy)
            print(
                f"  {traf['elapsed_s']:.1f} s, exit {traf['exit']}, {traf['written']} documents,"
                f" peak RSS {traf['peak_rss_mb']:.0f} MiB",
                flush=True,
            )
            print(f"newsmon: {args.workers} workers, whole pipeline into PostgreSQL…", flush=True)
            with scratch_database("newsmon_bench_e2e") as db_url:
                with machine_busy(busy):
                    news = run_newsmon(
                        db_url,
                        meta,
                        workdir,
                        args.delay,
                        args.workers,
                        args.batch,
                        # At least 4 minutes, so an extrapolated figure rests on a real
                        # sample.
                        budget_s=max(240.0, args.budget_factor * traf["elapsed_s"]),
                        extract_workers=args.extract_workers,
                    )
                news.update(busy)
            stats = server_stats(meta)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return report(meta, traf, news, stats, args)


def report(
    meta: dict[str, Any],
    traf: dict[str, Any],
    news: dict[str, Any],
    stats: dict[str, int],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    urls = meta["entries"]
    ratio = news["elapsed_s"] / traf["elapsed_s"]
    estimated = news["done_fraction"] < 0.999
    print(
        f"\nnewsmon: {news['measured_s']:.1f} s measured, {news['done_fraction']:.0%} of the work"
        f" done{' (time below EXTRAPOLATED to 100%)' if estimated else ''}, workers exit "
        f"{news['exit']}, peak RSS {news['peak_rss_mb']:.0f} MiB"
    )
    print(f"  rows: {news['counts']}")
    print("  worker-seconds per stage (summed over workers):")
    for stage in STAGES:
        print(
            f"    {stage:<8} {news['stage_s'][stage]:8.1f} s  "
            f"(CPU {news['stage_cpu_s'][stage]:6.1f} s in the worker itself, "
            f"{news['stage_pg_cpu_s'][stage]:5.1f} s in its PostgreSQL backends; "
            f"{news['stage_items'][stage]} items claimed)"
        )
    print(f"    idle     {news['idle_s']:8.1f} s")
    for stage, errs in news["errors"].items():
        if errs:
            print(
                f"  {stage}: {len(errs)} failed calls (retried like Airflow would), e.g. {errs[0]}"
            )
    print(f"server requests: {stats}")
    print(
        "  politeness as the server saw it (requests to one host sooner than half the delay"
        f" after the same client's previous one): newsmon {stats.get('newsmon.too_soon', 0)},"
        f" trafilatura {stats.get('trafilatura.too_soon', 0)}"
    )
    print(
        f"\n{'figure':<36}{'newsmon':>12}{'trafilatura':>14}\n"
        f"{'wall time, s':<36}{news['elapsed_s']:>12.1f}{traf['elapsed_s']:>14.1f}\n"
        f"{'URLs/s':<36}{urls / news['elapsed_s']:>12.1f}{urls / traf['elapsed_s']:>14.1f}\n"
        f"{'peak RSS of the process tree, MiB':<36}{news['peak_rss_mb']:>12.0f}"
        f"{traf['peak_rss_mb']:>14.0f}\n"
        f"{'CPU s of the process tree':<36}{news['cpu_s']:>12.1f}{traf['cpu_s']:>14.1f}\n"
        f"{'CPU s of PostgreSQL backends':<36}{news['postgres_cpu_s']:>12.1f}{'-':>14}\n"
        f"{'machine busy (all processes), cores':<36}{news['machine_cores']:>12.2f}"
        f"{traf['machine_cores']:>14.2f}  (of {os.cpu_count()})\n"
        f"ratio newsmon/trafilatura time: {ratio:.2f} (target <= 1.0)"
    )
    traf_tput = urls / traf["elapsed_s"]
    results: list[dict[str, Any]] = [
        {
            "name": "e2e_time_ratio_newsmon_over_trafilatura",
            "value": round(ratio, 3),
            "unit": "ratio",
            "baseline": 1.0,
            "target": 1.0,
            "met": ratio <= 1.0,
            "estimated": estimated,
        },
        {
            "name": "e2e_newsmon_urls_per_s",
            "value": round(urls / news["elapsed_s"], 2),
            "unit": "URL/s",
            "baseline": round(traf_tput, 2),
        },
        {
            "name": "e2e_newsmon_articles_per_s",
            "value": round(news["counts"]["articles"] / news["measured_s"], 2),
            "unit": "article/s",
            "baseline": round(traf["written"] / traf["elapsed_s"], 2),
        },
        {
            # Not counted: the site server (both). PostgreSQL backends: postgres_cpu_s.
            "name": "e2e_newsmon_cpu_s",
            "value": round(news["cpu_s"], 1),
            "postgres_cpu_s": round(news["postgres_cpu_s"], 1),
            "machine_cores_busy": round(news["machine_cores"], 2),
            "trafilatura_machine_cores_busy": round(traf["machine_cores"], 2),
            "unit": "s",
            "baseline": round(traf["cpu_s"], 1),
        },
        {
            "name": "e2e_newsmon_peak_rss_mb",
            "value": round(news["peak_rss_mb"], 1),
            "unit": "MiB",
            "baseline": round(traf["peak_rss_mb"], 1),
        },
    ]
    for stage in STAGES:
        results.append(
            {
                "name": f"e2e_newsmon_stage_{stage}_worker_s",
                "value": round(news["stage_s"][stage], 1),
                "unit": "s",
                "baseline": round(news["measured_s"], 1),
            }
        )
    results.append(
        {
            "name": "e2e_site_settings",
            "value": urls,
            "unit": "URLs",
            "baseline": None,
            "pages": meta["pages"],
            "hosts": len(meta["hosts"]),
            "delay_s": args.delay,
            "workers": args.workers,
            "batch": args.batch,
            "extract_workers_per_worker": args.extract_workers,
            "newsmon_done_fraction": round(news["done_fraction"], 3),
        }
    )
    return results


if __name__ == "__main__":
    found = main()
    if found and "--no-record" not in sys.argv:
        from _results import record

        record(found)
