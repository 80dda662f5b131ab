"""``newsmon serve``: the web pages alone, for analysts without Airflow access."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from ingest.cli._app import EXIT_USAGE, app, err_console, fail
from ingest.cli.commands_core import DbOption, database_url


@app.command("serve")
def serve(
    host: Annotated[
        str, typer.Option(help="Address to bind. Anything but loopback needs a password.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8765,
    db: DbOption = None,
) -> None:
    """Serve the Stories, Feeds, Alerts and Topics pages, the JSON API and /metrics.

    Login: HTTP Basic with user $NEWSMON_WEB_USER (default 'newsmon') and password
    $NEWSMON_WEB_PASSWORD (never on the command line, where `ps` shows it). Without a
    password the server only binds to a loopback address.
    """
    import uvicorn
    from fastapi import Depends

    from ingest.web import create_app
    from ingest.web.auth import DEFAULT_USER, BindPolicyError, basic_auth_dependency, check_bind

    password = os.environ.get("NEWSMON_WEB_PASSWORD") or None
    user = os.environ.get("NEWSMON_WEB_USER") or DEFAULT_USER
    try:
        check_bind(host, password)
    except BindPolicyError as exc:
        fail(str(exc), EXIT_USAGE)
    dependencies = [Depends(basic_auth_dependency(user, password))] if password else []
    if not password:
        err_console.print(
            f"[yellow]warning:[/] no NEWSMON_WEB_PASSWORD: anyone on this machine can read "
            f"the pages at http://{host}:{port}/",
            highlight=False,
        )
    web_app = create_app(database_url(db), dependencies=dependencies)
    uvicorn.run(web_app, host=host, port=port, log_level="info", server_header=False)
