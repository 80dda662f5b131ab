"""Feeds: bytes → entries (feedparser on bytes, JSON Feed with json), polling, health.

* :func:`parse_feed` — cleaned :class:`ParsedFeed` from feed bytes (pure);
* :func:`poll_feed` — one conditional GET + parse → :class:`PollOutcome` (no storage);
* :func:`plan_update` — the feed row's next schedule and health (pure);
* :mod:`ingest.feeds.schedule` — the adaptive interval, backoff and health rules.
"""

from ingest.feeds.identity import canonical_link, item_key
from ingest.feeds.parse import FeedItem, FeedParseError, ParsedFeed, ParseLimits, parse_feed
from ingest.feeds.poller import FeedState, PollOutcome, plan_update, poll_feed

__all__ = [
    "FeedItem",
    "FeedParseError",
    "FeedState",
    "ParseLimits",
    "ParsedFeed",
    "PollOutcome",
    "canonical_link",
    "item_key",
    "parse_feed",
    "plan_update",
    "poll_feed",
]
