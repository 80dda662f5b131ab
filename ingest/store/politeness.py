"""Per-host politeness shared by every worker process, in the ``host_slots`` table.

Each process's :class:`ingest.net.HostGate` spaces its own requests to a host; with
several workers (Airflow tasks, Celery workers) that alone would let each of them hit the
same host, so N workers would be N times as impolite. :class:`HostSlotBook` books every
request start in one row per host: ``next_at`` moves forward by the delay at each booking,
atomically, so starts are spaced by the delay whichever process makes them.

One short statement per request (PostgreSQL: one upsert that books and answers, timed
by the database clock, so workers on different machines agree).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from ingest.store.db import get_engine, transaction
from ingest.store.models import HostSlot
from ingest.store.upsert import upsert

# The booking's commit does not wait for the WAL flush (synchronous_commit off for this
# transaction only): a booking lost in a database crash lets one request come early,
# while waiting for the flush delayed every request by a disk sync.
_PG_BOOK = text(
    "INSERT INTO host_slots (host, next_at)"
    " SELECT :host, (clock_timestamp() AT TIME ZONE 'UTC') + make_interval(secs => :delay)"
    " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS no_flush_wait"
    " ON CONFLICT (host) DO UPDATE SET next_at ="
    " GREATEST(host_slots.next_at, clock_timestamp() AT TIME ZONE 'UTC')"
    " + make_interval(secs => :delay)"
    " RETURNING EXTRACT(EPOCH FROM next_at - (clock_timestamp() AT TIME ZONE 'UTC'))"
)
MAX_HOST_CHARS = 255


class HostSlotBook:
    """Books request starts per host in the database (:class:`ingest.net.PolitenessBook`)."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self._postgres = get_engine(db_url).dialect.name == "postgresql"

    def reserve(self, host: str, delay_s: float) -> float:
        """Book the next start on ``host``, ``delay_s`` after the last one booked by any
        worker; returns how many seconds to wait before starting."""
        host = host.lower()[:MAX_HOST_CHARS]
        if self._postgres:
            # Core, not a session: this runs once per request, so it stays lean.
            with get_engine(self.db_url).begin() as conn:
                until_next = float(
                    conn.execute(_PG_BOOK, {"host": host, "delay": float(delay_s)}).scalar_one()
                )
            return max(0.0, until_next - delay_s)
        # SQLite: the write transaction is exclusive (BEGIN IMMEDIATE), so read-then-write
        # is atomic; processes on one machine share its clock.
        with transaction(self.db_url) as session:
            now = datetime.fromtimestamp(time.time(), UTC)
            booked = session.scalar(select(HostSlot.next_at).where(HostSlot.host == host))
            start = max(now, booked) if booked is not None else now
            upsert(
                session,
                HostSlot,
                [{"host": host, "next_at": start + timedelta(seconds=delay_s)}],
                ["host"],
                ["next_at"],
            )
        return max(0.0, (start - now).total_seconds())
