"""SQL implementation of the clusterer's state (:class:`ingest.dedupe.ClusterState`).

Everything happens inside the caller's session/transaction: the pipeline stage opens one
transaction per batch, so a failed batch leaves no trace and a retry starts clean.
Lookups are indexed equality queries (LSH (band, bucket) prefix of the primary key;
story terms by (term, last_seen) inside the story window), so their cost follows the
active window, not the history.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table, delete, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ingest.dedupe import minhash
from ingest.dedupe.clusterer import Decision, Doc, StoryProfile
from ingest.dedupe.features import DOC_COUNT_TERM
from ingest.store.models import (
    Article,
    Fingerprint,
    LshBand,
    Story,
    StoryArticle,
    StoryTerm,
    TermStat,
)
from ingest.store.types import utcnow

_CHUNK = 500  # bound IN-lists (SQLite's variable limit, plan sizes)
T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _table(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


class SqlClusterState:
    """The clusterer's state in the newsmon tables, through one session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name
        # Profiles read or written in this transaction: a batch touches the same active
        # stories again and again, and decoding their JSON profile is the costly part.
        # Safe because the clusterer copies a profile before changing it, and the
        # clustering lock keeps other workers from changing stories meanwhile.
        self._profiles: dict[int, StoryProfile] = {}
        self._statements: dict[str, Any] = {}

    def _statement(self, name: str, build: Any) -> Any:
        """One statement object per kind, executed with lists of rows (executemany):
        compiled once and cached, instead of a new multi-row VALUES per call."""
        stmt = self._statements.get(name)
        if stmt is None:
            stmt = self._statements[name] = build()
        return stmt

    def _insert(self, model: Any) -> Any:
        if self.dialect == "postgresql":
            return postgresql.insert(_table(model))
        if self.dialect == "sqlite":
            return sqlite.insert(_table(model))
        raise NotImplementedError(f"unsupported database dialect: {self.dialect}")

    # ------------------------------------------------------------------ reads
    def assignment(self, article_id: int) -> Decision | None:
        row = self.session.execute(
            select(Article.story_id, Article.duplicate_of, Article.cluster_status).where(
                Article.id == article_id
            )
        ).one_or_none()
        if row is None or row.cluster_status != "done" or row.story_id is None:
            return None
        similarity = self.session.scalar(
            select(StoryArticle.similarity).where(StoryArticle.article_id == article_id)
        )
        return Decision(article_id, row.story_id, row.duplicate_of, similarity or 0.0, False)

    def lsh_candidates(self, buckets: list[tuple[int, int]]) -> list[int]:
        if not buckets:
            return []
        rows = self.session.execute(
            select(LshBand.article_id)
            .where(tuple_(LshBand.band, LshBand.bucket).in_(buckets))
            .distinct()
        )
        return sorted(int(r[0]) for r in rows)

    def signatures(self, article_ids: list[int]) -> dict[int, minhash.Signature]:
        out: dict[int, minhash.Signature] = {}
        for chunk in _chunks(article_ids):
            rows = self.session.execute(
                select(Fingerprint.article_id, Fingerprint.signature).where(
                    Fingerprint.article_id.in_(chunk)
                )
            )
            out.update({int(a): minhash.from_bytes(bytes(sig)) for a, sig in rows})
        return out

    def story_of(self, article_ids: list[int]) -> dict[int, int]:
        rows = self.session.execute(
            select(Article.id, Article.story_id).where(
                Article.id.in_(article_ids), Article.story_id.is_not(None)
            )
        )
        return {int(a): int(s) for a, s in rows if s is not None}

    def doc_count(self) -> int:
        value = self.session.scalar(select(TermStat.df).where(TermStat.term == DOC_COUNT_TERM))
        return int(value or 0)

    def document_frequencies(self, terms: list[int]) -> dict[int, int]:
        out: dict[int, int] = {}
        for chunk in _chunks(terms):
            rows = self.session.execute(
                select(TermStat.term, TermStat.df).where(TermStat.term.in_(chunk))
            )
            out.update({int(t): int(df) for t, df in rows})
        return out

    def story_candidates(
        self, terms: list[int], since: datetime, until: datetime
    ) -> dict[int, list[int]]:
        if not terms:
            return {}
        rows = self.session.execute(
            select(StoryTerm.story_id, StoryTerm.term)
            .join(Story, Story.id == StoryTerm.story_id)
            .where(
                StoryTerm.term.in_(terms),
                StoryTerm.last_seen >= since,
                Story.first_seen <= until,
            )
            .order_by(StoryTerm.term, StoryTerm.story_id)
        )
        hits: dict[int, list[int]] = {}
        for story_id, term in rows:
            hits.setdefault(int(story_id), []).append(int(term))
        return hits

    def load_stories(self, story_ids: list[int]) -> dict[int, StoryProfile]:
        if not story_ids:
            return {}
        found = {sid: self._profiles[sid] for sid in story_ids if sid in self._profiles}
        missing = [sid for sid in story_ids if sid not in found]
        if not missing:
            return found
        rows = self.session.scalars(select(Story).where(Story.id.in_(missing)))
        loaded = {
            s.id: StoryProfile.from_json(
                s.id,
                s.profile or {},
                first_seen=s.first_seen,
                last_seen=s.last_seen,
                article_count=s.article_count,
                headline=s.headline,
                headline_article_id=s.headline_article_id,
            )
            for s in rows
        }
        self._profiles.update(loaded)
        return {**found, **loaded}

    # ------------------------------------------------------------------ writes
    def add_document(self, terms: list[int]) -> None:
        rows = [{"term": t, "df": 1} for t in sorted({*terms, DOC_COUNT_TERM})]
        table = _table(TermStat)
        stmt = self._statement(
            "term_stats",
            lambda: self._insert(TermStat).on_conflict_do_update(
                index_elements=["term"], set_={"df": table.c.df + 1}
            ),
        )
        self.session.execute(stmt, rows)

    def _story_values(self, profile: StoryProfile) -> dict[str, Any]:
        return {
            "first_seen": profile.first_seen,
            "last_seen": profile.last_seen,
            "headline": profile.headline,
            "headline_article_id": profile.headline_article_id,
            "article_count": profile.article_count,
            "source_count": profile.source_count,
            "profile": profile.to_json(),
            "updated_at": utcnow(),
        }

    def _index(self, story_id: int, last_seen: datetime, terms: list[int]) -> None:
        self.session.execute(delete(StoryTerm).where(StoryTerm.story_id == story_id))
        if terms:
            rows = [
                {"term": t, "story_id": story_id, "weight": 0.0, "last_seen": last_seen}
                for t in terms
            ]
            stmt = self._statement("story_terms", lambda: self._insert(StoryTerm))
            self.session.execute(stmt, rows)

    def create_story(self, profile: StoryProfile, index_terms: list[int]) -> int:
        stmt = self._insert(Story).values(**self._story_values(profile)).returning(Story.id)
        story_id = int(self.session.execute(stmt).scalar_one())
        self._index(story_id, profile.last_seen, index_terms)
        self._profiles.pop(story_id, None)  # read back on first use (it gets its id there)
        return story_id

    def save_story(self, profile: StoryProfile, index_terms: list[int]) -> None:
        self.session.execute(
            update(Story).where(Story.id == profile.story_id).values(**self._story_values(profile))
        )
        self._index(profile.story_id, profile.last_seen, index_terms)
        self._profiles[profile.story_id] = profile

    def record(
        self,
        doc: Doc,
        decision: Decision,
        signature: minhash.Signature,
        buckets: list[tuple[int, int]] | None,
    ) -> None:
        self.session.execute(
            update(Article)
            .where(Article.id == doc.article_id)
            .values(
                story_id=decision.story_id,
                duplicate_of=decision.duplicate_of,
                cluster_status="done",
                claimed_until=None,
            )
        )
        role = "duplicate" if decision.duplicate_of is not None else "original"
        article_row = {
            "article_id": doc.article_id,
            "story_id": decision.story_id,
            "role": role,
            "similarity": decision.similarity,
        }
        self.session.execute(
            self._insert(StoryArticle)
            .values(article_row)
            .on_conflict_do_nothing(index_elements=["article_id"])
        )
        self.session.execute(
            self._insert(Fingerprint)
            .values(article_id=doc.article_id, signature=minhash.to_bytes(signature))
            .on_conflict_do_nothing(index_elements=["article_id"])
        )
        if buckets:
            rows = [{"band": b, "bucket": k, "article_id": doc.article_id} for b, k in buckets]
            stmt = self._statement(
                "lsh_bands",
                lambda: self._insert(LshBand).on_conflict_do_nothing(
                    index_elements=["band", "bucket", "article_id"]
                ),
            )
            self.session.execute(stmt, rows)


# ---------------------------------------------------------------------- the stage's queue
# Any fixed 64-bit number: the key of the PostgreSQL advisory lock that serialises
# clustering decisions across workers (see lock_clustering).
CLUSTER_LOCK_KEY = 0x6E6D_636C_7573


def lock_clustering(session: Session) -> None:
    """Serialise clustering across workers until the transaction ends.

    Two workers deciding at once could each start a story for the same event (each
    sees no candidate yet). PostgreSQL: a transaction-level advisory lock; SQLite: the
    transaction already holds the write lock (BEGIN IMMEDIATE). Decisions are cheap next to
    fetching, so one clustering writer at a time costs little.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(CLUSTER_LOCK_KEY)))


def claim_pending_articles(session: Session, limit: int) -> list[Article]:
    """Up to ``limit`` pending articles in id order (locked on PostgreSQL)."""
    stmt = (
        select(Article).where(Article.cluster_status == "pending").order_by(Article.id).limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def skip_article(session: Session, article_id: int) -> None:
    """Mark an article that cannot be clustered (failed extraction, no text)."""
    session.execute(
        update(Article).where(Article.id == article_id).values(cluster_status="skipped")
    )
