"""The acceptance suite of ingest.net against a hostile loopback server.

Every case ends with its error class (or a clean result) within the fetch deadline plus
one second, under 64 MB of extra memory, and without contacting forbidden addresses.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

import psutil
import pytest

from ingest.config import Settings
from ingest.net import ErrorClass, Fetcher, FetchError, FetchResult

MEMORY_BUDGET = 64 * 1024 * 1024


def measured(
    settings: Settings, action: Callable[[Fetcher], Awaitable[FetchResult]]
) -> FetchResult | FetchError:
    """Run one fetch; assert the deadline and memory bounds; return result or error."""

    async def run() -> FetchResult | FetchError:
        async with Fetcher(settings) as fetcher:
            try:
                return await action(fetcher)
            except FetchError as exc:
                return exc

    rss_before = psutil.Process().memory_info().rss
    tracemalloc.start()
    started = time.monotonic()
    try:
        outcome = asyncio.run(run())
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_delta = psutil.Process().memory_info().rss - rss_before
    assert elapsed < settings.fetch_deadline_s + 1.0, f"took {elapsed:.1f}s"
    assert peak < MEMORY_BUDGET, f"tracemalloc peak {peak / 1e6:.0f} MB"
    assert rss_delta < MEMORY_BUDGET, f"RSS grew {rss_delta / 1e6:.0f} MB"
    return outcome


def fetch_error(settings: Settings, url: str, **kwargs: Any) -> FetchError:
    outcome = measured(settings, lambda f: f.fetch(url, **kwargs))
    assert isinstance(outcome, FetchError), f"expected an error, got {outcome}"
    return outcome


@pytest.fixture(scope="module")
def bombs(hs: ModuleType) -> dict[str, bytes]:
    one_gib_gzip = hs.gzip_bomb()
    return {
        "gzip": one_gib_gzip,
        "br": hs.brotli_bomb(),
        "zstd": hs.zstd_bomb(),
        "nested": hs.gzip_of(one_gib_gzip),
    }


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.2:70/_GET%20/",
        "data:text/plain;base64,SGVsbG8=",
        "ftp://127.0.0.2/feed.xml",
        "http://user:pass@127.0.0.2/",
        "http://127.0.0.2/" + "a" * 3000,
        "javascript:alert(1)",
        "http:///nohost",
    ],
)
def test_refuses_bad_urls_before_any_io(settings: Settings, url: str) -> None:
    assert fetch_error(settings, url).error_class is ErrorClass.BAD_URL


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/",
        "http://[::1]:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://2130706433:{port}/",
        "http://0x7f.1:{port}/",
        "http://017700000001:{port}/",
        "http://127.1:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:{port}/",
        "http://[64:ff9b::7f00:1]:{port}/",
        "http://0.0.0.0:{port}/",
        "http://10.0.0.1/",
        "http://100.64.0.1/",
        "http://[fd00::1]/",
    ],
)
@pytest.mark.parametrize("status", [302, 308])
def test_redirect_to_internal_address_is_blocked(
    settings: Settings, internet: Any, secret: Any, hs: ModuleType, target: str, status: int
) -> None:
    internet.routes["/feed"] = hs.redirect(target.format(port=secret.port), status)
    error = fetch_error(settings, internet.url("/feed"))
    assert error.error_class is ErrorClass.BLOCKED
    assert not error.error_class.transient
    assert sum(secret.hits.values()) == 0


def test_host_name_resolving_to_loopback_is_blocked(settings: Settings, secret: Any) -> None:
    error = fetch_error(settings, f"http://localhost:{secret.port}/")
    assert error.error_class is ErrorClass.BLOCKED
    assert sum(secret.hits.values()) == 0


def test_allowed_network_is_fetched_and_peer_reported(
    settings: Settings, internet: Any, hs: ModuleType
) -> None:
    internet.routes["/ok"] = hs.respond(200, b"<rss/>", Content_Type="application/rss+xml")
    result = measured(settings, lambda f: f.fetch(f"feed://127.0.0.2:{internet.port}/ok"))
    assert isinstance(result, FetchResult)
    assert result.status == 200 and result.body == b"<rss/>"
    assert result.peer_ip == "127.0.0.2"


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_decompression_bombs_stop_at_the_cap(
    settings: Settings, internet: Any, hs: ModuleType, bombs: dict[str, bytes], encoding: str
) -> None:
    internet.routes["/bomb"] = hs.respond(200, bombs[encoding], Content_Encoding=encoding)
    assert fetch_error(settings, internet.url("/bomb")).error_class is ErrorClass.TOO_LARGE


def test_nested_encodings_are_refused(
    settings: Settings, internet: Any, hs: ModuleType, bombs: dict[str, bytes]
) -> None:
    internet.routes["/nested"] = hs.respond(200, bombs["nested"], Content_Encoding="gzip, gzip")
    assert fetch_error(settings, internet.url("/nested")).error_class is ErrorClass.BAD_ENCODING


def test_nested_gzip_is_decoded_one_layer_only(
    settings: Settings, internet: Any, hs: ModuleType, bombs: dict[str, bytes]
) -> None:
    internet.routes["/nested"] = hs.respond(200, bombs["nested"], Content_Encoding="gzip")
    outcome = measured(settings, lambda f: f.fetch(internet.url("/nested")))
    if isinstance(outcome, FetchResult):  # the inner layer is left compressed
        assert outcome.body[:2] == b"\x1f\x8b"
    else:
        assert outcome.error_class is ErrorClass.TOO_LARGE


def test_encoding_not_asked_for_is_refused(
    settings: Settings, internet: Any, hs: ModuleType
) -> None:
    internet.routes["/x"] = hs.respond(200, b"abc", Content_Encoding="compress")
    assert fetch_error(settings, internet.url("/x")).error_class is ErrorClass.BAD_ENCODING


def test_endless_body_is_cut_at_the_cap(settings: Settings, internet: Any, hs: ModuleType) -> None:
    internet.routes["/huge"] = hs.stream_forever()
    assert fetch_error(settings, internet.url("/huge")).error_class is ErrorClass.TOO_LARGE


def test_declared_huge_content_length_is_refused(
    settings: Settings, internet: Any, hs: ModuleType
) -> None:
    def handler(conn: Any, request: Any) -> None:
        hs.send_head(conn, 200, {"Content-Length": str(500 * 1024 * 1024)})
        conn.sendall(b"A" * 65536)

    internet.routes["/big"] = handler
    assert fetch_error(settings, internet.url("/big")).error_class is ErrorClass.TOO_LARGE


def test_one_byte_per_second_hits_the_wall_clock_deadline(
    settings: Settings, internet: Any, hs: ModuleType
) -> None:
    internet.routes["/drip"] = hs.drip(internet.stop, delay=1.0)
    assert fetch_error(settings, internet.url("/drip")).error_class is ErrorClass.TIMEOUT


def test_server_that_never_answers_times_out(
    settings: Settings, internet: Any, hs: ModuleType
) -> None:
    internet.routes["/silent"] = hs.silence(internet.stop)
    error = fetch_error(settings, internet.url("/silent"))
    assert error.error_class is ErrorClass.TIMEOUT
    assert error.error_class.transient


def test_redirect_loop(settings: Settings, internet: Any, hs: ModuleType) -> None:
    internet.routes["/a"] = hs.redirect("/b")
    internet.routes["/b"] = hs.redirect("/a")
    error = fetch_error(settings, internet.url("/a"))
    assert error.error_class is ErrorClass.TOO_MANY_REDIRECTS


def test_redirect_chain_longer_than_limit(
    settings: Settings, internet: Any, hs: ModuleType
) -> None:
    for i in range(10):
        internet.routes[f"/r{i}"] = hs.redirect(f"/r{i + 1}", 301)
    internet.routes["/r10"] = hs.respond(200, b"end")
    error = fetch_error(settings, internet.url("/r0"))
    assert error.error_class is ErrorClass.TOO_MANY_REDIRECTS
    assert internet.hits["/r6"] == 0  # max 5 redirects: /r0 … /r5 requested, no more


def test_permanent_and_temporary_redirects(
    settings: Settings, internet: Any, hs: ModuleType
) -> None:
    internet.routes["/old"] = hs.redirect("/new", 301)
    internet.routes["/moved"] = hs.redirect("/new", 308)
    internet.routes["/tmp"] = hs.redirect("/new", 302)
    internet.routes["/mixed"] = hs.redirect("/old", 307)
    internet.routes["/new"] = hs.respond(200, b"feed")

    async def run(f: Fetcher) -> FetchResult:
        results = [await f.fetch(internet.url(p)) for p in ("/old", "/moved", "/tmp", "/mixed")]
        assert [r.permanent_url for r in results] == [internet.url("/new")] * 2 + [None, None]
        assert all(r.final_url == internet.url("/new") for r in results)
        return results[0]

    assert isinstance(measured(settings, run), FetchResult)


def test_http_errors_are_classified(settings: Settings, internet: Any, hs: ModuleType) -> None:
    internet.routes["/gone"] = hs.respond(410, b"gone")
    internet.routes["/boom"] = hs.respond(500, b"boom")
    gone = fetch_error(settings, internet.url("/gone"))
    assert (gone.error_class, gone.status) == (ErrorClass.HTTP_4XX, 410)
    assert fetch_error(settings, internet.url("/boom")).error_class is ErrorClass.HTTP_5XX


def test_retry_after_is_honoured_per_host(
    settings: Settings, internet: Any, hs: ModuleType
) -> None:
    internet.routes["/busy"] = hs.respond(429, b"", Retry_After="999999")

    async def run(f: Fetcher) -> FetchResult:
        with pytest.raises(FetchError) as first:
            await f.fetch(internet.url("/busy"))
        assert first.value.retry_after_s == settings.retry_after_cap_s  # capped
        with pytest.raises(FetchError) as second:
            await f.fetch(internet.url("/other"))
        assert second.value.error_class is ErrorClass.THROTTLED
        raise first.value

    assert isinstance(measured(settings, run), FetchError)
    assert internet.hits["/other"] == 0


def test_conditional_get_sends_validators(
    settings: Settings, internet: Any, hs: ModuleType
) -> None:
    seen: dict[str, str] = {}

    def handler(conn: Any, request: Any) -> None:
        seen.update(request.headers)
        hs.send_head(conn, 304, {"ETag": '"v2"', "Content-Length": "0"})

    internet.routes["/feed"] = handler
    outcome = measured(
        settings,
        lambda f: f.fetch(internet.url("/feed"), etag='"v1"', last_modified="Mon, 01 Jan 2024"),
    )
    assert isinstance(outcome, FetchResult) and outcome.not_modified
    assert outcome.headers["etag"] == '"v2"'
    assert seen["if-none-match"] == '"v1"'
    assert seen["if-modified-since"] == "Mon, 01 Jan 2024"
    assert "newsmon" in seen["user-agent"] and settings.contact_url in seen["user-agent"]
    assert "proxy-authorization" not in seen


def test_robots_txt_is_checked_for_pages(settings: Settings, internet: Any, hs: ModuleType) -> None:
    internet.routes["/robots.txt"] = hs.respond(
        200, b"User-agent: *\nDisallow: /private\n", Content_Type="text/plain"
    )
    internet.routes["/public"] = hs.respond(200, b"<html>ok</html>")

    async def run(f: Fetcher) -> FetchResult:
        with pytest.raises(FetchError) as denied:
            await f.fetch_page(internet.url("/private/page"))
        assert denied.value.error_class is ErrorClass.ROBOTS
        page = await f.fetch_page(internet.url("/public"))
        await f.fetch_page(internet.url("/public"))
        return page

    assert isinstance(measured(settings, run), FetchResult)
    assert internet.hits["/robots.txt"] == 1  # cached per host
    assert internet.hits["/private/page"] == 0


def test_environment_proxies_are_ignored(
    settings: Settings, internet: Any, hs: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    internet.routes["/ok"] = hs.respond(200, b"direct")
    outcome = measured(settings, lambda f: f.fetch(internet.url("/ok")))
    assert isinstance(outcome, FetchResult) and outcome.body == b"direct"


@pytest.mark.parametrize("location", ["http://[::1", "javascript:alert(1)", "file:///etc/passwd"])
def test_malformed_or_foreign_redirects_are_bad_urls(
    settings: Settings, internet: Any, hs: ModuleType, location: str
) -> None:
    internet.routes["/r"] = hs.redirect(location)
    assert fetch_error(settings, internet.url("/r")).error_class is ErrorClass.BAD_URL


def test_robots_txt_fetched_once_for_concurrent_pages(
    settings: Settings, internet: Any, hs: ModuleType
) -> None:
    """Many pages of one host at once: one robots.txt request, not one per page."""
    import asyncio

    internet.routes["/robots.txt"] = hs.respond(200, b"User-agent: *\n", Content_Type="text/plain")
    for i in range(8):
        internet.routes[f"/p{i}"] = hs.respond(200, b"<html>ok</html>")

    async def run(f: Fetcher) -> list[FetchResult]:
        return await asyncio.gather(*(f.fetch_page(internet.url(f"/p{i}")) for i in range(8)))

    assert len(measured(settings, run)) == 8
    assert internet.hits["/robots.txt"] == 1
