"""The pipeline stages as plain functions, used by the CLI and by the Airflow DAGs.

Each stage reads rows the previous stage wrote and writes its own rows in one
transaction per batch, keyed so that running it twice changes nothing. Stages take a
database URL and ids (never documents), and return small summaries (``as_dict()`` for
XCom).

Modules, in flow order:

- :mod:`ingest.pipeline.poll`    — ``claim_due_feeds``, ``poll_feeds``, ``poll_due``
- :mod:`ingest.pipeline.fetch`   — ``claim_pending_entries``, ``fetch_and_extract``
- :mod:`ingest.pipeline.cluster` — ``cluster_pending``
- :mod:`ingest.pipeline.tag`     — ``tag_pending`` (writes the alert outbox in the same
  transaction as the matches)
- :mod:`ingest.pipeline.alerts`  — ``send_due_alerts``, ``release_digests``
- :mod:`ingest.pipeline.maintenance` — retention, raw-HTML pruning, feed-health report
- :mod:`ingest.pipeline.run`     — ``run_once``: every stage once, in order (CLI, demo)
"""
