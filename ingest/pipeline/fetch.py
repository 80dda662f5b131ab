"""Stage: fetch each new entry's page, keep the raw HTML, extract, store the article.

Flow per batch of claimed entries:

1. entries whose canonical URL is already stored are linked to that article without a
   fetch (the same story in two feeds, or a tracking-parameter variant);
2. the other pages are fetched concurrently through :mod:`ingest.net` (SSRF guard,
   robots.txt, per-host politeness, size and time caps);
3. pages are extracted in killable worker processes (:class:`ExtractionPool`);
4. one transaction stores raw pages, articles (one per canonical URL; a changed text is
   a new version) and the entries' outcomes.

Transient fetch failures (timeouts, 5xx, DNS) leave the entry pending for a later run, up
to ``MAX_ATTEMPTS``; permanent ones (blocked, 4xx, robots) are recorded as failed.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import os
import queue
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import cast

from sqlalchemy.orm import Session

from ingest.config import Settings, get_settings
from ingest.dedupe.urls import UrlError, canonical_url, url_key
from ingest.extract import Article as Extracted
from ingest.extract import ExtractionPool, ExtractionTask
from ingest.net import Fetcher, FetchError, FetchResult, PolitenessBook
from ingest.store import articles_repo as repo
from ingest.store.db import run_transaction, transaction
from ingest.store.politeness import HostSlotBook
from ingest.store.types import utcnow

MAX_ATTEMPTS = 3
CLAIM_LEASE = timedelta(minutes=30)
RETRY_BACKOFF = timedelta(minutes=5)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EXTRACTOR_VERSION = "1"
_SPACES = re.compile(r"\s+")


@dataclass
class FetchSummary:
    entries: int = 0
    fetched: int = 0
    new_articles: int = 0
    revised: int = 0
    unchanged: int = 0
    linked: int = 0
    failed: int = 0
    retry_later: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def add(self, other: FetchSummary) -> None:
        """Fold another batch's counts into this one."""
        for name in ("entries", "fetched", "new_articles", "revised", "unchanged", "linked"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failed += other.failed
        self.retry_later += other.retry_later
        for cls, n in other.errors.items():
            self.errors[cls] = self.errors.get(cls, 0) + n


_POOLS: dict[tuple[int, int], ExtractionPool] = {}


def extraction_pool(workers: int) -> ExtractionPool:
    """This process's extraction pool, kept across batches.

    Starting workers costs a fork and warm-up per batch; a worker process (the CLI, a
    bench worker, an Airflow task running several batches) reuses them. Keyed by pid: a
    forked child never uses its parent's pool. Closed when the process exits.
    """
    key = (os.getpid(), workers)
    pool = _POOLS.get(key)
    if pool is None or pool.closed:
        pool = ExtractionPool(workers)
        pool.__enter__()
        _POOLS[key] = pool
        atexit.register(pool.close)
    return pool


def content_hash(title: str | None, text: str | None) -> str:
    """Hash of the normalised text: whitespace changes are not a new version."""
    normalised = _SPACES.sub(" ", f"{title or ''}\n{text or ''}").strip()
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def claim_pending_entries(db_url: str, limit: int = 200) -> list[int]:
    """Lease up to ``limit`` entries to fetch (disjoint across concurrent workers)."""
    with transaction(db_url) as session:
        return repo.claim_pending_entries(session, limit, CLAIM_LEASE)


_FETCHES_DONE = object()  # end-of-stream marker on the queue of fetched pages
_POLL_S = 0.02  # how long the extraction side waits before looking for new pages


class _FetchThread(threading.Thread):
    """Fetches pages on its own event loop and hands each result over as it arrives,
    so the extraction workers start on the first page instead of after the last one
    (politeness delays keep a batch's fetches spread over seconds)."""

    def __init__(self, urls: dict[int, str], settings: Settings, book: PolitenessBook) -> None:
        super().__init__(name="newsmon-fetch", daemon=True)
        self.urls, self.settings, self.book = urls, settings, book
        self.results: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.stop = threading.Event()  # the consumer failed: start no more fetches
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._fetch_all())
        except BaseException as exc:  # re-raised by the consumer (join_or_raise)
            self.error = exc
        finally:
            self.results.put(_FETCHES_DONE)

    async def _fetch_all(self) -> None:
        async with Fetcher(self.settings, book=self.book) as fetcher:

            async def one(entry_id: int, url: str) -> None:
                if self.stop.is_set():
                    return
                try:
                    result: FetchResult | FetchError = await fetcher.fetch_page(url)
                except FetchError as exc:
                    result = exc
                self.results.put((entry_id, result))

            await asyncio.gather(*(one(i, u) for i, u in self.urls.items()))

    def join_or_raise(self) -> None:
        self.join()
        if self.error is not None:
            raise self.error


def _fetch_and_extract_pages(
    db_url: str,
    to_fetch: dict[int, str],
    by_id: dict[int, repo.PendingEntry],
    settings: Settings,
    progress: Callable[[int], None] | None,
) -> tuple[dict[int, FetchResult | FetchError], dict[int, Extracted]]:
    """Fetch pages and extract each one as soon as it arrives (fetching overlaps
    extracting); returns every fetch outcome and every extracted page."""
    results: dict[int, FetchResult | FetchError] = {}
    extracted: dict[int, Extracted] = {}
    if not to_fetch:
        return results, extracted
    pool = extraction_pool(max(1, settings.extract_workers))
    fetcher = _FetchThread(to_fetch, settings, HostSlotBook(db_url))
    fetcher.start()
    fetching = True
    try:
        while fetching or pool.busy:
            # Nothing to extract: wait for the network; otherwise only look.
            wait_s: float | None = 0.5 if not pool.busy else None
            while fetching:
                try:
                    item = (
                        fetcher.results.get(timeout=wait_s)
                        if wait_s
                        else (fetcher.results.get_nowait())
                    )
                except queue.Empty:
                    break
                wait_s = None
                if item is _FETCHES_DONE:
                    fetching = False
                    break
                entry_id, result = cast("tuple[int, FetchResult | FetchError]", item)
                results[entry_id] = result
                if isinstance(result, FetchResult):
                    entry = by_id[entry_id]
                    pool.submit(
                        str(entry_id),
                        result.body,
                        result.final_url,
                        feed_title=entry.title,
                        feed_summary=entry.summary,
                        content_type=result.headers.get("content-type"),
                    )
            for key, article in pool.poll(_POLL_S):
                extracted[int(key)] = article
                if progress:
                    progress(1)
    except BaseException:
        fetcher.stop.set()
        raise
    fetcher.join_or_raise()
    return results, extracted


def _published(entry: repo.PendingEntry, extracted: Extracted) -> datetime | None:
    if entry.published is not None:
        return entry.published
    if extracted.published is not None:
        return datetime.combine(extracted.published, time(0, 0), tzinfo=UTC)
    return None


def _canonical(entry_url: str, extracted: Extracted) -> tuple[str, str]:
    try:
        return (
            canonical_url(entry_url, extracted.canonical_url),
            url_key(entry_url, extracted.canonical_url),
        )
    except UrlError:
        return canonical_url(entry_url), url_key(entry_url)


def fetch_and_extract(
    db_url: str,
    entry_ids: Sequence[int],
    settings: Settings | None = None,
    progress: Callable[[int], None] | None = None,
) -> FetchSummary:
    """Fetch, extract and store the articles of the given (claimed) entries."""
    settings = settings or get_settings()
    summary = FetchSummary()
    with transaction(db_url) as session:
        entries = repo.load_entries(session, entry_ids)
        summary.entries = len(entries)
        to_fetch: dict[int, str] = {}
        linked: dict[int, int] = {}
        invalid: list[int] = []
        keys: dict[int, str] = {}
        for entry in entries:
            try:
                if not entry.url:
                    raise UrlError("no URL")
                keys[entry.id] = url_key(entry.url)
            except UrlError:
                invalid.append(entry.id)
        known = repo.article_ids_for_keys(session, list(keys.values()))
        for entry in entries:
            if entry.id not in keys or entry.url is None:
                continue
            article_id = known.get(keys[entry.id])
            if article_id is not None and entry.article_id is None:
                linked[entry.id] = article_id
            else:
                to_fetch[entry.id] = entry.url
        repo.mark_entries(
            session,
            [repo.EntryOutcome(i, "fetched", article_id=a) for i, a in linked.items()]
            + [repo.EntryOutcome(i, "skipped", error_class="invalid_url") for i in invalid],
        )
        summary.linked, summary.failed = len(linked), len(invalid)
    by_id = {e.id: e for e in entries}

    results, extracted = _fetch_and_extract_pages(db_url, to_fetch, by_id, settings, progress)
    pages = {i: r for i, r in results.items() if isinstance(r, FetchResult)}
    summary.fetched = len(pages)

    # Store in publication order (then URL), not in the order fetches completed: article
    # ids are the arrival order the next stages see, and must not depend on timing.
    def publication_order(entry_id: int) -> tuple[datetime, str]:
        entry = by_id[entry_id]
        return (entry.published or _EPOCH, entry.url or "")

    def store(session: Session) -> FetchSummary:
        part = FetchSummary()
        # Raw pages first, in key order: two workers storing the same page (a syndicated
        # copy) then lock it in the same order and cannot deadlock on it.
        page_ids = list(pages)
        digests = repo.store_raw_pages(
            session, [(pages[i].body, pages[i].headers.get("content-type")) for i in page_ids]
        )
        raw_keys = dict(zip(page_ids, digests, strict=True))
        outcomes: list[repo.EntryOutcome] = []
        stored: list[int] = []  # entry ids, in the order of to_store
        to_store: list[repo.ArticleValues] = []
        for entry_id in sorted(results, key=publication_order):
            result, entry = results[entry_id], by_id[entry_id]
            if isinstance(result, FetchError):
                cls = str(result.error_class)
                part.errors[cls] = part.errors.get(cls, 0) + 1
                if result.error_class.transient and entry.attempts + 1 < MAX_ATTEMPTS:
                    part.retry_later += 1
                    backoff = RETRY_BACKOFF * (2**entry.attempts)
                    outcomes.append(
                        repo.EntryOutcome(
                            entry_id,
                            "pending",
                            error_class=cls,
                            error=str(result)[:2000],
                            retry_at=utcnow() + backoff,
                        )
                    )
                else:
                    part.failed += 1
                    outcomes.append(
                        repo.EntryOutcome(
                            entry_id, "failed", error_class=cls, error=str(result)[:2000]
                        )
                    )
                continue
            page, article = result, extracted[entry_id]
            raw = raw_keys[entry_id]
            canonical, key = _canonical(page.final_url, article)
            status = "ok" if article.error is None and article.text else "failed"
            if status == "failed":
                cls = article.error_class or "empty"
                part.errors[cls] = part.errors.get(cls, 0) + 1
            stored.append(entry_id)
            to_store.append(
                repo.ArticleValues(
                    canonical_url=canonical,
                    url_key=key,
                    url=entry.url or page.final_url,
                    source=entry.source,
                    site_name=article.site_name,
                    title=article.title or entry.title,
                    text=article.text or None,
                    author=article.author or entry.author,
                    published=_published(entry, article),
                    language=article.language,
                    content_hash=content_hash(article.title or entry.title, article.text),
                    raw_sha256=raw,
                    extraction_status=status,
                    extraction_error=article.error,
                    extractor_version=EXTRACTOR_VERSION,
                )
            )
        for entry_id, write in zip(stored, repo.upsert_articles(session, to_store), strict=True):
            if write.outcome == "new":
                part.new_articles += 1
            elif write.outcome == "revised":
                part.revised += 1
            else:
                part.unchanged += 1
            outcomes.append(repo.EntryOutcome(entry_id, "fetched", article_id=write.article_id))
        repo.mark_entries(session, outcomes)
        return part

    summary.add(run_transaction(db_url, store))
    return summary


def fetch_pending(
    db_url: str,
    limit: int = 200,
    settings: Settings | None = None,
    progress: Callable[[int], None] | None = None,
) -> FetchSummary:
    """Claim and process one batch (the CLI and the demo; DAGs claim and map instead)."""
    return fetch_and_extract(db_url, claim_pending_entries(db_url, limit), settings, progress)


@dataclass
class ReextractSummary:
    articles: int = 0
    revised: int = 0
    unchanged: int = 0
    missing_raw: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def reextract(
    db_url: str,
    since: datetime | None = None,
    batch: int = 100,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReextractSummary:
    """Extract stored raw pages again (after an extractor upgrade).

    A changed text becomes a new version of the article (re-tagged, same story); an
    unchanged one is left alone, so running this twice changes nothing the second time.
    """
    settings = get_settings()
    summary = ReextractSummary()
    with transaction(db_url) as session:
        todo = repo.articles_for_reextract(session, since)
    total = len(todo)
    workers = workers or settings.extract_workers
    with ExtractionPool(max(1, workers)) as pool:
        for start in range(0, total, batch):
            chunk = todo[start : start + batch]
            with transaction(db_url) as session:
                snapshots = {aid: repo.article_snapshot(session, aid) for aid, _ in chunk}
                pages = {aid: repo.load_raw_page(session, sha) for aid, sha in chunk}
            tasks = []
            for aid, html in pages.items():
                if html is None:
                    summary.missing_raw += 1
                    continue
                tasks.append(ExtractionTask(key=str(aid), html=html, url=snapshots[aid].url))
            results = dict(pool.map(tasks))
            with transaction(db_url) as session:
                for key, article in results.items():
                    snap = snapshots[int(key)]
                    summary.articles += 1
                    if article.error is not None or not article.text:
                        summary.unchanged += 1  # never replace good text with a failure
                        continue
                    write = repo.upsert_article(
                        session,
                        repo.ArticleValues(
                            canonical_url=snap.canonical_url,
                            url_key=snap.url_key,
                            url=snap.url,
                            source=snap.source,
                            site_name=article.site_name,
                            title=article.title or snap.title,
                            text=article.text,
                            author=article.author,
                            published=snap.published,
                            language=article.language,
                            content_hash=content_hash(article.title or snap.title, article.text),
                            raw_sha256=snap.raw_sha256,
                            extraction_status="ok",
                            extraction_error=None,
                            extractor_version=EXTRACTOR_VERSION,
                        ),
                    )
                    if write.outcome == "revised":
                        summary.revised += 1
                    else:
                        summary.unchanged += 1
            if progress:
                progress(min(start + batch, total), total)
    return summary
