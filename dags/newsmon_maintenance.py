"""newsmon_maintenance: retention, raw-HTML pruning and the feed/topic health report."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import dag, task
from newsmon_common import (
    START_DATE,
    TAGS,
    NewsmonFailureNotifier,
    default_args,
    project_db_url,
    setting_int,
    summary_dict,
)


@dag(
    dag_id="newsmon_maintenance",
    schedule="@daily",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    tags=[*TAGS, "maintenance"],
    default_args=default_args(timeout=timedelta(hours=1)),
    on_failure_callback=[NewsmonFailureNotifier()],
    doc_md="""
### newsmon_maintenance

Daily housekeeping:

- **retention**: delete entries, articles and stories older than
  `NEWSMON_RETENTION_DAYS` (default 365);
- **raw HTML pruning**: drop stored raw pages older than `NEWSMON_RAW_RETENTION_DAYS`
  (default 30) — extracted text stays;
- **feed health report**: feeds by health, and *topic coverage*: for each topic, the
  feeds that produced its matches in the last 30 days and which of them are now
  failing or silent — so an analyst can tell "the topic went quiet because its
  sources broke" from "nothing happened". The report is the task's return value
  (XCom) and is logged.
""",
)
def newsmon_maintenance() -> None:
    @task(doc_md="Delete rows older than the retention period.")
    def apply_retention() -> Any:
        from ingest.pipeline.maintenance import apply_retention as run

        result = run(project_db_url(), setting_int("retention_days", 365))
        return summary_dict(result)

    @task(doc_md="Delete stored raw HTML older than the raw retention period.")
    def prune_raw_pages() -> Any:
        from ingest.pipeline.maintenance import prune_raw_pages as run

        result = run(project_db_url(), setting_int("raw_retention_days", 30))
        return summary_dict(result)

    @task(doc_md="Feed health and per-topic source coverage (failing/silent sources).")
    def feed_health_report() -> dict[str, Any]:
        import json
        import logging

        from ingest.pipeline.maintenance import feed_health_report as run

        report = dict(run(project_db_url()))
        logging.getLogger(__name__).info("feed health report: %s", json.dumps(report))
        return report

    apply_retention() >> prune_raw_pages() >> feed_health_report()


newsmon_maintenance()
