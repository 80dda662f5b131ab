"""Stage: match clustered articles against every topic, explain each match, and write the
alert outbox in the same transaction.

An article's matches are stored with their hit spans and a snippet (the "why it
matched"); the first matching article of a story explains the story's match. Every story
this stage touches is handed to :func:`ingest.pipeline.alerts.enqueue_alerts` inside the
same transaction, so an alert row exists if and only if the match that causes it does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from ingest.store import topics_repo as repo
from ingest.store.db import run_transaction, transaction
from ingest.store.types import utcnow
from ingest.topics import Document, Snippet, Topic, TopicMatcher

CLAIM_LEASE = timedelta(minutes=15)


@dataclass
class TagSummary:
    articles: int = 0
    matches: int = 0
    story_matches: int = 0
    alerts_enqueued: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def snippet_payload(snippet: Snippet | None) -> dict[str, Any] | None:
    """A snippet as stored: text window plus hit spans; renderers escape and mark."""
    if snippet is None:
        return None
    return {
        "field": snippet.field,
        "text": snippet.text,
        "spans": [list(span) for span in snippet.spans],
        "cut_before": snippet.cut_before,
        "cut_after": snippet.cut_after,
    }


# Matchers already built in this process, by the topics they were built from: a worker
# tags batch after batch with the same topics, and compiling and indexing a thousand
# queries costs more than tagging a batch.
_MATCHERS: dict[tuple[Any, ...], TopicMatcher] = {}
_MATCHERS_KEPT = 4


def build_matcher(session: Session) -> tuple[TopicMatcher, dict[str, int]]:
    topics = repo.enabled_topics(session)
    key = tuple(
        (t.id, t.name, t.query, t.description, tuple(t.sources or ()), tuple(t.languages or ()))
        for t in topics
    )
    matcher = _MATCHERS.get(key)
    if matcher is None:
        matcher = TopicMatcher(
            [Topic(t.name, t.query, t.description, t.sources, t.languages) for t in topics]
        )
        if len(_MATCHERS) >= _MATCHERS_KEPT:
            _MATCHERS.pop(next(iter(_MATCHERS)))
        _MATCHERS[key] = matcher
    return matcher, {t.name: t.id for t in topics}


def _enqueue(session: Session, story_ids: set[int]) -> int:
    try:
        from ingest.pipeline.alerts import enqueue_alerts
    except ImportError:  # alerts not installed in this build: matches are still stored
        return 0
    return int(enqueue_alerts(session, sorted(story_ids), utcnow()))


def tag_articles(db_url: str, article_ids: Sequence[int]) -> TagSummary:
    """Tag the given (claimed) articles; one transaction, idempotent.

    Story rows are written last and in (story, topic) order: two taggers whose articles
    share a story then take their locks in the same order (no deadlock), and a tagger
    that still loses a race runs its whole transaction again.
    """

    def work(session: Session) -> TagSummary:
        summary = TagSummary()
        matcher, topic_ids = build_matcher(session)
        articles = repo.load_for_tagging(session, article_ids)
        touched: set[int] = set()
        article_matches: list[repo.Match] = []
        story_matches: dict[tuple[int, int], tuple[int, list[dict[str, Any]], Any]] = {}
        for article in articles:
            summary.articles += 1
            document = Document(
                title=article.title,
                text=article.text,
                source=article.source,
                language=article.language,
                author=article.author,
            )
            for found in matcher.match(document):
                hits = [hit.as_dict() for hit in found.hits]
                snippet = snippet_payload(found.snippet)
                topic_id = topic_ids[found.topic]
                article_matches.append(repo.Match(article.id, topic_id, hits, snippet))
                summary.matches += 1
                if article.story_id is not None:
                    # The earliest article of the batch explains the story's match.
                    story_matches.setdefault(
                        (article.story_id, topic_id), (article.id, hits, snippet)
                    )
            if article.story_id is not None:
                touched.add(article.story_id)
        repo.save_article_matches(session, article_matches)
        summary.story_matches = repo.save_story_matches(
            session,
            [
                repo.StoryMatch(story_id, topic_id, article_id, hits, snippet)
                for (story_id, topic_id), (article_id, hits, snippet) in story_matches.items()
            ],
        )
        repo.mark_tagged(session, [a.id for a in articles])
        summary.alerts_enqueued = _enqueue(session, touched)
        return summary

    return run_transaction(db_url, work)


def claim_untagged(db_url: str, limit: int = 500) -> list[int]:
    with transaction(db_url) as session:
        return repo.claim_untagged(session, limit, CLAIM_LEASE)


def tag_pending(db_url: str, limit: int = 500) -> TagSummary:
    """Claim and tag batches until nothing is left (or ``limit`` per batch)."""
    total = TagSummary()
    while True:
        ids = claim_untagged(db_url, limit)
        if not ids:
            return total
        part = tag_articles(db_url, ids)
        total.articles += part.articles
        total.matches += part.matches
        total.story_matches += part.story_matches
        total.alerts_enqueued += part.alerts_enqueued
