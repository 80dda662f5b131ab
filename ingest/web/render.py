"""Pure helpers for the pages: chart geometry, snippet marking, safe links, time filters.

Everything here takes values and returns values; the templates draw the results as
inline SVG (no JavaScript, nothing fetched from the network) and Jinja escapes every
string on the way out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

SINCE_CHOICES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
_RELATIVE = re.compile(r"^(\d{1,4})([hd])$")


class FilterError(ValueError):
    """A page or API filter the user typed is not understood (message says why)."""


def parse_since(value: str | None, now: datetime) -> datetime | None:
    """``24h``/``7d``/``30d``/``<n>h``/``<n>d``, ``all``, or a date ``YYYY-MM-DD`` (UTC)."""
    if value is None or value in ("", "all"):
        return None
    if value in SINCE_CHOICES:
        return now - SINCE_CHOICES[value]
    relative = _RELATIVE.match(value)
    if relative:
        n, unit = int(relative.group(1)), relative.group(2)
        return now - (timedelta(hours=n) if unit == "h" else timedelta(days=n))
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise FilterError(
            f"since={value!r}: expected 24h, 7d, 30d, <n>h, <n>d, all or a date YYYY-MM-DD"
        ) from None
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def parse_until(value: str | None) -> datetime | None:
    """A date ``YYYY-MM-DD``: stories first seen before the end of that UTC day."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise FilterError(f"until={value!r}: expected a date YYYY-MM-DD") from None
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def safe_href(url: str | None) -> str | None:
    """Feed-derived links only when http(s): ``javascript:`` and friends become None."""
    if not url:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None


def format_time(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_ago(value: datetime | None, now: datetime) -> str:
    """``5 min ago`` / ``in 3 h``: coarse, for tables."""
    if value is None:
        return "never"
    seconds = (now - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        text = f"{int(seconds)} s"
    elif seconds < 3600:
        text = f"{int(seconds // 60)} min"
    elif seconds < 86400 * 2:
        text = f"{int(seconds // 3600)} h"
    else:
        text = f"{int(seconds // 86400)} d"
    return f"in {text}" if future else f"{text} ago"


# --------------------------------------------------------------------------- snippets


@dataclass(frozen=True)
class Segment:
    text: str
    hit: bool


def snippet_segments(snippet: Mapping[str, Any] | None) -> list[Segment]:
    """Split a stored snippet into plain and hit segments (the template marks hits).

    Spans are clamped to the text and overlapping spans merged, so a malformed payload
    can never raise or duplicate text.
    """
    if not snippet:
        return []
    text = str(snippet.get("text") or "")
    spans: list[tuple[int, int]] = []
    for span in snippet.get("spans") or []:
        try:
            start, end = int(span[0]), int(span[1])
        except (TypeError, ValueError, IndexError):
            continue
        start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
        if end > start:
            spans.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    out: list[Segment] = []
    if snippet.get("cut_before"):
        out.append(Segment("… ", False))
    pos = 0
    for start, end in merged:
        if start > pos:
            out.append(Segment(text[pos:start], False))
        out.append(Segment(text[start:end], True))
        pos = end
    if pos < len(text):
        out.append(Segment(text[pos:], False))
    if snippet.get("cut_after"):
        out.append(Segment(" …", False))
    return out


def hit_terms(hits: Sequence[Any]) -> list[str]:
    """The distinct terms that matched, in first-seen order."""
    seen: dict[str, None] = {}
    for hit in hits:
        if isinstance(hit, Mapping) and hit.get("term"):
            seen.setdefault(str(hit["term"]), None)
    return list(seen)


# --------------------------------------------------------------------------- charts


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    max_value: int
    first_label: str
    last_label: str


def bar_chart(
    values: Sequence[int], days: Sequence[date], width: int = 280, height: int = 48
) -> BarChart:
    """Per-day bars scaled to the largest value (a flat line when all are zero)."""
    n = max(len(values), 1)
    top = max([*values, 0])
    slot = width / n
    gap = 1.0 if slot > 3 else 0.0
    bars = []
    for i, value in enumerate(values):
        h = (value / top) * (height - 2) if top else 0.0
        h = max(h, 1.0)  # a 1 px stub keeps zero days visible as days
        label = days[i].isoformat() if i < len(days) else str(i)
        bars.append(Bar(i * slot, height - h, max(slot - gap, 1.0), h, int(value), label))
    return BarChart(
        width=width,
        height=height,
        bars=tuple(bars),
        max_value=top,
        first_label=days[0].isoformat() if days else "",
        last_label=days[-1].isoformat() if days else "",
    )


@dataclass(frozen=True)
class TimelineDot:
    x: float
    y: float
    article_id: int
    label: str
    role: str


@dataclass(frozen=True)
class TimelineRow:
    y: float
    source: str


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    label_width: int
    rows: tuple[TimelineRow, ...]
    dots: tuple[TimelineDot, ...]
    start_label: str
    end_label: str


def timeline(
    items: Sequence[tuple[int, str, datetime, str, str]],
    width: int = 760,
    row_height: int = 22,
    label_width: int = 170,
) -> Timeline:
    """One row per outlet, one dot per article at its time.

    ``items``: (article id, outlet, time, title, role), in any order.
    """
    sources: list[str] = []
    for _, source, _, _, _ in sorted(items, key=lambda i: i[2]):
        if source not in sources:
            sources.append(source)
    times = [i[2] for i in items]
    start, end = (min(times), max(times)) if times else (datetime.now(UTC),) * 2
    span = max((end - start).total_seconds(), 1.0)
    plot = width - label_width - 16
    rows = tuple(TimelineRow(10 + k * row_height, s) for k, s in enumerate(sources))
    row_y = {r.source: r.y for r in rows}
    dots = tuple(
        TimelineDot(
            x=label_width + 8 + plot * ((at - start).total_seconds() / span),
            y=row_y[source],
            article_id=article_id,
            label=f"{format_time(at)} — {source}: {title}",
            role=role,
        )
        for article_id, source, at, title, role in items
    )
    return Timeline(
        width=width,
        height=20 + len(rows) * row_height,
        label_width=label_width,
        rows=rows,
        dots=dots,
        start_label=format_time(start),
        end_label=format_time(end),
    )
