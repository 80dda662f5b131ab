"""Core commands: database schema, config checks, feed management."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from ingest.cli._app import EXIT_USAGE, app, config_app, console, db_app, fail, feeds_app
from ingest.config import ConfigError, FeedConfig, get_settings, load_config, load_opml
from ingest.store import catalog
from ingest.store.db import DatabaseError, current_revision, transaction, upgrade

ConfigPath = Annotated[
    Path | None,
    typer.Argument(help="Path to newsmon.yaml (default: $NEWSMON_CONFIG_PATH or ./newsmon.yaml)."),
]
DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: $NEWSMON_DATABASE_URL or .newsmon/)."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def database_url(db: str | None = None) -> str:
    return db or get_settings().effective_database_url


def _db_error(exc: Exception, url: str) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"database {url!r} is not usable: {first}"


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create or migrate the schema to the latest version (safe to run again)."""
    url = database_url(db)
    try:
        upgrade(url)
        revision = current_revision(url)
    except (OperationalError, SQLAlchemyError, DatabaseError) as exc:
        fail(_db_error(exc, url))
    console.print(f"database at revision [bold]{revision}[/] ({url})", highlight=False)


@config_app.command("check")
def config_check(path: ConfigPath = None) -> None:
    """Validate newsmon.yaml: exit 0 when valid, 2 with file:line: field: problem when not."""
    cfg_path = path or get_settings().config_path
    try:
        cfg = load_config(cfg_path)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    console.print(
        f"{cfg_path}: ok — {len(cfg.feeds)} feeds, {len(cfg.topics)} topics, "
        f"{len(cfg.subscriptions)} subscriptions",
        highlight=False,
    )


@config_app.command("apply")
def config_apply(path: ConfigPath = None, db: DbOption = None) -> None:
    """Load newsmon.yaml into the database (feeds, topics, subscriptions; idempotent)."""
    cfg_path = path or get_settings().config_path
    try:
        cfg = load_config(cfg_path)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    url = database_url(db)
    try:
        with transaction(url) as session:
            summary = catalog.sync_config(session, cfg)
    except SQLAlchemyError as exc:
        fail(_db_error(exc, url) + " (run `newsmon db upgrade` first?)")
    console.print(
        f"applied {cfg_path}: {summary.feeds} feeds, {summary.topics} topics, "
        f"{summary.subscriptions} subscriptions",
        highlight=False,
    )


@feeds_app.command("add")
def feeds_add(
    url: Annotated[str, typer.Argument(help="Feed URL (http or https).")],
    title: Annotated[str | None, typer.Option(help="Display title.")] = None,
    source: Annotated[str | None, typer.Option(help="Outlet domain (default: URL host).")] = None,
    interval: Annotated[str | None, typer.Option(help="Polling interval, e.g. 30m.")] = None,
    db: DbOption = None,
) -> None:
    """Add a feed to poll."""
    try:
        feed = FeedConfig.model_validate(
            {"url": url, "title": title, "source": source, "interval": interval}
        )
    except ValueError as exc:
        message = "; ".join(
            e["msg"].removeprefix("Value error, ")
            for e in exc.errors()  # type: ignore[attr-defined]
        )
        fail(message, EXIT_USAGE)
    db_url = database_url(db)
    try:
        with transaction(db_url) as session:
            added = catalog.add_feeds(session, [feed])
    except SQLAlchemyError as exc:
        fail(_db_error(exc, db_url) + " (run `newsmon db upgrade` first?)")
    console.print(f"added {feed.url}" if added else f"{feed.url} is already there", highlight=False)


@feeds_app.command("list")
def feeds_list(db: DbOption = None, as_json: JsonFlag = False) -> None:
    """List feeds with their health and entry counts."""
    db_url = database_url(db)
    try:
        with transaction(db_url) as session:
            rows = catalog.list_feeds(session)
    except SQLAlchemyError as exc:
        fail(_db_error(exc, db_url) + " (run `newsmon db upgrade` first?)")
    if as_json:
        for r in rows:
            typer.echo(json.dumps(r.__dict__))
        return
    table = Table("id", "url", "source", "health", "interval", "entries")
    for r in rows:
        health = r.health if r.enabled else "disabled"
        table.add_row(
            str(r.id), r.url, r.source, health, f"{r.interval_s // 60} min", str(r.entries)
        )
    console.print(table)


@feeds_app.command("remove")
def feeds_remove(
    feed: Annotated[str, typer.Argument(help="Feed URL or id.")], db: DbOption = None
) -> None:
    """Remove a feed, its entries and its fetch log."""
    db_url = database_url(db)
    try:
        with transaction(db_url) as session:
            removed = catalog.remove_feed(session, feed)
    except SQLAlchemyError as exc:
        fail(_db_error(exc, db_url))
    if not removed:
        fail(f"no feed {feed!r} (see `newsmon feeds list`)")
    console.print(f"removed {feed}", highlight=False)


@feeds_app.command("import-opml")
def feeds_import_opml(
    path: Annotated[Path, typer.Argument(help="OPML file exported from a feed reader.")],
    db: DbOption = None,
) -> None:
    """Add every feed of an OPML file (feeds already there are left as they are)."""
    try:
        feeds = load_opml(path)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    db_url = database_url(db)
    try:
        with transaction(db_url) as session:
            added = catalog.add_feeds(session, feeds)
    except SQLAlchemyError as exc:
        fail(_db_error(exc, db_url) + " (run `newsmon db upgrade` first?)")
    console.print(f"{len(feeds)} feeds in {path}, {added} new", highlight=False)


@app.command("version")
def version() -> None:
    """Print the newsmon version."""
    from importlib.metadata import version as dist_version

    typer.echo(dist_version("newsmon"))
