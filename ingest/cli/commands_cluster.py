"""``newsmon cluster --input DOCS.jsonl --output OUT.jsonl``: dedupe + stories, offline.

Runs the same clusterer as the pipeline stage, on an in-memory state.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from ingest.cli._app import EXIT_USAGE, app, console, fail, progress_bar
from ingest.dedupe import ClusterParams
from ingest.dedupe.clusterer import with_window
from ingest.dedupe.stream import RecordError, cluster_records

MAX_LINE_CHARS = 5_000_000


def _records(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            if len(line) > MAX_LINE_CHARS:
                raise RecordError(f"line {number}: longer than {MAX_LINE_CHARS} characters")
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RecordError(f"line {number}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise RecordError(f"line {number}: expected a JSON object")
            yield record


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


@app.command("cluster")
def cluster_command(
    input_path: Annotated[
        Path, typer.Option("--input", help="JSON Lines: id, title, text, url?, source?, published?")
    ],
    output_path: Annotated[
        Path, typer.Option("--output", help="JSON Lines out: id, story, duplicate_of")
    ],
    window_hours: Annotated[
        float, typer.Option("--window-hours", help="Story window in hours.")
    ] = 72.0,
) -> None:
    """Fold duplicates and same-event reports into stories (stream order = input order)."""
    if not input_path.is_file():
        fail(f"input file not found: {input_path}", EXIT_USAGE)
    try:
        params = with_window(ClusterParams(), window_hours)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    count = 0
    stories: set[str] = set()
    tmp = output_path.with_name(output_path.name + ".part")
    try:
        with tmp.open("w", encoding="utf-8") as out, progress_bar() as progress:
            # The stories are final only at the end (a later article may move an earlier
            # one), so the bar counts records clustered, then the lines are written.
            task = progress.add_task("clustering", total=_count_lines(input_path))
            for result in cluster_records(
                _records(input_path),
                params,
                on_record=lambda done: progress.update(task, completed=done),
            ):
                out.write(json.dumps(result, ensure_ascii=False) + "\n")
                count += 1
                stories.add(result["story"])
        tmp.replace(output_path)
    except RecordError as exc:
        tmp.unlink(missing_ok=True)
        fail(f"{input_path}: {exc}", EXIT_USAGE)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        fail(f"cannot write {output_path}: {exc.strerror or exc}")
    console.print(f"{count} articles → {len(stories)} stories → {output_path}")
