"""Compose-style variable interpolation and ``.env`` parsing, for checking docker-compose.yml
without a Docker engine (``docker compose config`` needs one).

Follows the Compose Specification's interpolation rules for what newsmon's file uses:
``$VAR``, ``${VAR}``, ``${VAR:-default}`` / ``${VAR-default}``, ``${VAR:?error}`` /
``${VAR?error}``, ``${VAR:+replacement}`` / ``${VAR+replacement}`` and ``$$`` for a
literal ``$``. Defaults and replacements may themselves contain ``${...}``. Like compose,
interpolation applies to values, not to mapping keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class InterpolationError(ValueError):
    """A required variable is missing (``${VAR:?message}``) or a ``${`` is malformed."""


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``${`` whose body starts at ``start``."""
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("$$", i):
            i += 2
            continue
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise InterpolationError(f"unclosed '${{' in {text!r}")


def _braced(body: str, env: Mapping[str, str]) -> str:
    match = _NAME.match(body)
    if not match:
        raise InterpolationError(f"invalid variable reference '${{{body}}}'")
    name, rest = match.group(), body[match.end() :]
    value = env.get(name)
    if not rest:
        return value or ""
    operator = next((op for op in _OPERATORS if rest.startswith(op)), None)
    if operator is None:
        raise InterpolationError(f"invalid variable reference '${{{body}}}'")
    argument = rest[len(operator) :]
    # ':' variants treat an empty value like an unset one.
    is_set = bool(value) if operator.startswith(":") else value is not None
    kind = operator[-1]
    if kind == "-":
        return value if is_set and value is not None else interpolate(argument, env)
    if kind == "+":
        return interpolate(argument, env) if is_set else ""
    if not is_set:  # '?'
        message = interpolate(argument, env) or f"{name} is required"
        raise InterpolationError(f"required variable {name} is missing a value: {message}")
    return value or ""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """``text`` with every variable reference replaced from ``env``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$":
            out.append(char)
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing_brace(text, i + 2)
            out.append(_braced(text[i + 2 : end], env))
            i = end + 1
        elif match := _NAME.match(text, i + 1):
            out.append(env.get(match.group(), ""))
            i = match.end()
        else:  # a lone '$' stays as it is
            out.append("$")
            i += 1
    return "".join(out)


def interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    """Interpolate every string value of a parsed YAML document (keys stay as they are)."""
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(item, env) for item in node]
    return node


def parse_env_file(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines of a ``.env`` file; ``#`` comment lines and blanks are skipped,
    and one level of matching quotes around a value is removed."""
    env: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.removeprefix("export ").strip()
        if not sep or not _NAME.fullmatch(key):
            raise ValueError(f".env line {number}: expected KEY=VALUE, got {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key] = value
    return env


def referenced_variables(text: str) -> dict[str, str]:
    """Every variable named in ``${...}`` references of ``text`` -> its operator
    (``""`` for a bare reference). ``$$`` escapes are skipped."""
    found: dict[str, str] = {}
    for match in re.finditer(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-|:\?|:\+|-|\?|\+)?", text):
        if match.group(1):
            found.setdefault(match.group(1), match.group(2) or "")
            if match.group(2) in (":?", "?"):
                found[match.group(1)] = match.group(2)
    return found
