"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend.

    SQLite has no time zones; PostgreSQL's ``timestamptz`` has. Storing naive UTC
    everywhere and attaching UTC on the way out gives both the same values, and refuses
    naive datetimes on the way in so a local time can never be stored by mistake.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use datetime.now(UTC)")
        return naive_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQLite text, e.g. from a bulk copy
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, in UTC, with tzinfo (the only kind of datetime the store accepts)."""
    return datetime.now(UTC)


def naive_utc(time: datetime) -> datetime:
    """``time`` as the store keeps it: naive UTC. What raw statements bind, since they
    bypass :class:`UTCDateTime` (an aware value would be converted by the server's time
    zone setting)."""
    return time.astimezone(UTC).replace(tzinfo=None)


def pg_int_array(values: Iterable[int | None]) -> str:
    """An integer array as PostgreSQL's text literal (for ``CAST(:x AS BIGINT[])``):
    the driver adapts a Python list element by element in Python, ~10x slower."""
    return "{" + ",".join("NULL" if v is None else str(int(v)) for v in values) + "}"
