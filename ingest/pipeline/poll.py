"""Stage: poll feeds — claim due feeds, fetch and parse them concurrently, store entries.

Used by ``newsmon poll`` and by the ``newsmon_poll`` DAG (claim → batches → poll_feeds).
Network I/O runs on one asyncio loop through one :class:`~ingest.net.Fetcher` (so the
per-host limits hold across the batch); parsing, which is CPU-bound, can run in worker
processes (``NEWSMON_POLL_PARSE_WORKERS``); results are written in batches, each batch
one transaction: entries (insert-or-ignore on (feed, item_key)), the feed's new schedule
and health, and one ``fetch_log`` row per fetch. Re-running a batch changes nothing that
matters: known entries are ignored and the schedule is recomputed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from ingest.config import Settings, get_settings
from ingest.feeds import FeedState, ParsedFeed, ParseLimits, PollOutcome, plan_update, poll_feed
from ingest.feeds.parse import parse_feed
from ingest.feeds.poller import ParseRunner, parse_inline
from ingest.net import Fetcher
from ingest.store import feeds_repo as repo
from ingest.store.db import transaction
from ingest.store.politeness import HostSlotBook

Progress = Callable[[int, int], None]
WRITE_BATCH = 200
# Below this many feeds, starting parser processes costs more than it saves.
MIN_FEEDS_FOR_WORKERS = 50


@dataclass
class PollSummary:
    """What a poll run did (small: goes to XCom)."""

    feeds: int = 0
    ok: int = 0
    not_modified: int = 0
    unchanged: int = 0
    failed: int = 0
    new_items: int = 0
    disabled: int = 0
    elapsed_s: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, other: PollSummary) -> None:
        for name in ("feeds", "ok", "not_modified", "unchanged", "failed", "new_items", "disabled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.elapsed_s += other.elapsed_s
        for cls, n in other.errors.items():
            self.errors[cls] = self.errors.get(cls, 0) + n

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def claim_due_feeds(db_url: str, limit: int = 500) -> list[int]:
    """Lease up to ``limit`` due feeds to the caller; returns their ids."""
    with transaction(db_url) as session:
        return repo.claim_due_feeds(session, limit)


def _state(row: dict[str, object]) -> FeedState:
    return FeedState(**row)  # type: ignore[arg-type]


def _write_batch(
    db_url: str, batch: Sequence[tuple[FeedState, PollOutcome]], summary: PollSummary
) -> None:
    """One transaction: entries, feed updates and fetch_log rows for a batch of polls."""
    now = datetime.now(UTC)
    logs = []
    updates = []
    with transaction(db_url) as session:
        new_by_feed = repo.insert_entries_bulk(
            session,
            {state.id: [vars(item) for item in outcome.items] for state, outcome in batch},
        )
        for state, outcome in batch:
            new = new_by_feed.get(state.id, 0)
            values = plan_update(state, outcome, new, now)
            updates.append({**values, "id": state.id})
            logs.append(
                {
                    "feed_id": state.id,
                    "started_at": outcome.started_at,
                    "status_code": outcome.status,
                    "error_class": outcome.error_class,
                    "error": outcome.error,
                    "bytes": outcome.bytes,
                    "duration_ms": outcome.duration_ms,
                    "new_items": new,
                    "not_modified": outcome.not_modified,
                }
            )
            summary.new_items += new
            if values.get("enabled") is False:
                summary.disabled += 1
        repo.update_feeds(session, updates)
        repo.insert_fetch_logs(session, logs)
    for _, outcome in batch:
        if outcome.ok:
            summary.ok += 1
            summary.not_modified += outcome.not_modified
            summary.unchanged += outcome.unchanged_body
        else:
            summary.failed += 1
            cls = outcome.error_class or "unknown"
            summary.errors[cls] = summary.errors.get(cls, 0) + 1


def _pool_runner(pool: concurrent.futures.Executor) -> ParseRunner:
    async def run(body: bytes, content_type: str, base: str, limits: ParseLimits) -> ParsedFeed:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, _parse_job, body, content_type, base, limits)

    return run


def _parse_job(body: bytes, content_type: str, base: str, limits: ParseLimits) -> ParsedFeed:
    return parse_feed(body, content_type=content_type, base_url=base, limits=limits)


async def _poll_async(
    db_url: str,
    states: list[FeedState],
    settings: Settings,
    progress: Progress | None,
    parse: ParseRunner,
) -> PollSummary:
    summary = PollSummary(feeds=len(states))
    limits = ParseLimits(max_bytes=settings.max_feed_bytes, max_entries=settings.max_feed_entries)
    pending: list[tuple[FeedState, PollOutcome]] = []
    writes: list[asyncio.Task[None]] = []
    done = 0

    async def one(fetcher: Fetcher, state: FeedState) -> tuple[FeedState, PollOutcome]:
        try:
            outcome = await poll_feed(fetcher, state, limits=limits, parse=parse)
        except Exception as exc:  # a bug must cost one feed, not the batch
            outcome = PollOutcome(feed_id=state.id, started_at=datetime.now(UTC))
            outcome.error_class = "internal"
            outcome.error = f"{type(exc).__name__}: {exc}"[:1000]
        return state, outcome

    def flush() -> None:
        batch = pending.copy()
        pending.clear()
        # Writes run in a thread (one at a time, in order) while fetching goes on.
        previous = writes[-1] if writes else None

        async def write() -> None:
            if previous is not None:
                await previous
            await asyncio.to_thread(_write_batch, db_url, batch, summary)

        writes.append(asyncio.create_task(write()))

    # poll_concurrency caps requests in flight across all hosts (the Fetcher's limit).
    # Politeness is booked in the database, shared with every other worker.
    async with Fetcher(
        settings, max_connections=max(4, settings.poll_concurrency), book=HostSlotBook(db_url)
    ) as fetcher:
        tasks = [asyncio.create_task(one(fetcher, state)) for state in states]
        for finished in asyncio.as_completed(tasks):
            pending.append(await finished)
            done += 1
            if progress is not None:
                progress(done, len(states))
            if len(pending) >= WRITE_BATCH:
                flush()
        if pending:
            flush()
        for task in writes:
            await task
    return summary


def poll_feeds(
    db_url: str,
    feed_ids: Sequence[int],
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> PollSummary:
    """Poll the given (claimed) feeds once each and store what they say."""
    settings = settings or get_settings()
    started = time.monotonic()
    with transaction(db_url) as session:
        states = [_state(row) for row in repo.load_feed_states(session, feed_ids)]
    if not states:
        return PollSummary()
    workers = settings.poll_parse_workers
    if workers > 0 and len(states) >= MIN_FEEDS_FOR_WORKERS:
        # spawn: forking a process that has threads (resolver, DB writer) is unsafe.
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            summary = asyncio.run(
                _poll_async(db_url, states, settings, progress, _pool_runner(pool))
            )
    else:
        summary = asyncio.run(_poll_async(db_url, states, settings, progress, parse_inline))
    summary.elapsed_s = round(time.monotonic() - started, 3)
    return summary


def poll_due(
    db_url: str,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> PollSummary:
    """Claim and poll every feed that is due, once (``newsmon poll``)."""
    settings = settings or get_settings()
    total = PollSummary()
    polled: set[int] = set()
    while True:
        claimed = claim_due_feeds(db_url, settings.poll_batch_size)
        ids = [i for i in claimed if i not in polled]
        if len(ids) < len(claimed):  # due again within this run: leave it for the next
            with transaction(db_url) as session:
                repo.release_claims(session, [i for i in claimed if i in polled])
        if not ids:
            break
        polled.update(ids)
        offset = total.feeds

        def batch_progress(done: int, count: int, offset: int = offset) -> None:
            if progress is not None:
                progress(offset + done, offset + count)

        total.add(poll_feeds(db_url, ids, settings, batch_progress))
    return total
