"""SQL implementation of the clusterer's state (:class:`ingest.dedupe.ClusterState`).

Everything happens inside the caller's session/transaction: the pipeline stage opens one
transaction per batch, so a failed batch leaves no trace and a retry starts clean.
Lookups are indexed equality queries (LSH (band, bucket) prefix of the primary key;
story terms by (term, last_seen) inside the story window), so their cost follows the
active window, not the history.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import (
    Table,
    bindparam,
    delete,
    func,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from ingest.dedupe import minhash
from ingest.dedupe.clusterer import (
    CANDIDATES_PER_TERM,
    Decision,
    Doc,
    StoryProfile,
    latest_per_term,
)
from ingest.dedupe.features import DOC_COUNT_TERM
from ingest.store.models import (
    Article,
    ArticleTopic,
    Fingerprint,
    LshBand,
    Story,
    StoryArticle,
    StoryTerm,
    StoryTopic,
    TermStat,
)
from ingest.store.types import naive_utc, pg_int_array, utcnow
from ingest.store.upsert import cached_statement, dialect_insert

_CHUNK = 500  # bound IN-lists (SQLite's variable limit, plan sizes)
_PG_CHUNK = 20_000  # bound array parameters on PostgreSQL

# PostgreSQL: one statement text per lookup or bulk write, whatever the number of keys
# (arrays with ANY/unnest instead of IN-lists and multi-row VALUES). A fixed text is
# parsed once and prepared by the driver, and one unnest() insert costs the server a
# fraction of the same rows sent one by one.
_PG_DF = text("SELECT term, df FROM term_stats WHERE term = ANY(CAST(:terms AS BIGINT[]))")
_PG_LSH = text(
    "SELECT l.band, l.bucket, l.article_id FROM lsh_bands l"
    " JOIN unnest(CAST(:bands AS INTEGER[]), CAST(:buckets AS BIGINT[])) AS q(band, bucket)"
    " ON l.band = q.band AND l.bucket = q.bucket"
)
# Per term, the latest stories other than this batch's changed ones (their stored rows
# are stale; they are taken from memory): bounded index-only scans of (term, last_seen,
# story_id) INCLUDE (first_seen), however dense the window, with no visit to stories.
# One row per term, its stories latest first, with last_seen as integer microseconds
# (only compared, with the changed stories') and whether the story started early enough
# (first_seen <= until). This runs for every article; one row per (term, story) was
# ~330 rows per article at 100k stored, and turning them into Python objects cost as
# much as the query.
_ORDER = "ORDER BY x.last_seen DESC, x.story_id DESC"
_PG_STORY_CANDIDATES = text(
    "SELECT q.term, c.ids, c.seen, c.fits FROM unnest(CAST(:terms AS BIGINT[])) AS q(term)"
    f" CROSS JOIN LATERAL (SELECT array_agg(x.story_id {_ORDER}) AS ids,"
    f" array_agg(CAST(extract(epoch FROM x.last_seen) * 1000000 AS BIGINT) {_ORDER}) AS seen,"
    f" array_agg(x.first_seen <= :until {_ORDER}) AS fits"
    " FROM (SELECT t.story_id, t.last_seen, t.first_seen FROM story_terms t"
    " WHERE t.term = q.term AND t.last_seen >= :since"
    " AND t.story_id <> ALL(CAST(:changed AS BIGINT[]))"
    " ORDER BY t.last_seen DESC, t.story_id DESC LIMIT :per_term) AS x) AS c"
    " WHERE c.ids IS NOT NULL"
)
_SQLITE_STORY_CANDIDATES = text(
    "SELECT term, story_id, last_seen, first_seen FROM ("
    " SELECT t.term, t.story_id, t.last_seen, t.first_seen, row_number() OVER ("
    " PARTITION BY t.term ORDER BY t.last_seen DESC, t.story_id DESC) AS turn"
    " FROM story_terms t"
    " WHERE t.term IN :terms AND t.last_seen >= :since AND t.story_id NOT IN :changed)"
    " WHERE turn <= :per_term"
).bindparams(bindparam("terms", expanding=True), bindparam("changed", expanding=True))
_PG_ADD_DF = text(
    "INSERT INTO term_stats (term, df)"
    " SELECT * FROM unnest(CAST(:terms AS BIGINT[]), CAST(:dfs AS INTEGER[]))"
    " ON CONFLICT (term) DO UPDATE SET df = term_stats.df + excluded.df"
)
_PG_UNINDEX = text("DELETE FROM story_terms WHERE story_id = ANY(CAST(:ids AS BIGINT[]))")
_PG_INDEX = text(
    "INSERT INTO story_terms (term, story_id, weight, last_seen, first_seen)"
    " SELECT t, s, 0.0, l, f FROM unnest(CAST(:terms AS BIGINT[]),"
    " CAST(:stories AS BIGINT[]), CAST(:seen AS TIMESTAMP[]), CAST(:first AS TIMESTAMP[]))"
    " AS q(t, s, l, f)"
)
_PG_DECIDE = text(
    "UPDATE articles a SET story_id = q.story_id, duplicate_of = q.duplicate_of,"
    " cluster_status = 'done', claimed_until = NULL"
    " FROM unnest(CAST(:ids AS BIGINT[]), CAST(:stories AS BIGINT[]),"
    " CAST(:duplicates AS BIGINT[])) AS q(id, story_id, duplicate_of) WHERE a.id = q.id"
)
_PG_MEMBERS = text(
    "INSERT INTO story_articles (article_id, story_id, role, similarity, added_at)"
    " SELECT a, s, r, x, :now FROM unnest(CAST(:ids AS BIGINT[]), CAST(:stories AS BIGINT[]),"
    " CAST(:roles AS VARCHAR[]), CAST(:similarities AS DOUBLE PRECISION[])) AS q(a, s, r, x)"
    " ON CONFLICT (article_id) DO NOTHING"
)
_PG_FINGERPRINTS = text(
    "INSERT INTO fingerprints (article_id, signature, created_at)"
    " SELECT a, g, :now FROM unnest(CAST(:ids AS BIGINT[]), CAST(:signatures AS BYTEA[]))"
    " AS q(a, g) ON CONFLICT (article_id) DO NOTHING"
)
_PG_BANDS = text(
    "INSERT INTO lsh_bands (band, bucket, article_id)"
    " SELECT * FROM unnest(CAST(:bands AS INTEGER[]), CAST(:buckets AS BIGINT[]),"
    " CAST(:ids AS BIGINT[])) ON CONFLICT DO NOTHING"
)


# Decoded story profiles kept across batches by this process: (database, story id) ->
# (version, profile). Decoding a profile's JSON was the costliest part of reading
# candidate stories, and the same active stories are candidates batch after batch. A
# story's version is (article_count, updated_at) of its last write; every write stores
# a new updated_at, so a story another worker changed (or a write that was rolled back)
# no longer matches, and its profile is read again.
_ProfileVersion = tuple[int, datetime]
_PROFILE_CACHE: OrderedDict[tuple[str, int], tuple[_ProfileVersion, StoryProfile]]
_PROFILE_CACHE = OrderedDict()
_PROFILE_CACHE_SIZE = 20_000


def _version(article_count: int, updated_at: datetime) -> _ProfileVersion:
    return (int(article_count), updated_at.astimezone(UTC))


def _remember_profile(
    key: tuple[str, int], version: _ProfileVersion, profile: StoryProfile
) -> None:
    _PROFILE_CACHE[key] = (version, profile)
    _PROFILE_CACHE.move_to_end(key)
    while len(_PROFILE_CACHE) > _PROFILE_CACHE_SIZE:
        _PROFILE_CACHE.popitem(last=False)


def _cached_profile(key: tuple[str, int], version: _ProfileVersion) -> StoryProfile | None:
    found = _PROFILE_CACHE.get(key)
    if found is None or found[0] != version:
        return None
    _PROFILE_CACHE.move_to_end(key)
    return found[1]


class _StoryRow(NamedTuple):
    """A story's columns as :meth:`SqlClusterState.load_stories` reads them."""

    id: int
    first_seen: datetime
    last_seen: datetime
    article_count: int
    headline: str | None
    headline_article_id: int | None
    updated_at: datetime

    @property
    def version(self) -> _ProfileVersion:
        return _version(self.article_count, self.updated_at)


def _role(decision: Decision) -> str:
    """An article's role in its story (``story_articles.role``)."""
    return "duplicate" if decision.duplicate_of is not None else "original"


def _stored_time(value: Any) -> datetime:
    """A timestamp read by a raw statement: naive UTC (SQLite returns it as text)."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


def _micros(naive: datetime) -> int:
    """A naive UTC time as integer microseconds since the epoch (exact, as PostgreSQL's
    ``extract(epoch ...) * 1000000`` of the stored value)."""
    return (naive - _EPOCH) // _MICROSECOND


T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _table(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


class SqlClusterState:
    """The clusterer's state in the newsmon tables, through one session.

    Reads go to the database; writes are buffered in memory and written by
    :meth:`flush` in a few multi-row statements at the end of the batch, and every read
    sees the buffered writes first. That is sound because the caller holds the
    clustering lock (:func:`lock_clustering`) for the whole transaction: no other
    worker writes clustering state meanwhile, so the buffer and the tables together are
    the whole truth. It turns ~15 statements per article into ~4 (the reads), which is
    what lets one clustering writer keep up with many fetch workers.
    """

    def __init__(self, session: Session, pending_ids: Iterable[int] = ()) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name
        self._database = session.get_bind().engine.url.render_as_string(hide_password=True)
        self._pg = self.dialect == "postgresql"
        # Articles the caller claimed as pending: they have no decision yet (no query).
        self._pending_ids = set(pending_ids)
        # Profiles read or written in this transaction: a batch touches the same active
        # stories again and again, and decoding their JSON profile is the costly part.
        # Safe because the clusterer copies a profile before changing it.
        self._profiles: dict[int, StoryProfile] = {}
        # Document frequencies: values read from the table, plus this batch's counts.
        self._df_read: dict[int, int] = {}
        self._df_added: dict[int, int] = {}
        # Buffered writes (see flush), and what reads must see of them.
        self._decisions: dict[int, Decision] = {}
        self._signatures: dict[int, minhash.Signature] = {}
        self._buckets: dict[tuple[int, int], list[int]] = {}
        # Stored LSH bucket members read ahead by prefetch (key -> article ids).
        self._stored_buckets: dict[tuple[int, int], list[int]] = {}
        self._records: list[tuple[Doc, Decision, minhash.Signature, list[tuple[int, int]] | None]]
        self._records = []
        self._dirty_stories: dict[int, tuple[StoryProfile, frozenset[int]]] = {}
        # Articles moved to another story (Clusterer._regroup), in order, and where
        # each is now: moves are written after the decisions they change.
        self._moves: list[tuple[int, int, int]] = []
        self._moved: dict[int, int] = {}

    def _statement(self, name: str, build: Any) -> Any:
        return cached_statement(self.session, f"cluster_state.{name}", build)

    def _insert(self, model: Any) -> Any:
        return dialect_insert(self.session, model)

    # ------------------------------------------------------------------ reads
    def assignment(self, article_id: int) -> Decision | None:
        if article_id in self._decisions:
            return self._decisions[article_id]
        if article_id in self._pending_ids:
            return None
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

    def prefetch(self, terms: list[int], buckets: list[tuple[int, int]]) -> None:
        """Read the document frequencies and LSH bucket members a batch will look up,
        in a few queries (see :meth:`Clusterer.prepare`)."""
        self.document_frequencies(terms)
        unread = sorted({key for key in buckets if key not in self._stored_buckets})
        for key in unread:
            self._stored_buckets[key] = []
        for band, bucket, article_id in self._read_buckets(unread):
            self._stored_buckets[(int(band), int(bucket))].append(int(article_id))

    def _read_buckets(self, keys: Sequence[tuple[int, int]]) -> Iterable[Any]:
        if self._pg:
            for chunk in _chunks(keys, _PG_CHUNK):
                yield from self.session.execute(
                    _PG_LSH,
                    {
                        "bands": pg_int_array(b for b, _ in chunk),
                        "buckets": pg_int_array(k for _, k in chunk),
                    },
                )
            return
        for chunk in _chunks(keys):
            yield from self.session.execute(
                select(LshBand.band, LshBand.bucket, LshBand.article_id).where(
                    tuple_(LshBand.band, LshBand.bucket).in_(chunk)
                )
            )

    def lsh_candidates(self, buckets: list[tuple[int, int]]) -> list[int]:
        if not buckets:
            return []
        found: set[int] = set()
        unread = [key for key in buckets if key not in self._stored_buckets]
        for key in buckets:
            found.update(self._stored_buckets.get(key, ()))
            found.update(self._buckets.get(key, ()))
        found.update(int(row[2]) for row in self._read_buckets(unread))
        return sorted(found)

    def signatures(self, article_ids: list[int]) -> dict[int, minhash.Signature]:
        out = {a: self._signatures[a] for a in article_ids if a in self._signatures}
        stored = [a for a in article_ids if a not in out]
        for chunk in _chunks(stored):
            rows = self.session.execute(
                select(Fingerprint.article_id, Fingerprint.signature).where(
                    Fingerprint.article_id.in_(chunk)
                )
            )
            out.update({int(a): minhash.from_bytes(bytes(sig)) for a, sig in rows})
        return out

    def story_of(self, article_ids: list[int]) -> dict[int, int]:
        out = {a: self._moved[a] for a in article_ids if a in self._moved}
        out.update(
            (a, self._decisions[a].story_id)
            for a in article_ids
            if a in self._decisions and a not in out
        )
        stored = [a for a in article_ids if a not in out]
        if stored:
            rows = self.session.execute(
                select(Article.id, Article.story_id).where(
                    Article.id.in_(stored), Article.story_id.is_not(None)
                )
            )
            out.update({int(a): int(s) for a, s in rows if s is not None})
        return out

    def doc_count(self) -> int:
        return self.document_frequencies([DOC_COUNT_TERM]).get(DOC_COUNT_TERM, 0)

    def document_frequencies(self, terms: list[int]) -> dict[int, int]:
        unread = [t for t in terms if t not in self._df_read]
        for chunk in _chunks(unread, _PG_CHUNK if self._pg else _CHUNK):
            if self._pg:
                rows = self.session.execute(_PG_DF, {"terms": pg_int_array(chunk)})
            else:
                rows = self.session.execute(
                    select(TermStat.term, TermStat.df).where(TermStat.term.in_(chunk))
                )
            self._df_read.update(dict.fromkeys(chunk, 0))
            self._df_read.update({int(t): int(df) for t, df in rows})
        out: dict[int, int] = {}
        for term in terms:
            df = self._df_read[term] + self._df_added.get(term, 0)
            if df:
                out[term] = df
        return out

    def story_candidates(
        self, terms: list[int], since: datetime, until: datetime
    ) -> dict[int, list[int]]:
        if not terms:
            return {}
        changed = self._dirty_stories
        since_utc, until_utc = naive_utc(since), naive_utc(until)
        # Per term: stored candidates latest first, as (story ids, last_seen in
        # microseconds, first_seen <= until), already cut to CANDIDATES_PER_TERM.
        stored: dict[int, tuple[Sequence[int], Sequence[int], Sequence[bool]]] = {}
        if self._pg:
            parameters = {
                "terms": pg_int_array(terms),
                "since": since_utc,
                "until": until_utc,
                "changed": pg_int_array(changed),
                "per_term": CANDIDATES_PER_TERM,
            }
            for term, ids, seen, fits in self.session.execute(_PG_STORY_CANDIDATES, parameters):
                stored[int(term)] = (ids, seen, fits)
        else:
            stored = self._sqlite_story_candidates(terms, since_utc, until_utc)
        # This batch's changed stories compete with the stored ones for each term's places.
        contenders: dict[int, list[tuple[int, int, bool]]] = {}
        for story_id, (profile, index) in changed.items():
            if profile.last_seen >= since:
                entry = (
                    story_id,
                    _micros(naive_utc(profile.last_seen)),
                    naive_utc(profile.first_seen) <= until_utc,
                )
                for term in index.intersection(terms):
                    contenders.setdefault(term, []).append(entry)
        hits: dict[int, list[int]] = {}
        for term in sorted(set(terms)):
            ids, seen, fits = stored.get(term, ((), (), ()))
            extra = contenders.get(term)
            if extra:
                chosen = latest_per_term([*zip(ids, seen, fits, strict=True), *extra])
            else:  # stored rows come cut and ordered already
                chosen = [sid for sid, fit in zip(ids, fits, strict=True) if fit]
            for story_id in chosen:
                hits.setdefault(story_id, []).append(term)
        return hits

    def _sqlite_story_candidates(
        self, terms: list[int], since: datetime, until: datetime
    ) -> dict[int, tuple[Sequence[int], Sequence[int], Sequence[bool]]]:
        sharing: dict[int, list[tuple[int, int, bool]]] = {}
        for chunk in _chunks(terms):
            rows = self.session.execute(
                _SQLITE_STORY_CANDIDATES,
                {
                    "terms": list(chunk),
                    "since": since,
                    "changed": list(self._dirty_stories) or [0],
                    "per_term": CANDIDATES_PER_TERM,
                },
            )
            for term, story_id, last_seen, first_seen in rows:
                sharing.setdefault(int(term), []).append(
                    (
                        _micros(_stored_time(last_seen)),
                        int(story_id),
                        _stored_time(first_seen) <= until,
                    )
                )
        stored: dict[int, tuple[Sequence[int], Sequence[int], Sequence[bool]]] = {}
        for term, found in sharing.items():
            found.sort(reverse=True)
            stored[term] = (
                [sid for _, sid, _ in found],
                [seen for seen, _, _ in found],
                [fit for _, _, fit in found],
            )
        return stored

    def load_stories(self, story_ids: list[int]) -> dict[int, StoryProfile]:
        if not story_ids:
            return {}
        found = {sid: self._profiles[sid] for sid in story_ids if sid in self._profiles}
        missing = [sid for sid in story_ids if sid not in found]
        if not missing:
            return found
        # Columns, not ORM objects: no identity map or change tracking to pay for. A story
        # this process has never decoded comes with its profile in the same statement;
        # one it has a copy of comes without, and its profile is read only if the copy
        # is out of date.
        columns = (
            Story.id,
            Story.first_seen,
            Story.last_seen,
            Story.article_count,
            Story.headline,
            Story.headline_article_id,
            Story.updated_at,
        )
        known = [sid for sid in missing if (self._database, sid) in _PROFILE_CACHE]
        unknown = [sid for sid in missing if (self._database, sid) not in _PROFILE_CACHE]
        loaded: dict[int, StoryProfile] = {}
        stale = {}
        if unknown:
            for *fields, data in self.session.execute(
                select(*columns, Story.profile).where(Story.id.in_(unknown))
            ):
                row = _StoryRow(*fields)
                loaded[row.id] = self._decoded(row, data)
        if known:
            for values in self.session.execute(select(*columns).where(Story.id.in_(known))):
                row = _StoryRow(*values)
                cached = _cached_profile((self._database, row.id), row.version)
                if cached is None:
                    stale[row.id] = row
                else:
                    loaded[row.id] = cached
        if stale:
            profiles = self.session.execute(
                select(Story.id, Story.profile).where(Story.id.in_(sorted(stale)))
            )
            for story_id, data in profiles:
                loaded[story_id] = self._decoded(stale[story_id], data)
        self._profiles.update(loaded)
        return {**found, **loaded}

    def _decoded(self, row: _StoryRow, data: dict[str, Any] | None) -> StoryProfile:
        profile = StoryProfile.from_json(
            row.id,
            data or {},
            first_seen=row.first_seen,
            last_seen=row.last_seen,
            article_count=row.article_count,
            headline=row.headline,
            headline_article_id=row.headline_article_id,
        )
        _remember_profile((self._database, row.id), row.version, profile)
        return profile

    # ------------------------------------------------------------------ writes (buffered)
    def add_document(self, terms: list[int]) -> None:
        for term in {*terms, DOC_COUNT_TERM}:
            self._df_added[term] = self._df_added.get(term, 0) + 1

    @staticmethod
    def _story_values(profile: StoryProfile) -> dict[str, Any]:
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

    def create_story(self, profile: StoryProfile, index_terms: list[int]) -> int:
        # The id is needed now, so the row goes in now; its index and later updates wait.
        values = self._story_values(profile)
        stmt = self._insert(Story).values(**values).returning(Story.id)
        story_id = int(self.session.execute(stmt).scalar_one())
        stored = replace(profile, story_id=story_id)
        self._remember_written(stored, values)
        self._profiles[story_id] = stored
        self._dirty_stories[story_id] = (stored, frozenset(index_terms))
        return story_id

    def _remember_written(self, profile: StoryProfile, values: dict[str, Any]) -> None:
        # If this transaction rolls back, the stored version differs and is read again.
        version = _version(values["article_count"], values["updated_at"])
        _remember_profile((self._database, profile.story_id), version, profile)

    def save_story(self, profile: StoryProfile, index_terms: list[int]) -> None:
        self._profiles[profile.story_id] = profile
        self._dirty_stories[profile.story_id] = (profile, frozenset(index_terms))

    def record(
        self,
        doc: Doc,
        decision: Decision,
        signature: minhash.Signature,
        buckets: list[tuple[int, int]] | None,
    ) -> None:
        self._decisions[doc.article_id] = decision
        self._records.append((doc, decision, signature, buckets))
        if buckets:
            self._signatures[doc.article_id] = signature
            for key in buckets:
                self._buckets.setdefault(key, []).append(doc.article_id)

    def move_article(self, article_id: int, from_story: int, to_story: int) -> None:
        self._moves.append((article_id, from_story, to_story))
        # Reads see the move before it is written: decisions of this batch change here,
        # an article decided in an earlier batch is looked up in _moved first.
        self._moved[article_id] = to_story
        for moved, decision in list(self._decisions.items()):
            if article_id in (moved, decision.duplicate_of) and decision.story_id == from_story:
                self._decisions[moved] = replace(decision, story_id=to_story)

    # ------------------------------------------------------------------ flush
    def flush(self) -> None:
        """Write the buffered changes (call before the transaction commits).

        Rows go in sorted key order, so even a writer without the lock could not
        deadlock against another one.
        """
        self._flush_term_stats()
        self._flush_stories()
        self._flush_records()
        self._flush_moves()

    def _flush_moves(self) -> None:
        """Write the moves, after the decisions they change: the article and its copies
        change story, and are tagged again so that their topics count for their new
        story. The old story's topic matches that a moved article explained go, and its
        own articles with those topics are tagged again to explain them if they still
        match (the taggers' upserts make a second tagging change nothing else)."""
        for article_id, from_story, to_story in self._moves:
            moving = list(
                self.session.scalars(
                    select(Article.id).where(
                        (Article.id == article_id) | (Article.duplicate_of == article_id),
                        Article.story_id == from_story,
                    )
                )
            )
            if not moving:
                continue
            self.session.execute(
                update(Article)
                .where(Article.id.in_(moving))
                .values(story_id=to_story, tag_status="pending")
            )
            self.session.execute(
                update(StoryArticle)
                .where(StoryArticle.article_id.in_(moving))
                .values(story_id=to_story)
            )
            explained = list(
                self.session.scalars(
                    select(StoryTopic.topic_id).where(
                        StoryTopic.story_id == from_story, StoryTopic.article_id.in_(moving)
                    )
                )
            )
            if explained:
                self.session.execute(
                    delete(StoryTopic).where(
                        StoryTopic.story_id == from_story, StoryTopic.topic_id.in_(explained)
                    )
                )
                retag = select(ArticleTopic.article_id).where(ArticleTopic.topic_id.in_(explained))
                self.session.execute(
                    update(Article)
                    .where(Article.story_id == from_story, Article.id.in_(retag))
                    .values(tag_status="pending")
                )
        self._moves.clear()
        self._moved.clear()

    def _flush_term_stats(self) -> None:
        if not self._df_added:
            return
        table = _table(TermStat)
        added = sorted(self._df_added.items())
        rows = [{"term": t, "df": n} for t, n in added]

        def build() -> Any:
            stmt = self._insert(TermStat)
            return stmt.on_conflict_do_update(
                index_elements=["term"], set_={"df": table.c.df + stmt.excluded.df}
            )

        if self._pg:
            for chunk in _chunks(added, _PG_CHUNK):
                self.session.execute(
                    _PG_ADD_DF,
                    {
                        "terms": pg_int_array(t for t, _ in chunk),
                        "dfs": pg_int_array(n for _, n in chunk),
                    },
                )
        else:
            self.session.execute(self._statement("term_stats", build), rows)
        for term, count in self._df_added.items():
            self._df_read[term] = self._df_read.get(term, 0) + count
        self._df_added.clear()

    def _flush_stories(self) -> None:
        if not self._dirty_stories:
            return
        ids = sorted(self._dirty_stories)
        table = _table(Story)
        # Bind names must differ from column names in an UPDATE's SET clause.
        values = []
        for sid in ids:
            story, _ = self._dirty_stories[sid]
            written = self._story_values(story)
            self._remember_written(story, written)
            values.append({"b_id": sid, **{f"v_{k}": v for k, v in written.items()}})
        columns = [name[2:] for name in values[0] if name != "b_id"]
        update_story = self._statement(
            "story_update",
            lambda: (
                table.update()
                .where(table.c.id == bindparam("b_id"))
                .values({name: bindparam(f"v_{name}") for name in columns})
            ),
        )
        self.session.execute(update_story, values)
        terms = [
            (t, sid, profile.last_seen, profile.first_seen)
            for sid in ids
            for profile, index in [self._dirty_stories[sid]]
            for t in sorted(index)
        ]
        if self._pg:
            for chunk in _chunks(ids, _PG_CHUNK):
                self.session.execute(_PG_UNINDEX, {"ids": pg_int_array(chunk)})
            for part in _chunks(terms, _PG_CHUNK):
                self.session.execute(
                    _PG_INDEX,
                    {
                        "terms": pg_int_array(t for t, _, _, _ in part),
                        "stories": pg_int_array(sid for _, sid, _, _ in part),
                        "seen": [naive_utc(seen) for _, _, seen, _ in part],
                        "first": [naive_utc(first) for _, _, _, first in part],
                    },
                )
        else:
            for chunk in _chunks(ids):
                self.session.execute(delete(StoryTerm).where(StoryTerm.story_id.in_(chunk)))
            if terms:
                rows = [
                    {
                        "term": t,
                        "story_id": sid,
                        "weight": 0.0,
                        "last_seen": seen,
                        "first_seen": first,
                    }
                    for t, sid, seen, first in terms
                ]
                stmt = self._statement("story_terms", lambda: self._insert(StoryTerm))
                self.session.execute(stmt, rows)
        self._dirty_stories.clear()

    def _flush_records(self) -> None:
        if not self._records:
            return
        records = sorted(self._records, key=lambda r: r[0].article_id)
        decisions = [d for _, d, _, _ in records]
        fingerprints = [(doc.article_id, minhash.to_bytes(sig)) for doc, _, sig, _ in records]
        bands = [
            (b, k, doc.article_id)
            for doc, _, _, buckets in records
            for b, k in sorted(buckets or ())
        ]
        if self._pg:
            self._flush_records_pg(decisions, fingerprints, bands)
        else:
            self._flush_records_rows(decisions, fingerprints, bands)
        self._records.clear()
        # Flushed: later reads find these rows in the tables.
        self._signatures.clear()
        self._buckets.clear()
        self._stored_buckets.clear()

    def _flush_records_pg(
        self,
        decisions: list[Decision],
        fingerprints: list[tuple[int, bytes]],
        bands: list[tuple[int, int, int]],
    ) -> None:
        now = naive_utc(utcnow())
        for part in _chunks(decisions, _PG_CHUNK):
            ids = pg_int_array(d.article_id for d in part)
            stories = pg_int_array(d.story_id for d in part)
            self.session.execute(
                _PG_DECIDE,
                {
                    "ids": ids,
                    "stories": stories,
                    "duplicates": pg_int_array(d.duplicate_of for d in part),
                },
            )
            roles = [_role(d) for d in part]
            similarities = [d.similarity for d in part]
            self.session.execute(
                _PG_MEMBERS,
                {
                    "ids": ids,
                    "stories": stories,
                    "roles": roles,
                    "similarities": similarities,
                    "now": now,
                },
            )
        for prints in _chunks(fingerprints, _PG_CHUNK):
            self.session.execute(
                _PG_FINGERPRINTS,
                {
                    "ids": pg_int_array(a for a, _ in prints),
                    "signatures": [g for _, g in prints],
                    "now": now,
                },
            )
        for rows in _chunks(bands, _PG_CHUNK):
            self.session.execute(
                _PG_BANDS,
                {
                    "bands": pg_int_array(b for b, _, _ in rows),
                    "buckets": pg_int_array(k for _, k, _ in rows),
                    "ids": pg_int_array(a for _, _, a in rows),
                },
            )

    def _flush_records_rows(
        self,
        decisions: list[Decision],
        fingerprints: list[tuple[int, bytes]],
        bands: list[tuple[int, int, int]],
    ) -> None:
        table = _table(Article)
        update_article = self._statement(
            "article_update",
            lambda: (
                table.update()
                .where(table.c.id == bindparam("b_id"))
                .values(
                    story_id=bindparam("b_story"),
                    duplicate_of=bindparam("b_duplicate"),
                    cluster_status="done",
                    claimed_until=None,
                )
            ),
        )
        self.session.execute(
            update_article,
            [
                {"b_id": d.article_id, "b_story": d.story_id, "b_duplicate": d.duplicate_of}
                for d in decisions
            ],
        )
        members = self._statement(
            "story_articles",
            lambda: self._insert(StoryArticle).on_conflict_do_nothing(
                index_elements=["article_id"]
            ),
        )
        self.session.execute(
            members,
            [
                {
                    "article_id": d.article_id,
                    "story_id": d.story_id,
                    "role": _role(d),
                    "similarity": d.similarity,
                }
                for d in decisions
            ],
        )
        prints = self._statement(
            "fingerprints",
            lambda: self._insert(Fingerprint).on_conflict_do_nothing(index_elements=["article_id"]),
        )
        self.session.execute(prints, [{"article_id": a, "signature": g} for a, g in fingerprints])
        if bands:
            stmt = self._statement(
                "lsh_bands",
                lambda: self._insert(LshBand).on_conflict_do_nothing(
                    index_elements=["band", "bucket", "article_id"]
                ),
            )
            self.session.execute(
                stmt, [{"band": b, "bucket": k, "article_id": a} for b, k, a in bands]
            )


# ---------------------------------------------------------------------- the stage's queue
# Any fixed 64-bit number: the key of the PostgreSQL advisory lock that serialises
# clustering decisions across workers (see lock_clustering).
CLUSTER_LOCK_KEY = 0x6E6D_636C_7573


def lock_clustering(session: Session, *, wait: bool = True) -> bool:
    """Serialise clustering across workers until the transaction ends; False when
    ``wait`` is off and another worker holds the lock.

    Two workers deciding at once could each start a story for the same event (each
    sees no candidate yet). PostgreSQL: a transaction-level advisory lock; SQLite: the
    transaction already holds the write lock (BEGIN IMMEDIATE). With its writes buffered
    (:class:`SqlClusterState`), one writer decides a few hundred articles a second,
    which keeps up with many fetch workers.
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    if wait:
        session.execute(select(func.pg_advisory_xact_lock(CLUSTER_LOCK_KEY)))
        return True
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(CLUSTER_LOCK_KEY))))


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
