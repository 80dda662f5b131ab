"""newsmon_process: fetch + extract new entries, fold them into stories, tag stories."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import dag, get_current_context, task
from newsmon_common import (
    ARTICLES,
    HTTP_POOL,
    START_DATE,
    STORIES,
    TAGS,
    NewsmonFailureNotifier,
    batches,
    default_args,
    project_db_url,
    reported_nothing,
    setting_int,
    summary_dict,
    worker_processes_allowed,
)


@dag(
    dag_id="newsmon_process",
    schedule=[ARTICLES],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    tags=[*TAGS, "process"],
    default_args=default_args(timeout=timedelta(minutes=20)),
    on_failure_callback=[NewsmonFailureNotifier()],
    doc_md="""
### newsmon_process

Runs when `newsmon://articles` is updated (new feed entries). Claims pending entries
and fetches + extracts their pages in batches (mapped tasks in the `newsmon_http`
pool), then dedupes and clusters new articles into stories, then tags stories with
the analysts' topics (which writes the alert outbox in the same transaction).
Updates `newsmon://stories` when tagging matched something, which runs
`newsmon_alerts`.

Every step claims its rows, so clears, retries and several workers are safe.
""",
)
def newsmon_process() -> None:
    @task(doc_md="Claim pending entries (leased) and split them into batches of ids.")
    def claim_entry_batches() -> list[list[int]]:
        from ingest.pipeline.fetch import claim_pending_entries

        entry_ids = claim_pending_entries(project_db_url(), setting_int("fetch_claim_limit", 1000))
        return batches(entry_ids, setting_int("fetch_batch_size", 25))

    @task(
        pool=HTTP_POOL,
        map_index_template="{{ batch_label }}",
        doc_md="Fetch one batch of article pages and extract text and metadata.",
    )
    def fetch_and_extract(entry_ids: list[int]) -> dict[str, Any]:
        from ingest.pipeline.fetch import fetch_and_extract as run

        context: dict[str, Any] = get_current_context()  # type: ignore[assignment]
        context["batch_label"] = f"{len(entry_ids)} entries from #{entry_ids[0]}"
        with worker_processes_allowed():
            return summary_dict(run(project_db_url(), entry_ids))

    @task(
        trigger_rule="none_failed",
        doc_md="Dedupe new articles and fold them into stories.",
    )
    def cluster(_fetched: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        from ingest.pipeline.cluster import cluster_pending

        return summary_dict(cluster_pending(project_db_url(), setting_int("cluster_limit", 2000)))

    @task(doc_md="Tag new stories with topics; writes the alert outbox.")
    def tag(_clustered: dict[str, Any]) -> dict[str, Any]:
        from ingest.pipeline.tag import tag_pending

        return summary_dict(tag_pending(project_db_url(), setting_int("tag_limit", 2000)))

    @task(
        outlets=[STORIES],
        doc_md="Announce stories (updates `newsmon://stories`); skipped when nothing new.",
    )
    def announce_stories(clustered: dict[str, Any], tagged: dict[str, Any]) -> None:
        from airflow.sdk.exceptions import AirflowSkipException

        keys = ("matches", "new_matches", "story_matches", "alerts", "outbox_rows")
        if reported_nothing([tagged], keys):
            raise AirflowSkipException("no new topic matches")

    fetched = fetch_and_extract.expand(entry_ids=claim_entry_batches())
    clustered = cluster(fetched)
    tagged = tag(clustered)
    announce_stories(clustered, tagged)


newsmon_process()
