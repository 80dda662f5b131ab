"""The shared Typer application and the helpers every command module uses.

Command modules (``ingest/cli/<area>.py``) register their commands on :data:`app` (or on
a sub-app defined here) when imported; :mod:`ingest.cli` imports them all.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

app = typer.Typer(
    name="newsmon",
    help="newsmon: news monitoring — feeds, extraction, stories, topics and alerts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
config_app = typer.Typer(help="Check newsmon.yaml.", no_args_is_help=True)
feeds_app = typer.Typer(help="Manage feeds and see their health.", no_args_is_help=True)
topics_app = typer.Typer(help="Topics: list and backtest queries.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alert outbox: list, preview, send.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(feeds_app, name="feeds")
app.add_typer(topics_app, name="topics")
app.add_typer(alerts_app, name="alerts")

console = Console(soft_wrap=True)


def progress_bar() -> Progress:
    """A transient bar (description, bar, done/total, elapsed) for long commands."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


err_console = Console(stderr=True, soft_wrap=True)

# Exit codes: 1 = the operation failed (network, data), 2 = operator mistake (bad
# config, bad query, bad arguments) — the same convention as Click's usage errors.
EXIT_FAILURE = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    """Print a one-paragraph error (no traceback) and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
