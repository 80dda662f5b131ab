"""``newsmon demo``: the pipeline on the bundled offline corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ingest.cli._app import app, console, fail
from ingest.cli.commands_core import DbOption


@app.command("demo")
def demo(
    db: DbOption = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Where the demo database, mailbox and report go.")
    ] = None,
    port: Annotated[int, typer.Option(help="Port of the loopback news sites.")] = 48080,
) -> None:
    """Run the whole pipeline on the bundled offline corpus (SQLite unless --db)."""
    from ingest.demo.run import run_demo

    def show(stage: str, data: dict[str, Any]) -> None:
        shown = ", ".join(f"{k}={v}" for k, v in data.items() if v not in (0, {}, [], None))
        console.print(f"[bold green]✓[/] {stage:<8} {shown or 'nothing new'}", highlight=False)

    from ingest.demo.corpus import load_corpus

    outlets = len(load_corpus().outlets)
    console.print(
        f"newsmon demo: serving {outlets} fictional outlets on loopback…", highlight=False
    )
    try:
        with console.status("running the pipeline…"):
            result = run_demo(db, workdir, port, on_stage=show)
    except OSError as exc:
        fail(f"could not start the demo servers on port {port}: {exc} (try --port)")
    table = Table("story", "articles", "outlets", "topics", "alerts", title="Stories")
    for s in result.stories:
        alerts = ", ".join(f"{n} {k}" for k, n in sorted(s.alerts.items())) or "—"
        table.add_row(
            s.headline,
            str(s.article_count),
            f"{s.source_count}: " + ", ".join(s.sources),
            ", ".join(s.topics) or "—",
            alerts,
        )
    console.print(table)
    counts = ", ".join(f"{n} {k}" for k, n in result.counts.items())
    console.print(f"database: {result.db_url} ({counts})", highlight=False)
    console.print(f"alert emails: {result.emails} in {result.mailbox}", highlight=False)
    console.print(f"HTML report: {result.report.resolve()}", highlight=False)
