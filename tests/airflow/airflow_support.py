"""Shared pieces of the Airflow tests: the demo world (corpus served on loopback, an SMTP
sink, newsmon.yaml, a migrated project database) and the checks on what the pipeline
wrote."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import func, select

from ingest.demo.run import count_emails, demo_config, smtp_sink
from ingest.demo.server import ServedCorpus, serve_corpus
from ingest.store.db import get_engine, transaction, upgrade
from ingest.store.models import AlertOutbox, Article, Entry, Story, StoryTopic

REPO = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO / "dags"
PLUGINS_DIR = REPO / "plugins"


@dataclass
class DemoWorld:
    db_url: str
    config_path: Path
    mailbox: Path
    served: ServedCorpus
    env: dict[str, str]


@contextlib.contextmanager
def demo_world(db_url: str, workdir: Path) -> Iterator[DemoWorld]:
    """Serve the demo corpus and an SMTP sink, write newsmon.yaml, migrate ``db_url``.

    ``env`` holds the NEWSMON_* settings every process running tasks needs.
    """
    upgrade(db_url)
    mailbox = workdir / "alerts.mbox"
    with serve_corpus(0) as served, smtp_sink(mailbox) as smtp_port:
        config_path = workdir / "newsmon.yaml"
        config = demo_config(served).model_dump(mode="json", exclude_none=True)
        config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        env = {
            "NEWSMON_DATABASE_URL": db_url,
            "NEWSMON_CONFIG_PATH": str(config_path),
            "NEWSMON_HOME": str(workdir / "newsmon-home"),
            # The corpus is served on loopback, which the SSRF guard refuses by default.
            "NEWSMON_ALLOW_NETWORKS": "127.0.0.0/8",
            "NEWSMON_PER_HOST_DELAY_S": "0",
            "NEWSMON_SMTP_HOST": "127.0.0.1",
            "NEWSMON_SMTP_PORT": str(smtp_port),
            "NEWSMON_SMTP_STARTTLS": "false",
            "NEWSMON_SMTP_SSL": "false",
            "NEWSMON_FAILURE_LOG": str(workdir / "failures.jsonl"),
        }
        yield DemoWorld(db_url, config_path, mailbox, served, env)
    get_engine(db_url).dispose()


@dataclass(frozen=True)
class Outcome:
    entries: int
    articles: int
    stories: int
    story_matches: int
    alerts: int
    alerts_sent: int
    duplicate_alerts: int
    emails: int


def outcome(world: DemoWorld) -> Outcome:
    """What the pipeline wrote, and the duplicates it must never write."""
    with transaction(world.db_url) as s:

        def count(model: type) -> int:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)

        duplicate_alerts = s.scalar(
            select(func.count()).select_from(
                select(AlertOutbox.story_id, AlertOutbox.subscription_id, AlertOutbox.kind)
                .group_by(AlertOutbox.story_id, AlertOutbox.subscription_id, AlertOutbox.kind)
                .having(func.count() > 1)
                .subquery()
            )
        )
        sent = s.scalar(
            select(func.count()).select_from(AlertOutbox).where(AlertOutbox.status == "sent")
        )
        return Outcome(
            entries=count(Entry),
            articles=count(Article),
            stories=count(Story),
            story_matches=count(StoryTopic),
            alerts=count(AlertOutbox),
            alerts_sent=int(sent or 0),
            duplicate_alerts=int(duplicate_alerts or 0),
            emails=count_emails(world.mailbox),
        )


def expected_feed_count(world: DemoWorld) -> int:
    return len(world.served.outlets)


def environ_with(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


PG_SERVER = os.environ.get("NEWSMON_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


def create_database(prefix: str) -> str:
    """A new, uniquely named PostgreSQL database; its URL (psycopg 3 driver)."""
    import uuid

    from sqlalchemy import create_engine, text

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"{PG_SERVER}/{name}"


def drop_database(url: str) -> None:
    from sqlalchemy import create_engine, text

    get_engine(url).dispose()
    name = url.rsplit("/", 1)[1]
    engine = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def component_env(world: DemoWorld) -> dict[str, str]:
    """What the Airflow components get: the project DB as the ``newsmon_db`` Connection
    (in Airflow's ``postgres://`` spelling) and the config path as a Variable — not the
    NEWSMON_* fallbacks, so the Airflow-side lookups are what the run exercises."""
    env = dict(world.env)
    db_url = env.pop("NEWSMON_DATABASE_URL")
    # Both, as in docker-compose.yml; the Variable takes precedence in the DAGs.
    env["NEWSMON_CONFIG_PATH"] = str(world.config_path)
    env["AIRFLOW_CONN_NEWSMON_DB"] = db_url.replace("postgresql+psycopg://", "postgres://", 1)
    env["AIRFLOW_VAR_NEWSMON_CONFIG_PATH"] = str(world.config_path)
    # Only the REST trigger starts polling: no scheduled run beside it, so the measured
    # time is the triggered chain's.
    env["NEWSMON_POLL_SCHEDULE"] = "none"
    return env


def distinct_article_urls(world: DemoWorld) -> tuple[int, int]:
    with transaction(world.db_url) as s:
        total = s.scalar(select(func.count()).select_from(Article))
        distinct = s.scalar(select(func.count(func.distinct(Article.canonical_url))))
    return int(total or 0), int(distinct or 0)
