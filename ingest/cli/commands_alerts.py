"""``newsmon alerts``: list the outbox, preview a subscription, send due alerts."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from ingest.cli._app import EXIT_USAGE, alerts_app, console, fail
from ingest.cli.commands_core import DbOption, JsonFlag, _db_error, database_url
from ingest.pipeline.alerts import preview_subscription, release_digests, send_due_alerts
from ingest.store import alerts_repo
from ingest.store.db import transaction

STATUSES = ("pending", "held", "digested", "sending", "sent", "dead")


@alerts_app.command("list")
def alerts_list(
    status: Annotated[
        str | None,
        typer.Option("--status", help=f"Only rows in this state ({', '.join(STATUSES)})."),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows (newest first).")] = 200,
    db: DbOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Outbox rows with their delivery state (JSON Lines with --json)."""
    if status is not None and status not in STATUSES:
        fail(f"unknown status {status!r}; use one of {', '.join(STATUSES)}", EXIT_USAGE)
    url = database_url(db)
    try:
        with transaction(url) as session:
            rows = alerts_repo.list_outbox(session, status=status, limit=max(1, limit))
    except SQLAlchemyError as exc:
        fail(_db_error(exc, url) + " (run `newsmon db upgrade` first?)")
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row.as_dict()))
        return
    table = Table("id", "story", "subscription", "kind", "status", "due (UTC)", "tries", "detail")
    for r in rows:
        detail = r.last_error or r.provider_id or ""
        table.add_row(
            str(r.id),
            str(r.story_id),
            r.subscription,
            r.kind,
            r.status,
            f"{r.due_at:%Y-%m-%d %H:%M}",
            str(r.attempts),
            detail[:80],
        )
    console.print(table)


@alerts_app.command("send")
def alerts_send(
    limit: Annotated[int, typer.Option(help="Send at most this many alerts.")] = 100,
    db: DbOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Release due digests, then send due alerts (safe to run from several places)."""
    url = database_url(db)
    try:
        digests = release_digests(url)
        summary = send_due_alerts(url, limit=max(1, limit))
    except SQLAlchemyError as exc:
        fail(_db_error(exc, url) + " (run `newsmon db upgrade` first?)")
    if as_json:
        typer.echo(json.dumps({"digests": digests, **summary.as_dict()}))
        return
    console.print(
        f"{digests} digests released; {summary.claimed} claimed, {summary.sent} sent, "
        f"{summary.retried} to retry, {summary.dead} dead",
        highlight=False,
    )


@alerts_app.command("preview")
def alerts_preview(
    subscription: Annotated[str, typer.Argument(help="Subscription name from newsmon.yaml.")],
    fmt: Annotated[
        str, typer.Option("--format", help="auto (the channel's own), text, html, slack or json.")
    ] = "auto",
    db: DbOption = None,
) -> None:
    """Render what SUBSCRIPTION would be sent now, without sending anything."""
    if fmt not in ("auto", "text", "html", "slack", "json"):
        fail(f"unknown format {fmt!r}; use auto, text, html, slack or json", EXIT_USAGE)
    url = database_url(db)
    try:
        previews = preview_subscription(url, subscription)
    except LookupError as exc:
        fail(str(exc).strip("'\""), EXIT_USAGE)
    except SQLAlchemyError as exc:
        fail(_db_error(exc, url) + " (run `newsmon db upgrade` first?)")
    if not previews:
        typer.echo(f"nothing queued for {subscription}")
        return
    for preview in previews:
        chosen = fmt
        if chosen == "auto":
            chosen = {"email": "text", "slack": "slack", "webhook": "json"}.get(
                preview.channel, "text"
            )
        typer.echo(f"=== {preview.label} -> {preview.channel} {preview.target}")
        alert = preview.alert
        if chosen == "text":
            typer.echo(f"Subject: {alert.subject}\n\n{alert.text}")
        elif chosen == "html":
            typer.echo(alert.html)
        elif chosen == "slack":
            typer.echo(json.dumps(alert.slack, indent=2, ensure_ascii=False))
        else:
            typer.echo(json.dumps(alert.json, indent=2, ensure_ascii=False))
