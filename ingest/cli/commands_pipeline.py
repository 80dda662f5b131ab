"""Pipeline commands: run the stages, batch tools (extract, match), backtests."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from ingest.cli._app import EXIT_USAGE, app, console, fail, progress_bar, topics_app
from ingest.cli.commands_core import DbOption, database_url
from ingest.config import ConfigError, TopicConfig, get_settings, load_config, load_topics_file
from ingest.store.types import utcnow

_SINCE = re.compile(r"^(\d+)\s*([hdw])$")


def parse_since(value: str) -> timedelta:
    """``"30d"``, ``"12h"``, ``"2w"`` -> a timedelta (operator input: clear errors)."""
    match = _SINCE.match(value.strip())
    if not match:
        fail(f"--since expects a span like 12h, 30d or 2w, got {value!r}", EXIT_USAGE)
    number, unit = int(match.group(1)), match.group(2)
    return timedelta(hours=number * {"h": 1, "d": 24, "w": 168}[unit])


@app.command("run")
def run(
    config: Annotated[
        Path | None, typer.Option(help="newsmon.yaml to apply first (default: none).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Run every stage once: poll, fetch+extract, cluster, tag, alerts."""
    from ingest.pipeline.run import run_once, sync_config
    from ingest.store.db import upgrade

    url = database_url(db)
    try:
        upgrade(url)
        if config is not None:
            sync_config(url, config)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    except SQLAlchemyError as exc:
        fail(f"database {url!r} is not usable: {str(exc).splitlines()[0]}")

    def show(stage: str, data: dict[str, Any]) -> None:
        shown = ", ".join(f"{k}={v}" for k, v in data.items() if v not in (0, {}, [], None))
        console.print(f"[bold]{stage:>8}[/] {shown or 'nothing to do'}", highlight=False)

    run_once(url, on_stage=show)


@app.command("extract")
def extract(
    target: Annotated[
        str | None, typer.Argument(help="One page: a file (.html/.html.gz) or an http(s) URL.")
    ] = None,
    input_dir: Annotated[
        Path | None, typer.Option("--input-dir", help="Directory of *.html / *.html.gz.")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", help="JSON Lines output.")] = None,
    workers: Annotated[int, typer.Option(help="Extraction worker processes.")] = 2,
) -> None:
    """Extract article text and metadata: one page, or a directory into JSON Lines."""
    from ingest.extract.batch import extract_directory, extract_file

    if input_dir is not None:
        if output is None:
            fail("--input-dir needs --output OUT.jsonl", EXIT_USAGE)
        if workers < 1:
            fail("--workers must be at least 1", EXIT_USAGE)
        if not input_dir.is_dir():
            fail(f"input directory not found: {input_dir}", EXIT_USAGE)
        with progress_bar() as progress:
            task = progress.add_task("extracting", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            summary = extract_directory(input_dir, output, workers, advance)
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(summary.errors.items())) or "none"
        console.print(
            f"{summary.total} pages, {summary.extracted} with text, errors: {errors} -> {output}",
            highlight=False,
        )
        return
    if target is None:
        fail("give a FILE or URL, or --input-dir DIR --output OUT.jsonl", EXIT_USAGE)
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", target):
        record = _extract_url(target)
    else:
        path = Path(target)
        if not path.is_file():
            fail(f"no such file: {target}", EXIT_USAGE)
        record = extract_file(path)
    typer.echo(json.dumps(record, ensure_ascii=False, indent=2))
    if record.get("error"):
        raise typer.Exit(1)


def _extract_url(url: str) -> dict[str, Any]:
    from ingest.extract import ExtractionPool, ExtractionTask
    from ingest.extract.batch import article_record
    from ingest.net import FetchError, fetch_page

    try:
        page = fetch_page(url)
    except FetchError as exc:
        return {"id": url, "error": str(exc)}
    with ExtractionPool(1) as pool:
        article = pool.map_one(
            ExtractionTask(
                key=url,
                html=page.body,
                url=page.final_url,
                content_type=page.headers.get("content-type"),
            )
        )
    return article_record(url, article)


def _topics_from(topics_file: Path | None, query: str | None) -> list[Any]:
    from ingest.topics import QueryError, Topic, parse_query

    if (topics_file is None) == (query is None):
        fail("give exactly one of --topics FILE or --query Q", EXIT_USAGE)
    if query is not None:
        try:
            parse_query(query)
        except QueryError as exc:
            fail(f"bad query: {exc}", EXIT_USAGE)
        return [Topic("query", query)]
    assert topics_file is not None
    try:
        configs: tuple[TopicConfig, ...] = load_topics_file(topics_file)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    return [Topic(t.name, t.query, t.description, t.sources, t.languages) for t in configs]


@app.command("match")
def match(
    input_path: Annotated[Path, typer.Option("--input", help="DOCS.jsonl to match.")],
    output: Annotated[Path, typer.Option("--output", help="OUT.jsonl: one line per match.")],
    topics_file: Annotated[
        Path | None, typer.Option("--topics", help="newsmon.yaml or a topics file.")
    ] = None,
    query: Annotated[str | None, typer.Option("--query", help="One query instead.")] = None,
) -> None:
    """Match documents against topics: {"id","topic","hits"} per match."""
    from ingest.topics.batch import BatchInputError, match_jsonl

    topics = _topics_from(topics_file, query)
    if not input_path.is_file():
        fail(f"no such input file: {input_path}", EXIT_USAGE)
    try:
        written = match_jsonl(topics, input_path, output)
    except BatchInputError as exc:
        fail(f"{input_path}: {exc}", EXIT_USAGE)
    console.print(f"{written} matches -> {output}", highlight=False)


@topics_app.command("list")
def topics_list(
    config: Annotated[Path | None, typer.Option(help="newsmon.yaml (default: settings).")] = None,
) -> None:
    """List configured topics and their queries."""
    try:
        cfg = load_config(config or get_settings().config_path)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    table = Table("topic", "query", "description")
    for t in cfg.topics:
        table.add_row(t.name, t.query, t.description)
    console.print(table)


@topics_app.command("test")
def topics_test(
    name: Annotated[str | None, typer.Argument(help="A configured topic's name.")] = None,
    query: Annotated[str | None, typer.Option("--query", help="Try a query instead.")] = None,
    since: Annotated[str, typer.Option(help="How far back: 12h, 30d, 2w.")] = "30d",
    config: Annotated[Path | None, typer.Option(help="newsmon.yaml (default: settings).")] = None,
    sample: Annotated[int, typer.Option(help="How many highlighted matches to show.")] = 5,
    db: DbOption = None,
) -> None:
    """Backtest a topic on stored articles before turning alerts on.

    Prints matches per day, a sample with highlighted hits, and how many stories match.
    """
    from ingest.store import topics_repo
    from ingest.store.db import transaction
    from ingest.topics import Document, Topic, TopicMatcher

    if (name is None) == (query is None):
        fail("give a topic NAME or --query Q (not both)", EXIT_USAGE)
    if name is not None:
        try:
            cfg = load_config(config or get_settings().config_path)
        except ConfigError as exc:
            fail(str(exc), EXIT_USAGE)
        found = [t for t in cfg.topics if t.name == name]
        if not found:
            names = ", ".join(t.name for t in cfg.topics) or "none"
            fail(f"no topic named {name!r} (configured: {names})", EXIT_USAGE)
        topic = Topic(found[0].name, found[0].query, "", found[0].sources, found[0].languages)
    else:
        topic = _topics_from(None, query)[0]
    span = parse_since(since)
    url = database_url(db)
    matcher = TopicMatcher([topic])
    per_day: Counter[str] = Counter()
    stories: set[int] = set()
    samples: list[tuple[str, str, str]] = []
    scanned = 0
    try:
        with transaction(url) as session:
            for row in topics_repo.articles_since(session, utcnow() - span):
                scanned += 1
                doc = Document(row.title, row.text, row.source, row.language, row.author)
                results = matcher.match(doc)
                if not results:
                    continue
                day = (row.published or row.first_seen_at).date().isoformat()
                per_day[day] += 1
                if row.story_id is not None:
                    stories.add(row.story_id)
                if len(samples) < sample:
                    snippet = results[0].snippet
                    samples.append(
                        (row.source, row.title, snippet.render("text") if snippet else "")
                    )
    except SQLAlchemyError as exc:
        fail(f"database {url!r} is not usable: {str(exc).splitlines()[0]}")
    total = sum(per_day.values())
    console.print(
        f"[bold]{topic.name}[/]: {total} of {scanned} articles in the last {since} "
        f"match, in {len(stories)} stories",
        highlight=False,
    )
    if per_day:
        peak = max(per_day.values())
        table = Table("day", "matches", "")
        for day in sorted(per_day):
            table.add_row(day, str(per_day[day]), "█" * max(1, round(20 * per_day[day] / peak)))
        console.print(table)
    for source, title, marked in samples:
        console.print(f"• [bold]{title}[/] ({source})\n  {marked}", highlight=False)


@app.command("reextract")
def reextract_command(
    since: Annotated[
        str | None, typer.Option(help="Only articles first seen in this span: 12h, 30d, 2w.")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Extraction worker processes.")] = None,
    db: DbOption = None,
) -> None:
    """Extract stored raw pages again (after upgrading the extractor)."""
    from ingest.pipeline.fetch import reextract

    start = utcnow() - parse_since(since) if since else None
    url = database_url(db)
    with progress_bar() as progress:
        task = progress.add_task("re-extracting", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            summary = reextract(url, start, workers=workers, progress=advance)
        except SQLAlchemyError as exc:
            fail(f"database {url!r} is not usable: {str(exc).splitlines()[0]}")
    console.print(
        f"{summary.articles} articles re-extracted: {summary.revised} changed (new "
        f"versions), {summary.unchanged} unchanged, {summary.missing_raw} without raw HTML",
        highlight=False,
    )
