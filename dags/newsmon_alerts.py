"""newsmon_alerts: deliver alerts when stories are tagged, and release digests hourly."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task
from newsmon_common import (
    START_DATE,
    STORIES,
    TAGS,
    NewsmonFailureNotifier,
    default_args,
    project_db_url,
    setting_int,
    summary_dict,
)


@dag(
    dag_id="newsmon_alerts",
    # Immediate alerts follow the stories asset; the hourly tick releases digests even
    # when no story arrived (a digest due at 09:00 must go out at 09:00).
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("5 * * * *", timezone="UTC"),
        assets=[STORIES],
    ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    tags=[*TAGS, "alerts"],
    default_args=default_args(),
    on_failure_callback=[NewsmonFailureNotifier()],
    doc_md="""
### newsmon_alerts

Runs when `newsmon://stories` is updated (immediate alerts) and at minute 5 of every
hour (digests). First moves digest rows whose window has closed from *held* to
*pending*, then delivers every due outbox row. Delivery is claimed row by row and each
row has an idempotency key, so a retry or a second worker never sends twice.
""",
)
def newsmon_alerts() -> None:
    @task(doc_md="Release digest rows whose window has closed.")
    def release_digests() -> int:
        from ingest.pipeline.alerts import release_digests as release

        return int(release(project_db_url()))

    @task(doc_md="Deliver due alerts from the outbox (claimed, idempotent).")
    def send_due_alerts(_released: int) -> dict[str, Any]:
        from ingest.pipeline.alerts import send_due_alerts as send

        return summary_dict(send(project_db_url(), setting_int("alert_send_limit", 500)))

    send_due_alerts(release_digests())


newsmon_alerts()
