"""End to end on real Airflow, no Docker: api-server, scheduler, dag-processor and
triggerer on PostgreSQL; the poll DAG triggered through the REST API v2; the assets run
process and alerts; the project database checked. Then the same on CeleryExecutor with
Redis and two workers. ``pytest -m e2e`` runs these alone.

The demo corpus is served on loopback by this test process; the components reach it
because NEWSMON_ALLOW_NETWORKS opts loopback in for this run.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.airflow.airflow_cluster import AirflowCluster, running
from tests.airflow.airflow_support import (
    DemoWorld,
    Outcome,
    component_env,
    create_database,
    demo_world,
    distinct_article_urls,
    drop_database,
    outcome,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(900)]

CHAIN = ["newsmon_poll", "newsmon_process", "newsmon_alerts"]
CHAIN_TIMEOUT_S = 300
REDIS_URL = "redis://127.0.0.1:6379/13"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@dataclass
class ChainResult:
    cluster: AirflowCluster
    world: DemoWorld
    outcome: Outcome
    trigger_to_success_s: float
    run_id: str


def _terminal_failure(cluster: AirflowCluster, api: httpx.Client, what: str) -> AssertionError:
    states = {d: cluster.task_states(api, d) for d in CHAIN}
    return AssertionError(
        f"{what}\ntask states: {json.dumps(states, default=str)}\n"
        f"scheduler log:\n{cluster.log_tail('scheduler')}"
    )


def run_chain(cluster: AirflowCluster, world: DemoWorld) -> ChainResult:
    """Unpause the chain, trigger newsmon_poll over REST, wait until alerts are out."""
    with cluster.client() as api:
        cluster.wait_dags(api, CHAIN)
        for dag_id in CHAIN:
            r = api.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False})
            assert r.status_code == 200, r.text
        started = time.monotonic()
        r = api.post("/api/v2/dags/newsmon_poll/dagRuns", json={"logical_date": None})
        assert r.status_code == 200, r.text
        run_id = r.json()["dag_run_id"]
        deadline = started + CHAIN_TIMEOUT_S
        while True:
            if time.monotonic() > deadline:
                raise _terminal_failure(cluster, api, f"chain not done in {CHAIN_TIMEOUT_S} s")
            cluster.check_alive()
            if _chain_done(cluster, api, world, run_id):
                elapsed = time.monotonic() - started
                break
            time.sleep(1)
    return ChainResult(cluster, world, outcome(world), elapsed, run_id)


def _chain_done(cluster: AirflowCluster, api: httpx.Client, world: DemoWorld, run_id: str) -> bool:
    mine = api.get(f"/api/v2/dags/newsmon_poll/dagRuns/{run_id}").json()
    runs: dict[str, list[dict[str, Any]]] = {d: cluster.dag_runs(api, d) for d in CHAIN}
    if any(r["state"] == "failed" for rs in runs.values() for r in rs):
        raise _terminal_failure(cluster, api, "a DAG run failed")
    if mine["state"] != "success":
        return False
    if not any(r["state"] == "success" for r in runs["newsmon_process"]):
        return False
    downstream = runs["newsmon_process"] + runs["newsmon_alerts"]
    if any(r["state"] in ("queued", "running") for r in downstream):
        return False
    got = outcome(world)
    return got.alerts > 0 and got.alerts_sent == got.alerts


@pytest.fixture(scope="module")
def local_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainResult]:
    workdir = tmp_path_factory.mktemp("e2e-local")
    meta = create_database("newsmon_af_meta")
    project = create_database("newsmon_af_project")
    try:
        with demo_world(project, workdir) as world:
            cluster = AirflowCluster(workdir / "airflow", meta, component_env(world))
            with running(cluster):
                yield run_chain(cluster, world)
    finally:
        drop_database(project)
        drop_database(meta)


def _assert_complete_and_unique(result: ChainResult) -> None:
    got = result.outcome
    assert got.entries > 0 and got.articles > 0
    assert got.stories > 0 and got.story_matches > 0
    assert got.alerts > 0
    assert got.duplicate_alerts == 0
    assert got.alerts_sent == got.alerts
    assert got.emails == got.alerts, "every alert mailed exactly once"
    total, distinct = distinct_article_urls(result.world)
    assert total == distinct
    failures = Path(result.world.env["NEWSMON_FAILURE_LOG"])
    assert not failures.exists(), failures.read_text()


def test_e2e_local_executor_chain(local_chain: ChainResult) -> None:
    _assert_complete_and_unique(local_chain)
    print(
        f"\nLocalExecutor: trigger -> chain success in {local_chain.trigger_to_success_s:.1f} s; "
        f"{local_chain.outcome}"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "e2e-local-timing.json").write_text(
        json.dumps(
            {
                "executor": "LocalExecutor",
                "trigger_to_success_s": round(local_chain.trigger_to_success_s, 1),
                "outcome": local_chain.outcome.__dict__,
            },
            indent=2,
        )
    )


def test_e2e_plugin_behind_airflow_auth(local_chain: ChainResult) -> None:
    cluster = local_chain.cluster
    anonymous = httpx.get(f"{cluster.base_url}/newsmon/stories", timeout=30)
    assert anonymous.status_code == 401
    assert httpx.get(f"{cluster.base_url}/newsmon/api/stories", timeout=30).status_code == 401
    assert httpx.get(f"{cluster.base_url}/newsmon/metrics", timeout=30).status_code == 401
    with cluster.client() as api:
        stories = api.get("/newsmon/api/stories", params={"since": "all"}).json()
        assert len(stories) == local_chain.outcome.stories
        page = api.get("/newsmon/stories", params={"since": "all"})
        assert page.status_code == 200
        assert 'href="/newsmon/stories/' in page.text
        assert "newsmon_stories " in api.get("/newsmon/metrics").text
        plugins = api.get("/api/v2/plugins").json()["plugins"]
        newsmon = next(p for p in plugins if p["name"] == "newsmon")
        assert newsmon["external_views"][0]["name"] == "News monitor"


@pytest.mark.slow
def test_e2e_celery_executor_two_workers(
    local_chain: ChainResult, tmp_path_factory: pytest.TempPathFactory
) -> None:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    workdir = tmp_path_factory.mktemp("e2e-celery")
    meta = create_database("newsmon_af_meta")
    project = create_database("newsmon_af_project")
    try:
        with demo_world(project, workdir) as world:
            cluster = AirflowCluster(
                workdir / "airflow",
                meta,
                component_env(world),
                executor="CeleryExecutor",
                celery_broker=REDIS_URL,
                celery_workers=2,
            )
            with running(cluster):
                result = run_chain(cluster, world)
                _assert_complete_and_unique(result)
                worker_tasks = {
                    name: cluster.log_tail(name, 10**7).count("Executing workload")
                    for name in ("worker1", "worker2")
                }
    finally:
        drop_database(project)
        drop_database(meta)
    # The same documents as LocalExecutor. Story counts are compared loosely: online
    # clustering depends on the order parallel fetch batches committed their articles.
    for name in ("entries", "articles"):
        assert getattr(result.outcome, name) == getattr(local_chain.outcome, name), name
    assert abs(result.outcome.stories - local_chain.outcome.stories) <= 3
    print(
        f"\nCeleryExecutor: trigger -> chain success in {result.trigger_to_success_s:.1f} s; "
        f"tasks per worker {worker_tasks}; {result.outcome}"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "e2e-celery-timing.json").write_text(
        json.dumps(
            {
                "executor": "CeleryExecutor",
                "workers": 2,
                "trigger_to_success_s": round(result.trigger_to_success_s, 1),
                "tasks_per_worker_log": worker_tasks,
                "outcome": result.outcome.__dict__,
            },
            indent=2,
        )
    )


CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium driven by selenium with the Debian chromedriver (never
    Selenium Manager: it would try to download a driver)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        message = "needs the Debian packages chromium and chromium-driver"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{message} (.ci/run installs them)")  # CI never skips
        pytest.skip(message)
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.mark.browser
def test_browser_news_monitor_in_the_airflow_ui(local_chain: ChainResult, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    cluster = local_chain.cluster
    wait = WebDriverWait(browser, 60)
    ARTIFACTS.mkdir(exist_ok=True)

    # Without a session the plugin's pages answer 401.
    browser.get(f"{cluster.base_url}/newsmon/stories")
    assert "Not authenticated" in browser.page_source

    # Log in to the Airflow UI with the simple auth manager's form.
    browser.get(f"{cluster.base_url}/")
    wait.until(ec.presence_of_element_located((By.NAME, "username"))).send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys(cluster.password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    # "News monitor" in the navigation opens the pages inside the UI (an iframe).
    wait.until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, "a[aria-label='News monitor']"))
    ).click()
    frame = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "iframe")))
    assert frame.get_attribute("src").endswith("/newsmon/stories")
    browser.switch_to.frame(frame)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "main h1")))
    # The demo corpus is dated in the past: the empty recent window links to all.
    if browser.find_elements(By.ID, "show-all"):
        browser.find_element(By.ID, "show-all").click()
    rows = wait.until(
        ec.presence_of_all_elements_located((By.CSS_SELECTOR, "table#stories tbody tr"))
    )
    assert len(rows) == local_chain.outcome.stories
    headlines = [r.find_element(By.CSS_SELECTOR, "td a").text for r in rows]
    assert all(headlines)
    browser.switch_to.default_content()
    browser.save_screenshot(str(ARTIFACTS / "airflow-news-monitor-stories.png"))

    # A story with topic matches: its timeline and why it matched.
    browser.switch_to.frame(frame)
    matched = next(r for r in rows if r.find_elements(By.CSS_SELECTOR, "td:nth-child(2) a.badge"))
    matched.find_element(By.CSS_SELECTOR, "td a").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "table#articles")))
    assert browser.find_elements(By.CSS_SELECTOR, ".why mark, .why code")
    assert browser.find_elements(By.CSS_SELECTOR, "svg circle")
    browser.switch_to.default_content()
    browser.save_screenshot(str(ARTIFACTS / "airflow-news-monitor-story.png"))
