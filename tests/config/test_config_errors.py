"""Operator mistakes in newsmon.yaml: one message with file:line and field, exit code 2."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest.cli import app
from ingest.config import ConfigError, load_config, parse_duration

runner = CliRunner()

GOOD = """\
feeds:
  - url: https://news.example/rss.xml
    title: News
    interval: 30m
topics:
  - name: surveillance
    query: surveillance OR "facial recognition"
subscriptions:
  - name: desk
    email: desk@example.org
    topics: [surveillance]
"""

# (case name, YAML, expected line, expected fragment of the message)
MISTAKES = [
    ("bad yaml", "feeds:\n  - url: [unclosed\n", 3, "invalid YAML"),
    ("unknown key", "feeds:\n  - url: https://a.example/rss\n    titel: x\n", 3, "feeds[0].titel"),
    (
        "duplicate feed",
        "feeds:\n  - url: https://a.example/rss\n  - url: https://a.example/rss/\n",
        3,
        "duplicate feed",
    ),
    ("non-http url", "feeds:\n  - url: ftp://a.example/rss\n", 2, "http(s) URL"),
    ("file url", "feeds:\n  - url: file:///etc/passwd\n", 2, "http(s) URL"),
    ("credentials", "feeds:\n  - url: https://u:p@a.example/rss\n", 2, "credentials"),
    (
        "bad interval",
        "feeds:\n  - url: https://a.example/rss\n    interval: soon\n",
        3,
        "feeds[0].interval",
    ),
    (
        "interval too short",
        "feeds:\n  - url: https://a.example/rss\n    interval: 1m\n",
        3,
        "between 5m and 24h",
    ),
    ("missing url", "feeds:\n  - title: x\n", 2, "feeds[0].url: required"),
    ("duplicate key", "feeds: []\nfeeds: []\n", 2, "duplicate key"),
    ("not a mapping", "- a\n- b\n", 1, "expected a mapping"),
    (
        "unknown topic",
        "topics:\n  - {name: a, query: b}\nsubscriptions:\n"
        "  - name: s\n    email: a@b.example\n    topics: [nope]\n",
        6,
        "unknown topic 'nope'",
    ),
    (
        "two channels",
        "topics:\n  - {name: a, query: b}\nsubscriptions:\n"
        "  - name: s\n    email: a@b.example\n    slack: https://hooks.example/x\n"
        "    topics: [a]\n",
        4,
        "exactly one of",
    ),
    (
        "bad time zone",
        "topics:\n  - {name: a, query: b}\nsubscriptions:\n"
        "  - name: s\n    email: a@b.example\n    topics: [a]\n    timezone: Mars/Olympus\n",
        7,
        "unknown time zone",
    ),
]


@pytest.mark.parametrize(
    ("case", "text", "line", "fragment"), MISTAKES, ids=[m[0] for m in MISTAKES]
)
def test_each_mistake_names_file_line_and_field(
    tmp_path: Path, case: str, text: str, line: int, fragment: str
) -> None:
    path = tmp_path / "newsmon.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert f"{path}:{line}:" in message, message
    assert fragment in message, message

    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"{path}:{line}" in result.output.replace("\n", "")


def test_good_config_passes(tmp_path: Path) -> None:
    path = tmp_path / "newsmon.yaml"
    path.write_text(GOOD)
    cfg = load_config(path)
    assert cfg.feeds[0].interval == 1800
    assert cfg.feeds[0].source_domain == "news.example"
    assert cfg.subscriptions[0].channel == "email"
    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 feeds" in result.output


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "check", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "file not found" in result.output


def test_feed_scheme_is_rewritten() -> None:
    from ingest.config import http_url

    assert http_url("feed://a.example/rss") == "http://a.example/rss"


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), (600, 600)]
)
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_all_problems_reported_together(tmp_path: Path) -> None:
    path = tmp_path / "newsmon.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            feeds:
              - url: ftp://a.example/rss
              - url: https://b.example/rss
                interval: 99d
            """
        )
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert len(err.value.problems) == 2
