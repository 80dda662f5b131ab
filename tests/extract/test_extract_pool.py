"""The worker pool: limits, pathological pages, killing a hung worker and continuing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.extract import ERROR_CLASSES, Article, ExtractionPool, ExtractionTask

ARTICLE = (
    b"<html><head><title>A real story</title></head><body><article>"
    + b"<p>The council voted on Tuesday to rebuild the old bridge over the river. </p>" * 20
    + b"</article></body></html>"
)
# libxml2 checks attributes for duplicates pairwise: this page hangs the parser for minutes.
HANGING = (
    b"<html><body><div "
    + b" ".join(b'a%d="x"' % i for i in range(100_000))
    + b">hello</div></body></html>"
)
PATHOLOGICAL = {
    "siblings": b"<html><body>" + b"<p>word</p>" * 200_000 + b"</body></html>",
    "attributes": HANGING,
    "big-text-node": b"<html><body><p>" + b"x" * (50 * 1024 * 1024) + b"</p></body></html>",
    "nested": b"<html><body>" + b"<div>" * 100_000 + b"deep" + b"</div>" * 100_000 + b"</body>",
    "nul-bytes": ARTICLE.replace(b"bridge", b"bri\x00dge"),
    "wrong-encoding": ARTICLE.replace(b"<head>", b'<head><meta charset="utf-8">').replace(
        b"river.",
        "rivière, près du château, où l'été dernier les élèves ont joué.".encode("cp1252"),
    ),
    "utf16-no-bom": ARTICLE.decode().encode("utf-16-le"),
    "empty": b"",
    "binary": bytes(range(256)) * 64,
}


@pytest.fixture(scope="module")
def pool() -> ExtractionPool:
    with ExtractionPool(2, timeout_s=3.0) as running:
        yield running


def test_pathological_pages_all_end_and_batch_continues(pool: ExtractionPool) -> None:
    tasks = [ExtractionTask(k, v, "https://example.org/news/1") for k, v in PATHOLOGICAL.items()]
    tasks.append(ExtractionTask("normal", ARTICLE, "https://example.org/news/2"))
    results = dict(pool.map(tasks))
    assert list(results) == [t.key for t in tasks]  # input order, one result each
    for key, article in results.items():
        assert article.error is None or article.error_class in ERROR_CLASSES, key
    assert results["siblings"].error_class == "too_many_elements"
    assert results["attributes"].error_class == "timeout"
    assert results["big-text-node"].error_class == "too_large"
    assert results["empty"].error_class == "empty"
    assert results["binary"].error_class == "not_html"
    for key in ("nul-bytes", "wrong-encoding", "utf16-no-bom", "normal"):
        assert results[key].error is None, key
        assert "rebuild the old" in results[key].text
    assert "rivière" in results["wrong-encoding"].text
    assert "bri" in results["nul-bytes"].text and "\x00" not in results["nul-bytes"].text
    assert results["normal"].title == "A real story"


def test_hung_worker_is_killed_and_replaced(pool: ExtractionPool) -> None:
    killed_before = pool.stats.killed
    started_before = pool.stats.started
    for index in range(3):
        pool.submit(f"ok-{index}", ARTICLE, "https://example.org/news/3")
    pool.submit("hang", HANGING)
    pool.submit("after", ARTICLE)
    results = dict(pool.results())
    assert results["hang"].error == "timeout: no result within 3 s"
    assert all(results[f"ok-{i}"].error is None for i in range(3))
    assert results["after"].error is None
    assert pool.stats.killed == killed_before + 1
    assert pool.stats.started == started_before + 1


def test_memory_limit_is_recorded() -> None:
    # 100 MiB of address space is not enough to even parse a moderately large page.
    page = b"<html><body>" + b"<p>" + b"word " * 600_000 + b"</p></body></html>"
    with ExtractionPool(1, timeout_s=10.0, memory_mb=100) as small:
        article = small.map_one(ExtractionTask("big", page))
        assert article.error_class in ("memory", "crashed")
        # the pool is still usable afterwards
        assert small.map_one(ExtractionTask("ok", ARTICLE)).error is None


def test_rejects_bad_worker_count() -> None:
    with pytest.raises(ValueError, match="workers"):
        ExtractionPool(0)


def test_pool_fails_fast_when_workers_cannot_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers that die before answering (a broken environment: here, as inside some task
    runners, the parent's __main__ cannot be imported by a child) stop the pool with a
    clear error instead of a batch of 'crashed' pages after minutes."""
    import sys

    from ingest.extract.pool import WorkerStartError

    broken_main = tmp_path / "broken_main.py"
    broken_main.write_text("raise SystemExit(3)\n")
    monkeypatch.setattr(sys.modules["__main__"], "__file__", str(broken_main), raising=False)
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", None, raising=False)
    pages = [ExtractionTask(str(i), b"<html><body><p>x</p></body></html>") for i in range(20)]
    with (
        pytest.raises(WorkerStartError, match="died before answering"),
        ExtractionPool(1, timeout_s=10, start_method="spawn") as pool,
    ):
        list(pool.map(pages))


def test_pages_sent_ahead_to_a_killed_worker_are_not_lost() -> None:
    """Small pages may wait in a busy worker's pipe; when that worker is killed for a
    hanging page, they go back to the queue and are extracted by its replacement."""
    from ingest.extract.pool import SEND_AHEAD_MAX_BYTES

    small = [
        ExtractionTask(f"small{i}", ARTICLE.replace(b"bridge", b"bridge %d" % i)) for i in range(3)
    ]
    assert all(len(t.html) <= SEND_AHEAD_MAX_BYTES for t in small)
    tasks = [ExtractionTask("hang", HANGING), *small]
    with ExtractionPool(1, timeout_s=2) as pool:
        results = dict(pool.map(tasks))
        assert pool.stats.killed == 1
    assert results["hang"].error_class == "timeout"
    for i in range(3):
        assert results[f"small{i}"].error is None, results[f"small{i}"]
        assert results[f"small{i}"].text


def test_pages_submitted_while_others_are_extracted_all_come_back(pool: ExtractionPool) -> None:
    """The fetch stage submits pages as the network delivers them and polls between
    arrivals: every page comes back once, a hanging one as a timeout, nothing is lost."""
    arrivals = [(f"page{i}", ARTICLE.replace(b"bridge", b"bridge %d" % i)) for i in range(6)]
    arrivals.insert(2, ("hang", HANGING))
    results: dict[str, Article] = {}
    assert not pool.busy
    for key, html in arrivals:
        pool.submit(key, html)
        for done_key, article in pool.poll(0.01):  # a short look, as between arrivals
            assert done_key not in results
            results[done_key] = article
    while pool.busy:
        for done_key, article in pool.poll(0.5):
            assert done_key not in results
            results[done_key] = article
    assert set(results) == {key for key, _ in arrivals}
    assert results["hang"].error_class == "timeout"
    for i in range(6):
        assert results[f"page{i}"].text
