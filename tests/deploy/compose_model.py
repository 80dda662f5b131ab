"""docker-compose.yml as compose would see it: parsed, anchors merged, and interpolated
with a test ``.env`` (``.env.example`` with its empty secrets filled in)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.compose_interpolation import interpolate_tree, parse_env_file

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
ENV_EXAMPLE = REPO / ".env.example"


def dotenv_for_tests() -> dict[str, str]:
    """``.env.example`` with every empty value (the secrets) filled with a test value."""
    env = parse_env_file(ENV_EXAMPLE.read_text(encoding="utf-8"))
    return {key: value or f"test-{key.lower().replace('_', '-')}" for key, value in env.items()}


@cache
def raw_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@cache
def compose() -> dict[str, Any]:
    """The compose model after interpolation with :func:`dotenv_for_tests`."""
    model = interpolate_tree(raw_compose(), dotenv_for_tests())
    assert isinstance(model, dict)
    return model


def compose_strings(node: Any) -> list[str]:
    """Every string value of the raw (uninterpolated) compose file, comments excluded."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in compose_strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in compose_strings(item)]
    return []


def services() -> dict[str, Any]:
    result = compose()["services"]
    assert isinstance(result, dict)
    return result


def environment(service: str) -> dict[str, str]:
    env = services()[service].get("environment", {})
    if isinstance(env, list):  # KEY=VALUE list form
        env = dict(item.partition("=")[::2] for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def profiles(service: str) -> list[str]:
    return list(services()[service].get("profiles", []))
