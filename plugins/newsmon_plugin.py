"""Airflow plugin: the newsmon pages inside the Airflow UI.

- ``fastapi_apps``: the app from :mod:`ingest.web` mounted at ``/newsmon`` on the Airflow
  API server. Airflow does not authenticate plugin apps, so every route depends on
  Airflow's ``requires_authenticated()``: the UI's session cookie (or a bearer token
  from ``POST /auth/token``) is required, otherwise 401.
- ``external_views``: "News monitor" in the navigation, showing the pages in the UI.

The project database is the ``newsmon_db`` Connection (or ``NEWSMON_DATABASE_URL``),
resolved on the first request, not at import time.
"""

from __future__ import annotations

import os

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends

URL_PREFIX = "/newsmon"
DB_CONN_ID = "newsmon_db"


def project_db_url() -> str:
    """The ``newsmon_db`` Connection as a SQLAlchemy URL, else ``NEWSMON_DATABASE_URL``."""
    from ingest.store.db import normalise_url

    try:
        from airflow.models.connection import Connection

        conn = Connection.get_connection_from_secrets(DB_CONN_ID)
    except Exception:  # AirflowNotFoundException: fall back to the environment
        conn = None
    if conn is not None:
        extra_url = conn.extra_dejson.get("sqlalchemy_url") if conn.extra else None
        if extra_url:
            return str(extra_url)
        uri = conn.get_uri()
        if uri.startswith("postgres://"):
            uri = "postgresql://" + uri[len("postgres://") :]
        return normalise_url(uri)
    url = os.environ.get("NEWSMON_DATABASE_URL", "")
    if not url:
        raise RuntimeError(
            f"the newsmon pages need the Airflow Connection {DB_CONN_ID!r} or NEWSMON_DATABASE_URL"
        )
    return url


def _build_app():  # type: ignore[no-untyped-def]
    from airflow.api_fastapi.core_api.security import requires_authenticated

    from ingest.web import create_app

    return create_app(project_db_url, dependencies=[Depends(requires_authenticated())])


class NewsmonPlugin(AirflowPlugin):
    name = "newsmon"
    fastapi_apps = [  # noqa: RUF012  (AirflowPlugin declares these as class attributes)
        {"app": _build_app(), "url_prefix": URL_PREFIX, "name": "newsmon"},
    ]
    external_views = [  # noqa: RUF012
        {
            "name": "News monitor",
            "href": "newsmon/stories",
            "url_route": "newsmon",
            "destination": "nav",
        },
    ]
