"""Network and polling commands: ``newsmon fetch``, ``newsmon poll``, ``newsmon feeds health``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from ingest.cli._app import EXIT_FAILURE, EXIT_USAGE, app, console, fail, feeds_app
from ingest.cli.commands_core import DbOption, JsonFlag, _db_error, database_url
from ingest.config import get_settings
from ingest.net import FetchError, fetch_url
from ingest.store import feeds_repo
from ingest.store.db import transaction


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    delta = (value - datetime.now(UTC)).total_seconds()
    minutes = abs(delta) / 60
    span = f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
    return f"in {span}" if delta > 0 else f"{span} ago"


@app.command("fetch")
def fetch(
    url: Annotated[str, typer.Argument(help="URL to fetch through newsmon's network layer.")],
    as_json: JsonFlag = False,
    max_bytes: Annotated[
        int | None, typer.Option("--max-bytes", help="Decoded size cap (default: feed cap).")
    ] = None,
    deadline: Annotated[
        float | None, typer.Option("--deadline", help="Wall-clock seconds for the whole fetch.")
    ] = None,
) -> None:
    """Show what newsmon would get from URL: status, final URL, bytes, headers — or the
    error class and reason (SSRF guard, caps and deadline applied). Exits 1 on failure."""
    settings = get_settings()
    report: dict[str, Any] = {"url": url}
    try:
        result = fetch_url(url, settings, max_bytes=max_bytes, deadline_s=deadline)
    except ValueError as exc:  # operator mistake, e.g. a bad NEWSMON_ALLOW_NETWORKS
        fail(str(exc), EXIT_USAGE)
    except FetchError as exc:
        report.update(
            ok=False,
            status=exc.status,
            final_url=exc.url or None,
            bytes=0,
            error_class=exc.error_class.value,
            error=exc.reason,
            retry_after_s=exc.retry_after_s,
        )
    else:
        report.update(
            ok=True,
            status=result.status,
            final_url=result.final_url,
            bytes=len(result.body),
            error_class=None,
            error=None,
            elapsed_s=round(result.elapsed_s, 3),
            peer_ip=result.peer_ip,
            redirects=[list(r) for r in result.redirects],
            permanent_url=result.permanent_url,
            headers=result.headers,
        )
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
    elif report["ok"]:
        console.print(f"[bold green]{report['status']}[/] {report['final_url']}", highlight=False)
        for status, location in result.redirects:
            console.print(f"  via {status} → {location}", highlight=False)
        console.print(
            f"{report['bytes']} bytes in {report['elapsed_s']} s from {report['peer_ip']}",
            highlight=False,
        )
        for name, value in result.headers.items():
            console.print(f"  [dim]{name}:[/] {value}", highlight=False)
    else:
        console.print(
            f"[bold red]{report['error_class']}[/]: {report['error']}"
            + (f" (HTTP {report['status']})" if report["status"] else ""),
            highlight=False,
        )
    if not report["ok"]:
        raise typer.Exit(EXIT_FAILURE)


@app.command("poll")
def poll(db: DbOption = None, as_json: JsonFlag = False) -> None:
    """Poll every feed that is due, once, and print a summary."""
    from ingest.pipeline.poll import poll_due

    db_url = database_url(db)
    settings = get_settings()
    try:
        if as_json:
            summary = poll_due(db_url, settings)
        else:
            columns = (
                TextColumn("polling"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, console=console, transient=True) as bar:
                task = bar.add_task("poll", total=None)

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                summary = poll_due(db_url, settings, progress)
    except SQLAlchemyError as exc:
        fail(_db_error(exc, db_url) + " (run `newsmon db upgrade` first?)")
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    if as_json:
        typer.echo(json.dumps(summary.as_dict()))
        return
    console.print(
        f"polled [bold]{summary.feeds}[/] feeds in {summary.elapsed_s:.1f} s: "
        f"{summary.ok} ok ({summary.not_modified} not modified, {summary.unchanged} unchanged), "
        f"{summary.failed} failed, [bold]{summary.new_items}[/] new items"
        + (f", {summary.disabled} disabled" if summary.disabled else ""),
        highlight=False,
    )
    for cls, n in sorted(summary.errors.items(), key=lambda kv: -kv[1]):
        console.print(f"  {cls}: {n}", highlight=False)


@feeds_app.command("health")
def feeds_health(db: DbOption = None, as_json: JsonFlag = False) -> None:
    """Each feed's state, last fetch, last error, next poll and items per day."""
    db_url = database_url(db)
    try:
        with transaction(db_url) as session:
            rows = feeds_repo.feed_health(session)
    except SQLAlchemyError as exc:
        fail(_db_error(exc, db_url) + " (run `newsmon db upgrade` first?)")
    if as_json:
        for row in rows:
            typer.echo(
                json.dumps(
                    {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
                )
            )
        return
    colours = {"healthy": "green", "degraded": "yellow", "failing": "red", "disabled": "dim"}
    table = Table("id", "url", "state", "last fetch", "error", "next poll", "items/day")
    for row in rows:
        state = row["state"]
        error = row["disabled_reason"] if state == "disabled" else None
        if error is None and row["error_class"]:
            error = f"{row['error_class']}: {row['error'] or ''}"
        table.add_row(
            str(row["id"]),
            row["url"],
            f"[{colours.get(state, 'white')}]{state}[/]",
            _when(row["last_fetch_at"]),
            (error or "")[:80],
            "—" if state == "disabled" else _when(row["next_poll_at"]),
            f"{row['items_per_day']:g}",
        )
    console.print(table)
