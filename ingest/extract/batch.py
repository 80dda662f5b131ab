"""Batch extraction of a directory of saved pages to JSON Lines (``newsmon extract``).

Input: ``*.html`` and ``*.html.gz`` files (not recursive). Output: one JSON object per
file, sorted by id (the file name without ``.html``/``.html.gz``), with the stable keys
``id, title, text, author, published, language, canonical_url, error``.
Every file produces a line, even when extraction fails (``error`` says why).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.extract.article import DEFAULT_MAX_PAGE_BYTES, Article
from ingest.extract.pool import ExtractionPool, ExtractionTask

_SUFFIXES = (".html.gz", ".html")


@dataclass(frozen=True)
class BatchSummary:
    """What a batch did: files seen, pages with text, and failures by error class."""

    total: int
    extracted: int
    errors: dict[str, int] = field(default_factory=dict)
    output: Path | None = None


class _TooLargeError(Exception):
    pass


def page_id(path: Path) -> str | None:
    """``abc.html.gz`` → ``abc``; None for files that are not pages."""
    for suffix in _SUFFIXES:
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return path.name[: -len(suffix)]
    return None


def list_pages(input_dir: Path) -> list[tuple[str, Path]]:
    """``(id, path)`` for each page file in ``input_dir``, sorted by id.

    When both ``x.html`` and ``x.html.gz`` exist, the plain file wins (one line per id).
    """
    found: dict[str, Path] = {}
    for path in sorted(input_dir.iterdir()):
        ident = page_id(path)
        if ident is None or not path.is_file():
            continue
        if ident not in found or path.name.endswith(".html"):
            found[ident] = path
    return sorted(found.items())


def read_page(path: Path, max_bytes: int) -> bytes:
    """The page bytes (gunzipped for ``.gz``), reading at most ``max_bytes + 1``.

    Raises ``_TooLargeError`` past the cap, so a gzip bomb never inflates in memory.
    """
    if path.name.endswith(".gz"):
        with gzip.open(path, "rb") as compressed:
            data = compressed.read(max_bytes + 1)
    else:
        with path.open("rb") as plain:
            data = plain.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _TooLargeError(f"more than {max_bytes} bytes")
    return data


def article_record(ident: str, article: Article) -> dict[str, Any]:
    """The stable JSON shape of one output line."""
    return {
        "id": ident,
        "title": article.title,
        "text": article.text,
        "author": article.author,
        "published": article.published.isoformat() if article.published else None,
        "language": article.language,
        "canonical_url": article.canonical_url,
        "error": article.error,
    }


def _load(ident: str, path: Path, max_bytes: int) -> ExtractionTask | Article:
    try:
        if path.name.endswith(".gz"):
            # Shipped compressed: the worker inflates it under the same cap.
            with path.open("rb") as compressed:
                data = compressed.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise _TooLargeError(f"more than {max_bytes} bytes compressed")
            return ExtractionTask(key=ident, html=data, gzipped=True)
        return ExtractionTask(key=ident, html=read_page(path, max_bytes))
    except _TooLargeError as exc:
        return Article.failed("too_large", str(exc))
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        return Article.failed("not_html", f"unreadable file: {exc}")


def _extract_all(
    pages: list[tuple[str, Path]], pool: ExtractionPool
) -> Iterator[tuple[str, Article]]:
    """Results in id order; unreadable files are answered without a worker."""
    early: dict[str, Article] = {}

    def tasks() -> Iterator[ExtractionTask]:
        for ident, path in pages:
            loaded = _load(ident, path, pool.max_page_bytes)
            if isinstance(loaded, Article):
                early[ident] = loaded
            else:
                yield loaded

    pooled = pool.map(tasks())
    from_pool: dict[str, Article] = {}
    for ident, _ in pages:
        # The pool answers in input order, skipping files answered early; buffering
        # keeps this correct however far ahead the task generator has read.
        while ident not in early and ident not in from_pool:
            key, article = next(pooled)
            from_pool[key] = article
        yield ident, early.pop(ident) if ident in early else from_pool.pop(ident)


def extract_directory(
    input_dir: Path,
    output: Path,
    workers: int,
    progress: Callable[[int, int], None] | None = None,
    *,
    timeout_s: float | None = None,
) -> BatchSummary:
    """Extract every page in ``input_dir`` into ``output`` (JSON Lines, sorted by id).

    ``progress(done, total)`` is called after each page. Raises ``NotADirectoryError``
    when ``input_dir`` is not a directory (the CLI turns it into a message).
    """
    if not input_dir.is_dir():
        raise NotADirectoryError(f"input directory not found: {input_dir}")
    pages = list_pages(input_dir)
    errors: dict[str, int] = {}
    extracted = 0
    temporary = output.with_name(output.name + ".part")
    with ExtractionPool(workers, timeout_s=timeout_s) as pool, temporary.open("w") as sink:
        for done, (ident, article) in enumerate(_extract_all(pages, pool), start=1):
            sink.write(json.dumps(article_record(ident, article), ensure_ascii=False) + "\n")
            if article.error_class:
                errors[article.error_class] = errors.get(article.error_class, 0) + 1
            if article.text:
                extracted += 1
            if progress is not None:
                progress(done, len(pages))
    temporary.replace(output)
    return BatchSummary(total=len(pages), extracted=extracted, errors=errors, output=output)


def extract_file(path: Path, *, timeout_s: float | None = None) -> dict[str, Any]:
    """Extract one saved page (under the pool's limits) and return its output record."""
    ident = page_id(path) or path.name
    loaded = _load(ident, path, _max_page_bytes())
    if isinstance(loaded, Article):
        return article_record(ident, loaded)
    with ExtractionPool(1, timeout_s=timeout_s) as pool:
        return article_record(ident, pool.map_one(loaded))


def _max_page_bytes() -> int:
    from ingest.config import get_settings

    return get_settings().max_page_bytes or DEFAULT_MAX_PAGE_BYTES
