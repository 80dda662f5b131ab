"""The newsmon web pages and JSON API (FastAPI), mounted in Airflow or run alone.

``create_app(db_url, dependencies=[...])`` builds the app; see :mod:`ingest.web.app`.
"""

from ingest.web.app import create_app

__all__ = ["create_app"]
