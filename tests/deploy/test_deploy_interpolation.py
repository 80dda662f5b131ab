"""The compose-style interpolation the compose tests rely on behaves like compose."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.deploy.compose_interpolation import (
    InterpolationError,
    interpolate,
    interpolate_tree,
    parse_env_file,
    referenced_variables,
)

ENV = {"SET": "value", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${SET}", "value"),
        ("$SET/x", "value/x"),
        ("${UNSET}", ""),
        ("${UNSET:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${EMPTY-fallback}", ""),
        ("${UNSET-fallback}", "fallback"),
        ("${SET:-fallback}", "value"),
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${SET:?must be set}", "value"),
        ("${EMPTY?set but may be empty}", ""),
        ("$${SET}", "${SET}"),
        ("$$SET", "$SET"),
        ("cost: 5$", "cost: 5$"),
        ("${UNSET:-${SET}}", "value"),
        ("${UNSET:-a:b?c&d=e%40f}", "a:b?c&d=e%40f"),
        ("redis://:${SET}@redis:6379/0", "redis://:value@redis:6379/0"),
    ],
)
def test_interpolation_cases(text: str, expected: str) -> None:
    assert interpolate(text, ENV) == expected


@pytest.mark.parametrize("text", ["${UNSET:?set UNSET in .env}", "${EMPTY:?no}", "${UNSET?no}"])
def test_required_variables_raise_with_the_name(text: str) -> None:
    with pytest.raises(InterpolationError, match=r"UNSET|EMPTY"):
        interpolate(text, ENV)


@pytest.mark.parametrize("text", ["${", "${SET", "${1BAD}", "${SET!x}"])
def test_malformed_references_are_errors(text: str) -> None:
    with pytest.raises(InterpolationError):
        interpolate(text, ENV)


@given(st.text(alphabet=st.characters(blacklist_characters="$"), max_size=200))
def test_text_without_dollars_is_unchanged(text: str) -> None:
    assert interpolate(text, ENV) == text


@given(st.text(max_size=100))
def test_escaped_text_round_trips(text: str) -> None:
    """Escaping every ``$`` as ``$$`` (what the compose file does for container-side
    shell variables) gives the text back, whatever it contains."""
    assert interpolate(text.replace("$", "$$"), ENV) == text


@given(
    st.dictionaries(
        st.from_regex(r"[A-Z_][A-Z0-9_]{0,10}", fullmatch=True),
        st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30),
        max_size=5,
    )
)
def test_bare_references_take_the_value(env: dict[str, str]) -> None:
    for name, value in env.items():
        assert interpolate("${" + name + "}", env) == value


def test_tree_interpolates_values_not_keys() -> None:
    tree = {"${SET}": ["${SET}", 3, None, {"k": "$${x}"}]}
    assert interpolate_tree(tree, ENV) == {"${SET}": ["value", 3, None, {"k": "${x}"}]}


def test_env_file_parsing() -> None:
    text = "# comment\n\nA=1\nexport B='two words'\nC=\nD=\"x=y\"\n"
    assert parse_env_file(text) == {"A": "1", "B": "two words", "C": "", "D": "x=y"}
    with pytest.raises(ValueError, match="line 1"):
        parse_env_file("not a setting\n")


def test_referenced_variables_reports_operators() -> None:
    text = "${A:?x} ${B:-y} ${C} $${D} ${A}"
    assert referenced_variables(text) == {"A": ":?", "B": ":-", "C": ""}
