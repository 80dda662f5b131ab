"""Every stage once, in flow order: what ``newsmon run`` and ``newsmon demo`` do.

Airflow runs the same stage functions as separate tasks; this module is for one process
(a cron job, the demo, a laptop).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.config import NewsmonConfig, Settings, get_settings, load_config
from ingest.store import catalog
from ingest.store.catalog import SyncSummary
from ingest.store.db import transaction

# (stage name, summary as a dict) after each stage: the CLI prints progress from it.
StageCallback = Callable[[str, dict[str, Any]], None]


@dataclass
class RunSummary:
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.stages)


def sync_config(db_url: str, config: Path | str | NewsmonConfig) -> SyncSummary:
    """Load newsmon.yaml (a path or an already loaded config) into the database."""
    cfg = config if isinstance(config, NewsmonConfig) else load_config(config)
    with transaction(db_url) as session:
        return catalog.sync_config(session, cfg)


def run_once(
    db_url: str,
    settings: Settings | None = None,
    on_stage: StageCallback | None = None,
    fetch_batch: int = 200,
) -> RunSummary:
    """Poll due feeds, fetch and extract new entries, cluster, tag, send due alerts."""
    from ingest.pipeline import fetch
    from ingest.pipeline.alerts import release_digests, send_due_alerts
    from ingest.pipeline.cluster import cluster_all_pending
    from ingest.pipeline.poll import poll_due
    from ingest.pipeline.tag import tag_pending

    settings = settings or get_settings()
    summary = RunSummary()

    def done(stage: str, result: Any) -> None:
        data = result.as_dict() if hasattr(result, "as_dict") else dict(result)
        summary.stages[stage] = data
        if on_stage:
            on_stage(stage, data)

    done("poll", poll_due(db_url, settings))
    total = fetch.FetchSummary()
    while True:
        part = fetch.fetch_pending(db_url, fetch_batch, settings)
        if part.entries == 0:
            break
        total.add(part)
        if part.retry_later == part.entries:
            break  # everything left is waiting for a later run
    done("fetch", total)
    done("cluster", cluster_all_pending(db_url, settings=settings))
    done("tag", tag_pending(db_url))
    done("digests", {"released": release_digests(db_url)})
    done("alerts", send_due_alerts(db_url, settings=settings))
    return summary
