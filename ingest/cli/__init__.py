"""The ``newsmon`` command. Each area's commands live in a module of this package."""

from __future__ import annotations

import ingest.cli.commands_core  # noqa: F401  (registers the core commands)
from ingest.cli._app import app

_OPTIONAL_MODULES = ("net", "cluster", "alerts", "web", "pipeline", "demo")


def _register_optional() -> None:
    import importlib

    for name in _OPTIONAL_MODULES:
        try:
            importlib.import_module(f"ingest.cli.commands_{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"ingest.cli.commands_{name}":
                raise


_register_optional()


def main() -> None:
    app()


__all__ = ["app", "main"]
