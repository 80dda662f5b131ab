"""Settings from the environment (``NEWSMON_*``) and the ``newsmon.yaml`` file.

Two kinds of configuration live here:

* :class:`Settings` — how this process runs (database URL, limits, network policy).
  Read from ``NEWSMON_*`` environment variables; sensible defaults for a laptop.
* :class:`NewsmonConfig` — what to monitor (feeds, topics, subscriptions), read from one
  YAML file. Operator mistakes there become :class:`ConfigError` naming file, line and
  field, never a traceback.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOME = Path(".newsmon")


class Settings(BaseSettings):
    """Process settings. Every field can be set with ``NEWSMON_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="NEWSMON_", extra="ignore")

    home: Path = Field(default=DEFAULT_HOME, description="Working directory for local state.")
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL. Empty: a SQLite file under NEWSMON_HOME.",
    )
    config_path: Path = Field(default=Path("newsmon.yaml"), description="newsmon.yaml path.")

    # --- network policy (ingest/net) ---
    allow_networks: str = Field(
        default="",
        description="Comma-separated CIDRs exempt from the SSRF guard (on-premises feeds, tests).",
    )
    user_agent: str = "newsmon/0.1 (+{contact})"
    contact_url: str = "https://github.com/newsmon/newsmon"
    fetch_deadline_s: float = 30.0
    connect_timeout_s: float = 10.0
    max_feed_bytes: int = 10 * 1024 * 1024
    max_page_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 5
    per_host_concurrency: int = 2
    per_host_delay_s: float = 1.0
    retry_after_cap_s: float = 6 * 3600.0
    # --- feed polling (ingest/feeds, ingest/pipeline/poll.py) ---
    max_feed_entries: int = 500
    poll_concurrency: int = 64
    poll_batch_size: int = 500
    # Worker processes for feed parsing (CPU-bound); 0 = parse in the polling process.
    poll_parse_workers: int = 0

    # --- extraction ---
    extract_timeout_s: float = 20.0
    extract_memory_mb: int = 1024
    extract_max_elements: int = 200_000
    extract_workers: int = 2

    # --- clustering ---
    story_window_hours: float = 72.0

    # --- web / alerts ---
    base_url: str = "http://127.0.0.1:8765"
    webhook_secret: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = Field(default="", repr=False)
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    smtp_from: str = "newsmon@localhost"
    smtp_timeout_s: float = 30.0
    alert_max_attempts: int = 8
    alert_lease_s: float = 300.0

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or a SQLite file under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'newsmon.db').as_posix()}"

    @property
    def user_agent_string(self) -> str:
        return self.user_agent.format(contact=self.contact_url)


@functools.cache
def get_settings() -> Settings:
    """Process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()


# =========================================================================== newsmon.yaml


MIN_INTERVAL_S = 5 * 60
MAX_INTERVAL_S = 24 * 3600
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d)?\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400}
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class ConfigError(Exception):
    """An operator mistake in a config file; ``str()`` is the message to print."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigProblem:
    """One mistake: where (file, line, field) and what."""

    def __init__(self, path: Path | str, line: int | None, field: str, message: str) -> None:
        self.path, self.line, self.field, self.message = str(path), line, field, message

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


def parse_duration(value: str | int | float) -> int:
    """``"30m"``, ``"2h"``, ``"1d"``, ``"90s"`` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like '30m', '2h' or a number of seconds")
    if isinstance(value, int | float):
        return int(value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"expected a duration like '30m', '2h' or '1d', got {value!r}")
    number, unit = float(match.group(1)), (match.group(2) or "s").lower()
    return int(number * _UNIT_S[unit])


def http_url(value: str, what: str = "URL") -> str:
    """Accept only absolute http(s) URLs without credentials (``feed://`` is rewritten)."""
    value = value.strip()
    if value.lower().startswith("feed://"):
        value = "http://" + value[len("feed://") :]
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an absolute http(s) URL, got {value!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{what} must not carry credentials (user:password@)")
    if len(value) > 2048:
        raise ValueError(f"{what} is longer than 2048 characters")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class FeedConfig(_Strict):
    url: str
    title: str | None = None
    source: str | None = None
    interval: int | None = None
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return http_url(v, "feed URL")

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, v: Any) -> int | None:
        if v is None:
            return None
        seconds = parse_duration(v)
        if not MIN_INTERVAL_S <= seconds <= MAX_INTERVAL_S:
            raise ValueError(f"interval must be between 5m and 24h, got {v!r} ({seconds} s)")
        return seconds

    @property
    def source_domain(self) -> str:
        if self.source:
            return self.source.lower()
        host = (urlsplit(self.url).hostname or "").lower()
        return host.removeprefix("www.")


class TopicConfig(_Strict):
    name: str
    query: str
    description: str = ""
    sources: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    @field_validator("name", "query")
    @classmethod
    def _not_empty(cls, v: str) -> str:
        if not v:
            raise ValueError("must not be empty")
        return v


class FollowupConfig(_Strict):
    new_outlets: int | None = None
    headline_change: bool = False


class SubscriptionConfig(_Strict):
    name: str
    email: str | None = None
    webhook: str | None = None
    slack: str | None = None
    apprise: str | None = None
    topics: tuple[str, ...]
    mode: Literal["immediate", "hourly", "daily"] = "immediate"
    daily_at: str = "08:00"
    timezone: str = "UTC"
    budget_per_hour: int | None = None
    quiet_hours: str | None = None
    min_outlets: int = 1
    followups: FollowupConfig | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is not None and not _EMAIL.match(v):
            raise ValueError(f"not an email address: {v!r}")
        return v

    @field_validator("webhook", "slack")
    @classmethod
    def _hook(cls, v: str | None) -> str | None:
        return None if v is None else http_url(v, "webhook URL")

    @field_validator("daily_at")
    @classmethod
    def _clock(cls, v: str) -> str:
        if not _CLOCK.match(v):
            raise ValueError(f"expected a local time HH:MM, got {v!r}")
        return v

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: str | None) -> str | None:
        if v is None:
            return None
        parts = v.split("-")
        if len(parts) != 2 or not all(_CLOCK.match(p.strip()) for p in parts):
            raise ValueError(f"expected 'HH:MM-HH:MM', got {v!r}")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r} (use an IANA name like Europe/London)"
            ) from None
        return v

    @field_validator("budget_per_hour", "min_outlets")
    @classmethod
    def _positive(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError("must be at least 1")
        return v

    @model_validator(mode="after")
    def _one_channel(self) -> SubscriptionConfig:
        given = [c for c in ("email", "webhook", "slack", "apprise") if getattr(self, c)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of email, webhook, slack, apprise"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    @property
    def channel(self) -> str:
        for c in ("email", "webhook", "slack", "apprise"):
            if getattr(self, c):
                return c
        raise AssertionError("validated to have one channel")

    @property
    def target(self) -> str:
        return str(getattr(self, self.channel))


class NewsmonConfig(_Strict):
    feeds: tuple[FeedConfig, ...] = ()
    topics: tuple[TopicConfig, ...] = ()
    subscriptions: tuple[SubscriptionConfig, ...] = ()


# ----------------------------------------------------------------- YAML with line numbers

_Path = tuple[str | int, ...]


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers the line of every node and refuses duplicate keys."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.MarkedYAMLError(
                problem=f"duplicate key {key!r} (first at line {seen[key]})",
                problem_mark=key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node)


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _lines(node: yaml.Node, path: _Path, out: dict[_Path, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*path, key)] = key_node.start_mark.line + 1
            _lines(value_node, (*path, key), out)
            out[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out)


def _field_name(loc: Iterable[str | int]) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def _line_for(loc: _Path, lines: Mapping[_Path, int]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def load_yaml_with_lines(path: Path) -> tuple[Any, dict[_Path, int]]:
    """Parse a YAML file; returns the data and a map from field path to line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(path, None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(path, None, "", f"cannot read: {exc}")]) from None
    try:
        node = yaml.compose(text, Loader=_LineLoader)
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or "invalid YAML"
        col = f" (column {mark.column + 1})" if mark else ""
        raise ConfigError(
            [ConfigProblem(path, line, "", f"invalid YAML: {problem}{col}")]
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem(path, None, "", f"invalid YAML: {exc}")]) from None
    lines: dict[_Path, int] = {}
    if node is not None:
        _lines(node, (), lines)
    return data, lines


def _problems_from_validation(
    path: Path, exc: ValidationError, lines: Mapping[_Path, int], prefix: _Path = ()
) -> list[ConfigProblem]:
    problems = []
    for err in exc.errors():
        loc: _Path = (*prefix, *err["loc"])
        # pydantic appends validator names for unions; keep only real fields/indexes.
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see docs/configuration.md)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        problems.append(ConfigProblem(path, _line_for(loc, lines), _field_name(loc), msg))
    return problems


def _check_duplicates(
    path: Path, cfg: NewsmonConfig, lines: Mapping[_Path, int]
) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []

    def dup(section: str, key: str, values: Sequence[str]) -> None:
        first: dict[str, int] = {}
        for i, value in enumerate(values):
            norm = value.lower().rstrip("/") if section == "feeds" else value
            if norm in first:
                loc: _Path = (section, i, key)
                where = _line_for((section, first[norm], key), lines)
                problems.append(
                    ConfigProblem(
                        path,
                        _line_for(loc, lines),
                        _field_name(loc),
                        f"duplicate {section[:-1]} {value!r} (already at line {where})",
                    )
                )
            else:
                first[norm] = i

    dup("feeds", "url", [f.url for f in cfg.feeds])
    dup("topics", "name", [t.name for t in cfg.topics])
    dup("subscriptions", "name", [s.name for s in cfg.subscriptions])
    topic_names = {t.name for t in cfg.topics}
    for i, sub in enumerate(cfg.subscriptions):
        for j, name in enumerate(sub.topics):
            if name not in topic_names:
                loc = ("subscriptions", i, "topics", j)
                problems.append(
                    ConfigProblem(
                        path, _line_for(loc, lines), _field_name(loc), f"unknown topic {name!r}"
                    )
                )
    return problems


def _check_queries(
    path: Path, cfg: NewsmonConfig, lines: Mapping[_Path, int]
) -> list[ConfigProblem]:
    try:
        from ingest.topics import QueryError, parse_query
    except ImportError:  # the query language is optional at this layer
        return []
    problems = []
    for i, topic in enumerate(cfg.topics):
        try:
            parse_query(topic.query)
        except QueryError as exc:
            loc: _Path = ("topics", i, "query")
            problems.append(
                ConfigProblem(path, _line_for(loc, lines), _field_name(loc), f"bad query: {exc}")
            )
    return problems


def load_config(path: Path | str) -> NewsmonConfig:
    """Load and validate ``newsmon.yaml``. Raises :class:`ConfigError` with every problem."""
    path = Path(path)
    data, lines = load_yaml_with_lines(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            [ConfigProblem(path, 1, "", "expected a mapping with feeds, topics, subscriptions")]
        )
    try:
        cfg = NewsmonConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems_from_validation(path, exc, lines)) from None
    problems = _check_duplicates(path, cfg, lines) + _check_queries(path, cfg, lines)
    if problems:
        raise ConfigError(problems)
    return cfg


def load_topics_file(path: Path | str) -> tuple[TopicConfig, ...]:
    """Topics from a ``newsmon.yaml``, a file with only ``topics:``, or a bare list."""
    path = Path(path)
    data, lines = load_yaml_with_lines(path)
    if isinstance(data, list):
        data, lines = {"topics": data}, {("topics", *k): v for k, v in lines.items()}
    if not isinstance(data, dict) or "topics" not in data:
        raise ConfigError(
            [ConfigProblem(path, 1, "", "expected a list of topics or a mapping with 'topics:'")]
        )
    return load_config_data(path, {"topics": data["topics"]}, lines).topics


def load_config_data(path: Path, data: Any, lines: Mapping[_Path, int]) -> NewsmonConfig:
    try:
        cfg = NewsmonConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems_from_validation(path, exc, lines)) from None
    problems = _check_duplicates(path, cfg, lines) + _check_queries(path, cfg, lines)
    if problems:
        raise ConfigError(problems)
    return cfg


# ------------------------------------------------------------------------------- OPML


def load_opml(path: Path | str) -> tuple[FeedConfig, ...]:
    """Feeds from an OPML subscription list (every outline with an ``xmlUrl``).

    The file is untrusted: no entity expansion, no network, no DTD loading.
    """
    from lxml import etree

    path = Path(path)
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        tree = etree.parse(str(path), parser)
    except OSError as exc:
        raise ConfigError([ConfigProblem(path, None, "", f"cannot read: {exc}")]) from None
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise ConfigError([ConfigProblem(path, line, "", f"invalid OPML: {exc.msg}")]) from None
    feeds: list[FeedConfig] = []
    problems: list[ConfigProblem] = []
    seen: set[str] = set()
    for outline in tree.iter("outline"):
        url = outline.get("xmlUrl")
        if not url:
            continue
        try:
            feed = FeedConfig(url=url, title=outline.get("title") or outline.get("text"))
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
            problems.append(ConfigProblem(path, outline.sourceline, "outline.xmlUrl", msg))
            continue
        if feed.url not in seen:
            seen.add(feed.url)
            feeds.append(feed)
    if problems:
        raise ConfigError(problems)
    return tuple(feeds)
