"""newsmon_poll: poll the feeds that are due, in parallel batches."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import dag, get_current_context, task
from newsmon_common import (
    ARTICLES,
    HTTP_POOL,
    START_DATE,
    TAGS,
    NewsmonFailureNotifier,
    batches,
    config_path,
    default_args,
    poll_schedule,
    project_db_url,
    reported_nothing,
    setting_int,
    summary_dict,
    worker_processes_allowed,
)


@dag(
    dag_id="newsmon_poll",
    schedule=poll_schedule(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    tags=[*TAGS, "poll"],
    default_args=default_args(),
    on_failure_callback=[NewsmonFailureNotifier()],
    doc_md="""
### newsmon_poll

Every 10 minutes (`NEWSMON_POLL_SCHEDULE` overrides: a cron expression, or `none`
for REST/manual triggers only): apply `newsmon.yaml` to the database (idempotent), claim the feeds
whose `next_poll_at` has passed, and poll them in batches (one mapped task per batch,
in the `newsmon_http` pool so outbound HTTP stays bounded). Claiming is done by
`ingest.pipeline.poll.claim_due_feeds` with leases (`FOR UPDATE SKIP LOCKED` on
PostgreSQL), so two workers never poll the same feed.

When the batches found new entries, the `newsmon://articles` asset is updated and
`newsmon_process` runs.
""",
)
def newsmon_poll() -> None:
    @task(doc_md="Load feeds, topics and subscriptions from newsmon.yaml (if configured).")
    def sync_config() -> dict[str, Any]:
        path = config_path()
        if not path:
            return {"config_path": None}
        from ingest.pipeline.run import sync_config as sync

        summary = sync(project_db_url(), path)
        return {"config_path": path, **summary_dict(summary)}

    @task(doc_md="Claim due feeds (leased) and split them into batches of feed ids.")
    def claim_feed_batches() -> list[list[int]]:
        from ingest.pipeline.poll import claim_due_feeds

        feed_ids = claim_due_feeds(project_db_url(), setting_int("poll_claim_limit", 500))
        return batches(feed_ids, setting_int("poll_batch_size", 20))

    @task(
        pool=HTTP_POOL,
        map_index_template="{{ batch_label }}",
        doc_md="Poll one batch of claimed feeds: conditional GET, parse, store entries.",
    )
    def poll_batch(feed_ids: list[int]) -> dict[str, Any]:
        from ingest.pipeline.poll import poll_feeds

        context: dict[str, Any] = get_current_context()  # type: ignore[assignment]
        context["batch_label"] = f"{len(feed_ids)} feeds from #{feed_ids[0]}"
        with worker_processes_allowed():
            return summary_dict(poll_feeds(project_db_url(), feed_ids))

    @task(
        outlets=[ARTICLES],
        trigger_rule="none_failed",
        doc_md="Announce new entries (updates `newsmon://articles`); skipped when none.",
    )
    def announce_new_entries(summaries: list[dict[str, Any]]) -> int:
        from airflow.sdk.exceptions import AirflowSkipException

        summaries = list(summaries or [])
        if not summaries or reported_nothing(summaries, ("new_entries", "new_items", "entries")):
            raise AirflowSkipException("no new entries")
        return len(summaries)

    claimed = claim_feed_batches()
    sync_config() >> claimed
    announce_new_entries(poll_batch.expand(feed_ids=claimed))


newsmon_poll()
