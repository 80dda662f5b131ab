"""The newsmon web app: Stories, Feeds, Alerts and Topics pages, their JSON API, metrics.

One FastAPI app serves two deployments:

- inside Airflow, mounted at ``/newsmon`` by ``plugins/newsmon_plugin.py``, which passes
  Airflow's ``requires_authenticated()`` as a dependency (Airflow does not protect
  plugin apps by itself);
- alone, with ``newsmon serve``, which passes the HTTP Basic check of
  :mod:`ingest.web.auth`.

The app only reads (:func:`ingest.store.queries.read_session`). Pages are server-side
HTML with inline SVG charts: no JavaScript, nothing loaded from the network, every
feed-derived string escaped by Jinja's autoescape, links only for http(s) URLs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingest.store import queries
from ingest.web import render
from ingest.web.metrics import CONTENT_TYPE, metrics_registry, render_metrics

TEMPLATES_DIR = Path(__file__).with_name("templates")
Clock = Callable[[], datetime]

# No scripts at all; inline <style> and SVG only; framable by the same origin (Airflow).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,  # every template, whatever its extension
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["time"] = render.format_time
    env.filters["safe_href"] = render.safe_href
    env.globals["bar_chart"] = render.bar_chart
    env.globals["timeline"] = render.timeline
    env.globals["snippet_segments"] = render.snippet_segments
    env.globals["hit_terms"] = render.hit_terms
    return env


def _resolver(db_url: str | Callable[[], str]) -> Callable[[], str]:
    if callable(db_url):
        return functools.cache(db_url)
    return lambda: db_url


def create_app(
    db_url: str | Callable[[], str],
    *,
    dependencies: Sequence[Any] = (),
    clock: Clock | None = None,
    title: str = "News monitor",
) -> FastAPI:
    """Build the app. ``db_url`` may be a callable, resolved on first use (the Airflow
    plugin reads a Connection, which needs Airflow's configuration loaded).
    ``dependencies``: ``fastapi.Depends(...)`` objects applied to every route (login)."""
    database_url = _resolver(db_url)
    now: Clock = clock or (lambda: datetime.now(UTC))
    templates = Jinja2Templates(env=_environment())
    registry = metrics_registry(database_url)
    app = FastAPI(
        title=title,
        dependencies=list(dependencies),
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(render.FilterError)
    async def bad_filter(request: Request, exc: render.FilterError) -> Response:
        return _error(request, 400, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _wants_json(request) or exc.status_code in (401, 403):
            return await http_exception_handler(request, exc)
        response = _error(request, exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(SQLAlchemyError)
    async def database_down(request: Request, exc: SQLAlchemyError) -> Response:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return _error(
            request,
            503,
            f"the database is not usable ({first[:200]}); "
            "is it reachable and migrated (`newsmon db upgrade`)?",
        )

    def _error(request: Request, code: int, message: str) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=code)
        return page(request, "error.html", "", status_code=code, message=message)

    def page(
        request: Request, name: str, nav: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        current = now()
        base = str(request.scope.get("root_path", "")).rstrip("/")
        context.update(
            base=base,
            nav=nav,
            now=current,
            ago=lambda t: render.format_ago(t, current),
            title=title,
        )
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    # ------------------------------------------------------------------ pages

    @app.get("/", include_in_schema=False)
    def index(request: Request) -> RedirectResponse:
        base = str(request.scope.get("root_path", "")).rstrip("/")
        return RedirectResponse(f"{base}/stories", status_code=303)

    @app.get("/stories", response_class=HTMLResponse)
    def stories_page(
        request: Request,
        topic: str | None = None,
        since: str | None = "7d",
        until: str | None = None,
        limit: int = Query(100, ge=1, le=queries.MAX_PAGE),
    ) -> HTMLResponse:
        stories = _stories(topic, since, until, limit)
        with queries.read_session(database_url()) as session:
            topics = queries.topic_names(session)
            # An empty window says how many stories exist outside it (a quiet week
            # must not look like an empty database).
            total = 0 if stories else queries.count_stories(session, topic=topic or None)
        return page(
            request,
            "stories.html",
            "stories",
            stories=stories,
            topics=topics,
            topic=topic or "",
            since=since or "all",
            until=until or "",
            since_choices=["24h", "7d", "30d", "all"],
            total=total,
        )

    @app.get("/stories/{story_id}", response_class=HTMLResponse)
    def story_page(request: Request, story_id: int) -> HTMLResponse:
        detail = _story(story_id)
        items = [(a.article_id, a.source, a.at, a.title or a.url, a.role) for a in detail.articles]
        return page(
            request, "story.html", "stories", detail=detail, timeline=render.timeline(items)
        )

    @app.get("/feeds", response_class=HTMLResponse)
    def feeds_page(request: Request, days: int = Query(14, ge=1, le=90)) -> HTMLResponse:
        with queries.read_session(database_url()) as session:
            feeds = queries.feeds_health(session, days=days, now=now())
        counts: dict[str, int] = {}
        for f in feeds:
            counts[f.health] = counts.get(f.health, 0) + 1
        return page(request, "feeds.html", "feeds", feeds=feeds, counts=counts, days=days)

    @app.get("/alerts", response_class=HTMLResponse)
    def alerts_page(
        request: Request, status: str | None = None, limit: int = Query(100, ge=1, le=500)
    ) -> HTMLResponse:
        with queries.read_session(database_url()) as session:
            counts = queries.alert_state_counts(session)
            failures = queries.list_alerts(session, failed_only=True, limit=50)
            rows = queries.list_alerts(session, status=status or None, limit=limit)
        return page(
            request,
            "alerts.html",
            "alerts",
            counts=counts,
            failures=failures,
            rows=rows,
            status=status or "",
        )

    @app.get("/topics", response_class=HTMLResponse)
    def topics_page(request: Request, days: int = Query(14, ge=1, le=90)) -> HTMLResponse:
        with queries.read_session(database_url()) as session:
            topics = queries.topic_match_counts(session, days=days, now=now())
            coverage = queries.topic_source_coverage(session, now=now())
        return page(
            request,
            "topics.html",
            "topics",
            topics=topics,
            coverage={c.topic: c for c in coverage},
            days=days,
        )

    # ------------------------------------------------------------------ JSON API

    @app.get("/api/stories")
    def api_stories(
        topic: str | None = None,
        since: str | None = "7d",
        until: str | None = None,
        limit: int = Query(100, ge=1, le=queries.MAX_PAGE),
    ) -> Any:
        return queries.as_json(_stories(topic, since, until, limit))

    @app.get("/api/stories/{story_id}")
    def api_story(story_id: int) -> Any:
        return queries.as_json(_story(story_id))

    @app.get("/api/feeds")
    def api_feeds(days: int = Query(14, ge=1, le=90)) -> Any:
        with queries.read_session(database_url()) as session:
            return queries.as_json(queries.feeds_health(session, days=days, now=now()))

    @app.get("/api/alerts")
    def api_alerts(
        status: str | None = None,
        failed: bool = False,
        limit: int = Query(100, ge=1, le=500),
    ) -> Any:
        with queries.read_session(database_url()) as session:
            return {
                "counts": queries.alert_state_counts(session),
                "alerts": queries.as_json(
                    queries.list_alerts(session, status=status, failed_only=failed, limit=limit)
                ),
            }

    @app.get("/api/topics")
    def api_topics(days: int = Query(14, ge=1, le=90)) -> Any:
        with queries.read_session(database_url()) as session:
            return queries.as_json(queries.topic_match_counts(session, days=days, now=now()))

    @app.get("/api/topics/coverage")
    def api_topic_coverage(days: int = Query(30, ge=1, le=365)) -> Any:
        with queries.read_session(database_url()) as session:
            coverage = queries.topic_source_coverage(session, days=days, now=now())
        return [
            {
                **queries.as_json(c),
                "broken_sources": [f.url for f in c.broken_sources],
                "all_sources_broken": c.all_sources_broken,
            }
            for c in coverage
        ]

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(render_metrics(registry), media_type=CONTENT_TYPE)

    # ------------------------------------------------------------------ shared

    def _stories(
        topic: str | None, since: str | None, until: str | None, limit: int
    ) -> list[queries.StorySummary]:
        current = now()
        start = render.parse_since(since, current)
        end = render.parse_until(until)
        with queries.read_session(database_url()) as session:
            return queries.list_stories(
                session, topic=topic or None, since=start, until=end, limit=limit
            )

    def _story(story_id: int) -> queries.StoryDetail:
        with queries.read_session(database_url()) as session:
            detail = queries.story_detail(session, story_id)
        if detail is None:
            raise HTTPException(status_code=404, detail=f"no story {story_id}")
        return detail

    return app


def _wants_json(request: Request) -> bool:
    path = request.scope.get("path", "")
    root = str(request.scope.get("root_path", ""))
    relative = path[len(root) :] if root and path.startswith(root) else path
    return relative.startswith("/api/") or "application/json" in request.headers.get("accept", "")
