"""Extraction in worker processes with a hard wall-clock and memory limit per page.

Why processes and not threads or ``multiprocessing.Pool``: a pathological page can hang
libxml2 or trafilatura in C code, or balloon memory. The only reliable stop is SIGKILL,
and ``multiprocessing.Pool`` does not survive killing a worker mid-task. So this is a
small pool of its own: each worker is one process with one duplex pipe, serving one page
at a time. The parent waits on all busy pipes with a timeout equal to the earliest
deadline (``multiprocessing.connection.wait``, i.e. select/poll), kills a worker that
misses its deadline, records ``timeout`` for its page and starts a replacement.

Limits per page:

* bytes: pages over ``max_page_bytes`` are rejected in the parent (never shipped);
* elements: counted cheaply in the worker before parsing (``too_many_elements``);
* memory: ``RLIMIT_AS`` in each worker; a ``MemoryError`` becomes ``memory`` and the
  worker is replaced (allocator state after a MemoryError is not trusted);
* time: ``timeout_s`` wall-clock, enforced by the parent with SIGKILL.

Start method: ``forkserver`` by default (safe when the parent has threads, e.g. inside
Airflow; the server preloads the extractor so each new worker starts in milliseconds).
``fork`` starts fastest but inherits the parent's threads and locks; ``spawn`` is safest
and slowest (each worker imports trafilatura again). See ``bench/extract.py``.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import time
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from ingest.extract.article import Article, extract_article

MAX_CRASHES_IN_A_ROW = 5
# A busy worker may be sent its next page ahead (no idle gap between pages) only if the
# page fits in the pipe's buffer: then send() cannot block on the busy worker, and the
# parent stays free to enforce deadlines. Bigger pages wait until the worker is idle.
SEND_AHEAD_MAX_BYTES = 32 * 1024


class WorkerStartError(RuntimeError):
    """Extraction workers die before answering anything: the pool cannot work here."""


_PRELOAD = ["ingest.extract._preload"]
_STOP = None
_GC_THRESHOLDS = (50_000, 20, 20)


@dataclass(frozen=True)
class ExtractionTask:
    """One page to extract: ``key`` is the caller's identifier, echoed with the result."""

    key: str
    html: bytes
    url: str | None = None
    feed_title: str | None = None
    feed_summary: str | None = None
    content_type: str | None = None
    # ``html`` is gzip-compressed: the worker inflates it (bounded by the byte cap), so
    # the parent only moves the small compressed bytes and never spends CPU inflating.
    gzipped: bool = False


def _inflate(task: ExtractionTask, max_page_bytes: int) -> bytes | Article:
    """The page bytes of a gzipped task, or the failure to record."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        html = inflater.decompress(task.html, max_page_bytes + 1)
    except zlib.error as exc:
        return Article.failed("not_html", f"unreadable file: {exc}", canonical_url=task.url)
    if len(html) > max_page_bytes:
        reason = f"more than {max_page_bytes} bytes"
        return Article.failed("too_large", reason, canonical_url=task.url)
    return html


def _limit_memory(memory_mb: int) -> None:
    if memory_mb <= 0:
        return
    limit = memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _worker_main(
    conn: multiprocessing.connection.Connection,
    memory_mb: int,
    max_elements: int,
    max_page_bytes: int,
) -> None:
    """Serve tasks from ``conn`` until it closes or a stop message arrives."""
    # The parent handles Ctrl-C; a worker dying on SIGINT mid-page would look like a crash.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _limit_memory(memory_mb)
    # Tree-heavy extraction allocates many short-lived objects; with default thresholds the
    # cyclic GC runs constantly and costs ~10 % of the time. Collect less often (RLIMIT_AS
    # still bounds memory) and keep the imported modules out of every collection.
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLDS)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError, MemoryError):
            return
        if task is _STOP:
            return
        exit_after = False
        html: bytes | Article = _inflate(task, max_page_bytes) if task.gzipped else task.html
        if isinstance(html, Article):
            try:
                conn.send((task.key, html))
            except (OSError, MemoryError):
                return
            continue
        try:
            article = extract_article(
                html,
                task.url,
                feed_title=task.feed_title,
                feed_summary=task.feed_summary,
                content_type=task.content_type,
                max_page_bytes=len(html) + 1,  # the cap is already applied
                max_elements=max_elements,
            )
            exit_after = article.error_class == "memory"
        except MemoryError:
            article = Article.failed("memory", f"over {memory_mb} MiB", canonical_url=task.url)
            exit_after = True
        except Exception as exc:  # a bug in a library must not take down the batch
            reason = f"{type(exc).__name__}: {exc}"[:300]
            article = Article.failed("failed", reason, canonical_url=task.url)
        try:
            conn.send((task.key, article))
        except (OSError, MemoryError):
            return
        if exit_after:
            return


@dataclass
class _Worker:
    process: Any  # multiprocessing.process.BaseProcess (context-specific subclass)
    conn: multiprocessing.connection.Connection
    # Pages sent and not answered yet, in order; the first is being extracted and
    # ``deadline`` is its deadline. A second one may wait in the pipe (see SEND_AHEAD).
    inflight: deque[_Pending] = field(default_factory=deque)
    deadline: float = 0.0

    @property
    def task(self) -> ExtractionTask | None:
        return self.inflight[0].task if self.inflight else None


@dataclass
class _Pending:
    seq: int
    task: ExtractionTask


@dataclass
class PoolStats:
    """Counters for monitoring: how many workers were started and killed."""

    started: int = 0
    killed: int = 0
    crashed: int = 0


class ExtractionPool:
    """A context manager running :func:`extract_article` in killable worker processes.

    Limits default to :class:`ingest.config.Settings` (``extract_timeout_s``,
    ``extract_memory_mb``, ``extract_max_elements``, ``max_page_bytes``,
    ``extract_workers``). Use :meth:`map` for a stream of tasks (results in input order),
    or :meth:`submit` then :meth:`results` (results in completion order).
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        timeout_s: float | None = None,
        memory_mb: int | None = None,
        max_elements: int | None = None,
        max_page_bytes: int | None = None,
        start_method: str = "forkserver",
    ) -> None:
        from ingest.config import get_settings

        settings = get_settings()
        self.workers = workers if workers is not None else settings.extract_workers
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        self.timeout_s = timeout_s if timeout_s is not None else settings.extract_timeout_s
        self.memory_mb = memory_mb if memory_mb is not None else settings.extract_memory_mb
        self.max_elements = (
            max_elements if max_elements is not None else settings.extract_max_elements
        )
        self.max_page_bytes = (
            max_page_bytes if max_page_bytes is not None else settings.max_page_bytes
        )
        self._context = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            self._context.set_forkserver_preload(_PRELOAD)
        self._workers: list[_Worker] = []
        self._queue: deque[_Pending] = deque()
        self._done: deque[tuple[int, str, Article]] = deque()
        self._seq = itertools.count()
        self.stats = PoolStats()
        self._closed = False
        # Workers that die before answering, with no page answered in between: a broken
        # environment (e.g. children cannot import the parent's __main__), not a bad page.
        self._crashes_in_a_row = 0

    # --- lifecycle -------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> ExtractionPool:
        while len(self._workers) < self.workers:
            self._workers.append(self._start_worker())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop idle workers politely, kill busy ones, and wait for all of them."""
        if self._closed:
            return
        self._closed = True
        for worker in self._workers:
            if not worker.inflight:
                with contextlib.suppress(OSError):
                    worker.conn.send(_STOP)
            else:
                self._kill(worker)
        for worker in self._workers:
            worker.process.join(timeout=2.0)
            if worker.process.is_alive():
                self._kill(worker)
            worker.conn.close()
        self._workers.clear()

    def _start_worker(self) -> _Worker:
        parent_conn, child_conn = self._context.Pipe(duplex=True)
        process = self._context.Process(  # type: ignore[attr-defined]
            target=_worker_main,
            args=(child_conn, self.memory_mb, self.max_elements, self.max_page_bytes),
            name="newsmon-extract",
            daemon=True,
        )
        process.start()
        child_conn.close()
        self.stats.started += 1
        return _Worker(process=process, conn=parent_conn)

    def _kill(self, worker: _Worker) -> None:
        if worker.process.is_alive() and worker.process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.join(timeout=5.0)

    def _replace(self, worker: _Worker) -> None:
        self._kill(worker)
        worker.conn.close()
        index = self._workers.index(worker)
        self._workers[index] = self._start_worker()

    # --- submitting and collecting ---------------------------------------------------

    def submit(
        self,
        key: str,
        html: bytes,
        url: str | None = None,
        *,
        feed_title: str | None = None,
        feed_summary: str | None = None,
        content_type: str | None = None,
    ) -> None:
        """Queue one page; its result comes out of :meth:`results`."""
        task = ExtractionTask(key, html, url, feed_title, feed_summary, content_type)
        self._enqueue(task)

    def _enqueue(self, task: ExtractionTask) -> int:
        if self._closed:
            raise RuntimeError("ExtractionPool is closed")
        if not self._workers:
            self.__enter__()
        seq = next(self._seq)
        if len(task.html) > self.max_page_bytes:
            reason = f"{len(task.html)} bytes > {self.max_page_bytes}"
            self._done.append((seq, task.key, Article.failed("too_large", reason, task.url)))
        else:
            self._queue.append(_Pending(seq, task))
        return seq

    def _in_flight(self) -> int:
        return len(self._queue) + sum(len(w.inflight) for w in self._workers)

    def results(self) -> Iterator[tuple[str, Article]]:
        """Yield ``(key, article)`` for every submitted page, in completion order."""
        while self._done or self._in_flight():
            if not self._done:
                self._step()
            while self._done:
                _, key, article = self._done.popleft()
                yield key, article

    @property
    def busy(self) -> bool:
        """Whether submitted pages are waiting or being extracted."""
        return bool(self._done) or self._in_flight() > 0

    def poll(self, timeout_s: float) -> list[tuple[str, Article]]:
        """Dispatch submitted pages and wait up to ``timeout_s`` for one to finish;
        returns the ``(key, article)`` pairs finished so far (maybe none).

        For callers that feed the pool while something else (the network) produces
        pages: submit as they come, poll in between.
        """
        if not self._done and self._in_flight():
            self._step(max_wait_s=timeout_s)
        finished = [(key, article) for _, key, article in self._done]
        self._done.clear()
        return finished

    def map(self, tasks: Iterable[ExtractionTask]) -> Iterator[tuple[str, Article]]:
        """Extract a stream of tasks; yield ``(key, article)`` in input order.

        At most ``2 × workers`` pages are held at once, so memory stays bounded however
        long the stream is.
        """
        window = 3 * self.workers  # room for a page sent ahead to every worker
        finished: dict[int, tuple[str, Article]] = {}
        order: deque[int] = deque()  # seq numbers of this call's tasks, in input order
        iterator = iter(tasks)
        exhausted = False
        while True:
            while not exhausted and len(order) < window:
                task = next(iterator, None)
                if task is None:
                    exhausted = True
                    break
                order.append(self._enqueue(task))
            if not order:
                return
            if not self._done:
                self._step()
            while self._done:
                seq, key, article = self._done.popleft()
                finished[seq] = (key, article)
            while order and order[0] in finished:
                yield finished.pop(order.popleft())

    def map_one(self, task: ExtractionTask) -> Article:
        """Extract a single page under the pool's limits."""
        for _, article in self.map([task]):
            return article
        raise AssertionError("map yields one result per task")

    # --- the scheduler ----------------------------------------------------------------

    def _dispatch(self) -> None:
        # First every idle worker gets a page, then busy ones may get one small page ahead.
        for ahead in (False, True):
            for worker in self._workers:
                if not self._queue:
                    return
                if len(worker.inflight) != int(ahead):
                    continue
                if ahead and len(self._queue[0].task.html) > SEND_AHEAD_MAX_BYTES:
                    continue
                pending = self._queue.popleft()
                try:
                    worker.conn.send(pending.task)
                except OSError:
                    self._queue.appendleft(pending)
                    if worker.inflight:
                        continue  # its death shows when its current page is collected
                    # The idle worker died (e.g. after a MemoryError); retry on a fresh one.
                    self.stats.crashed += 1
                    self._note_crash(worker)
                    self._replace(worker)
                    return
                if not worker.inflight:
                    worker.deadline = time.monotonic() + self.timeout_s
                worker.inflight.append(pending)

    def _finish(self, worker: _Worker, article: Article) -> None:
        head = worker.inflight.popleft()
        self._done.append((head.seq, head.task.key, article))
        if worker.inflight:  # the page sent ahead starts now
            worker.deadline = time.monotonic() + self.timeout_s

    def _requeue_waiting(self, worker: _Worker) -> None:
        """Pages sent ahead to a worker about to be replaced go back to the queue front."""
        while worker.inflight:
            self._queue.appendleft(worker.inflight.pop())

    def _step(self, max_wait_s: float | None = None) -> None:
        """Dispatch queued pages, then wait for one result or the earliest deadline
        (or ``max_wait_s``, if sooner)."""
        self._dispatch()
        busy = [w for w in self._workers if w.task is not None]
        if not busy:
            return
        now = time.monotonic()
        wait_s = max(0.0, min(w.deadline for w in busy) - now)
        if max_wait_s is not None:
            wait_s = min(wait_s, max_wait_s)
        ready = multiprocessing.connection.wait([w.conn for w in busy], timeout=wait_s)
        for worker in busy:
            if worker.conn in ready:
                self._collect(worker)
        now = time.monotonic()
        for worker in busy:
            if worker.task is not None and now >= worker.deadline:
                task = worker.task
                self.stats.killed += 1
                self._finish(
                    worker,
                    Article.failed("timeout", f"no result within {self.timeout_s:g} s", task.url),
                )
                self._requeue_waiting(worker)
                self._replace(worker)

    def _note_crash(self, worker: _Worker) -> None:
        """Fail fast when workers cannot run at all, instead of failing every page."""
        self._crashes_in_a_row += 1
        if self._crashes_in_a_row >= MAX_CRASHES_IN_A_ROW:
            code = worker.process.exitcode
            self.close()
            raise WorkerStartError(
                f"{self._crashes_in_a_row} extraction workers in a row died before answering "
                f"(last exit code {code}); the environment cannot run them (start method "
                f"{self._context.get_start_method()!r})"
            )

    def _collect(self, worker: _Worker) -> None:
        task = worker.task
        assert task is not None
        try:
            _key, article = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(timeout=1.0)
            code = worker.process.exitcode
            self.stats.crashed += 1
            self._note_crash(worker)
            self._finish(
                worker, Article.failed("crashed", f"worker exited with code {code}", task.url)
            )
            self._requeue_waiting(worker)
            self._replace(worker)
            return
        self._crashes_in_a_row = 0
        self._finish(worker, article)
        if article.error_class == "memory":
            self._requeue_waiting(worker)
            self._replace(worker)  # the worker exits after a MemoryError
