"""`newsmon db upgrade` gives the same schema on SQLite and PostgreSQL, matching the models."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from ingest.store.db import get_engine
from ingest.store.models import Base


def describe(url: str) -> dict[str, Any]:
    """Tables, columns (name, nullability, generic type), indexes, unique constraints, FKs."""
    insp = inspect(get_engine(url))
    schema: dict[str, Any] = {}
    for table in sorted(t for t in insp.get_table_names() if t != "alembic_version"):
        columns = {c["name"]: (c["nullable"], _kind(c)) for c in insp.get_columns(table)}
        indexes = {
            (i["name"], tuple(i["column_names"]), bool(i["unique"]))
            for i in insp.get_indexes(table)
            # PostgreSQL reports unique constraints as unique indexes too; SQLite does not.
            if not (i.get("duplicates_constraint"))
        }
        uniques = {
            (u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(table)
        }
        pk = tuple(insp.get_pk_constraint(table)["constrained_columns"])
        fks = {
            (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
            for f in insp.get_foreign_keys(table)
        }
        schema[table] = {
            "columns": columns,
            "indexes": indexes,
            "uniques": uniques,
            "pk": pk,
            "fks": fks,
        }
    return schema


def _kind(column: dict[str, Any]) -> str:
    """A backend-neutral name for a column type (VARCHAR(64) vs String(64) etc.)."""
    t = column["type"]
    name = type(t).__name__.upper()
    if name in ("DATETIME", "TIMESTAMP"):
        return "DATETIME"
    for generic in (
        "INT",
        "CHAR",
        "TEXT",
        "FLOAT",
        "REAL",
        "DOUBLE",
        "BOOL",
        "DATE",
        "TIME",
        "BLOB",
        "BYTEA",
        "JSON",
        "NUMERIC",
    ):
        if generic in name:
            name = {"REAL": "FLOAT", "DOUBLE": "FLOAT", "BYTEA": "BLOB", "NUMERIC": "FLOAT"}.get(
                generic, generic
            )
            break
    if name == "INT" and "BIG" in type(t).__name__.upper():
        name = "BIGINT"
    length = getattr(t, "length", None)
    return f"{name}({length})" if length else name


def test_sqlite_and_postgresql_schemas_are_the_same(sqlite_url: str, pg_url: str) -> None:
    lite, pg = describe(sqlite_url), describe(pg_url)
    assert sorted(lite) == sorted(pg)
    assert len(lite) >= 15
    for table in lite:
        assert lite[table] == pg[table], table


def test_migrations_match_the_models(db_url: str) -> None:
    with get_engine(db_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
