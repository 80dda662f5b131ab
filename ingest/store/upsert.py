"""Dialect-aware idempotent writes that behave the same on SQLite and PostgreSQL.

Both backends support ``INSERT … ON CONFLICT`` with the same semantics; SQLAlchemy
exposes them through dialect-specific ``insert()`` constructs. Everything that must be
safe under retries and concurrent workers goes through these two functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session


def _table(model: type[DeclarativeBase] | Table) -> Table:
    table = model if isinstance(model, Table) else model.__table__
    assert isinstance(table, Table)
    return table


def dialect_insert(session: Session, model: type[DeclarativeBase] | Table) -> Any:
    """The dialect's ``INSERT`` construct (it has ``on_conflict_do_*``) for ``model``."""
    table = _table(model)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database dialect: {dialect}")


_insert = dialect_insert

# Statements built once per dialect and executed with parameters (or lists of them):
# SQLAlchemy compiles a statement object once, so each later call only binds values.
_STATEMENTS: dict[tuple[str, str], Any] = {}


def cached_statement(session: Session, name: str, build: Callable[[], Any]) -> Any:
    """The statement called ``name`` for this session's dialect, built on first use."""
    key = (session.get_bind().dialect.name, name)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build()
    return stmt


def _in_key_order(rows: Sequence[Mapping[str, Any]], conflict: Sequence[str]) -> list[Any]:
    # Two transactions inserting the same keys in different orders can deadlock on the
    # unique index (each holds one key the other waits for). One global order avoids it.
    return sorted(rows, key=lambda row: tuple(str(row.get(c)) for c in conflict))


def _execute_returning(
    session: Session, key: tuple[str, ...], build: Callable[[], Any], rows: list[Any]
) -> list[Any]:
    """Run the cached statement ``key`` over ``rows`` (executemany) and return what its
    RETURNING clause gave for every row. SQLAlchemy sends the rows as multi-row VALUES
    batches ("insertmanyvalues") and compiles the statement once, where a
    ``.values(rows)`` statement would be compiled afresh for every call."""
    stmt = cached_statement(session, "|".join(key), build)
    return list(session.execute(stmt, rows))


def insert_ignore(
    session: Session,
    model: type[DeclarativeBase] | Table,
    rows: Sequence[Mapping[str, Any]],
    conflict: Sequence[str],
) -> int:
    """Insert rows, skipping those whose ``conflict`` key exists. Returns rows inserted."""
    if not rows:
        return 0
    table = _table(model)

    def build() -> Any:
        return (
            _insert(session, table)
            .on_conflict_do_nothing(index_elements=list(conflict))
            .returning(*table.primary_key.columns)
        )

    # Counting RETURNING rows, not rowcount: drivers disagree on rowcount for
    # multi-row inserts (psycopg reports -1), RETURNING is exact on both backends.
    key = ("insert_ignore", table.name, *conflict, "|", *rows[0])
    return len(_execute_returning(session, key, build, _in_key_order(rows, conflict)))


def upsert(
    session: Session,
    model: type[DeclarativeBase] | Table,
    rows: Sequence[Mapping[str, Any]],
    conflict: Sequence[str],
    update: Sequence[str],
) -> int:
    """Insert rows or, on a ``conflict`` key clash, overwrite the ``update`` columns."""
    if not rows:
        return 0
    if not update:
        return insert_ignore(session, model, rows, conflict)
    table = _table(model)

    def build() -> Any:
        stmt = _insert(session, table)
        return stmt.on_conflict_do_update(
            index_elements=list(conflict),
            set_={name: stmt.excluded[name] for name in update},
        ).returning(*table.primary_key.columns)

    key = ("upsert", table.name, *conflict, "|", *update, "|", *rows[0])
    return len(_execute_returning(session, key, build, _in_key_order(rows, conflict)))


def insert_ignore_returning_ids(
    session: Session,
    model: type[DeclarativeBase] | Table,
    rows: Sequence[Mapping[str, Any]],
    conflict: Sequence[str],
) -> list[int]:
    """Like :func:`insert_ignore` but returns the ids of the rows actually inserted."""
    if not rows:
        return []
    table = _table(model)

    def build() -> Any:
        return (
            _insert(session, table)
            .on_conflict_do_nothing(index_elements=list(conflict))
            .returning(table.c.id)
        )

    key = ("insert_ignore_ids", table.name, *conflict, "|", *rows[0])
    returned = _execute_returning(session, key, build, _in_key_order(rows, conflict))
    return [int(r[0]) for r in returned]
