"""newsmon's matcher and SQLite FTS5 must return exactly the same documents.

Corpus: 300 BASIL articles (title + text), 72 extraction ground-truth bodies, and the short
texts below (accents, apostrophes, numbers, hyphens, repeated words). Queries are drawn
by hypothesis from the corpus vocabulary so that they actually match things, then
translated to FTS5 with ``ingest.topics.fts5.to_fts5``.
"""

from __future__ import annotations

import functools
import json
import random
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ingest.topics.fts5 import to_fts5
from ingest.topics.match import CompiledQuery, Document, PreparedDocument
from ingest.topics.query import QueryError, parse_query
from ingest.topics.tokens import tokenize_terms

DATA = Path("/work/shared/data")

SHORT_TEXTS = [
    ("Café society", "Le café était plein; naïve résumé of the fiancée's rôle in São Paulo."),
    ("CAFÉ", "cafe CAFE Café café — all the same word."),
    ("Don't panic", "Don't panic: it's the 1990s' rock'n'roll, isn't it?"),
    ("Numbers", "Revenue rose 2,000 percent to $3.5bn in 2025; 8200 people, unit 8200."),
    ("Hyphens", "A state-of-the-art e-mail system, co-operation and re-election."),
    ("Quotes", "“No Azure for Apartheid” said the staff; ‘No Tech for Apartheid’ too."),
    ("Repeats", "the the the cloud cloud azure azure azure azure"),
    ("Near far", "alpha one two three four five six seven eight nine ten eleven beta"),
    ("Near close", "beta alpha gamma delta alpha"),
    ("Phrase overlap", "new york new york new york city"),
    ("Azure cut", "Microsoft cut off Israel's Unit 8200 from Azure cloud services."),
    ("Nimbus", "Google and Amazon signed Project Nimbus, a $1.2 billion cloud contract."),
    ("Migration", "The ministry moved its data from Azure to Amazon Web Services (AWS)."),
    ("Protest", "Employees staged a sit-in; Microsoft fired workers over the protest."),
    ("Petition", "Over 1,500 staff signed a petition against military contracts."),
    ("Weather", "Cloudy skies and a cold front; azure blue sky expected by Sunday."),
    ("Sports", "The Seahawks beat the 49ers; Microsoft Surface tablets on the sideline."),
    ("Xbox", "Microsoft announced a new Xbox console and Windows 12 features."),
    ("Surveillance", "Mass surveillance of Palestinians' phone calls was stored in the cloud."),
    ("Facial", "Police deployed facial recognition cameras at the border crossing."),
    ("Intercepts", "Intercepted calls, intercepts and interception: the unit intercepts all."),
    ("Empty body", ""),
    ("", "Only a body, no title; Zürich, Genève, Kraków, Łódź, Øresund, straße."),
    ("Greek-free", "Résumé RÉSUMÉ resume ResumE résume"),
    ("Mixed case", "McDonald's iPhone eBay PowerPoint NASA nasa"),
    ("Apostrophes", "Israel’s army; Israel's army; Israels army"),
    ("Dates", "On 2025-09-25 at 10:30 UTC the decision (ref. A/B-12) was made."),
    ("Emoji", "Great news 🎉 for the cloud ☁️ team!"),
    ("Tabs", "tab\tseparated\nnew line\r\ncarriage"),
    ("Underscore", "snake_case and under_score_words"),
    ("Long word", "Supercalifragilisticexpialidocious antidisestablishmentarianism"),
    ("Prefix test", "intelligence intellectual intel intelsat Intel"),
    ("Near order", "contract signed with military; military contract; contracts military"),
    ("Same term", "azure"),
    ("Two terms", "azure cloud"),
    ("Phrase edge", "cloud azure"),
    ("Unit 8200", "Unit 8200, Israel's signals intelligence unit, used Azure."),
    ("Spanish", "La vigilancia masiva y el reconocimiento facial en España."),
    ("French", "Les employés ont protesté contre le contrat « Nimbus »."),
    ("German", "Die Überwachung von Telefongesprächen in Übersee."),
    ("Русский", "В которой 100 ккал; Йошкар-Ола. Ελληνικά: άλφα. 日本語のテキスト、ず。"),
]


@functools.cache
def corpus() -> list[tuple[str, str]]:
    docs = []
    with (DATA / "clustering-dev" / "basil.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            docs.append((row.get("title") or "", row.get("text") or ""))
    truth = json.loads((DATA / "extraction-dev" / "ground-truth.json").read_text("utf-8"))
    for key in sorted(truth):
        docs.append(("", truth[key]["articleBody"] or ""))
    docs.extend(SHORT_TEXTS)
    return docs


@functools.cache
def fts5_table() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:", check_same_thread=False)
    connection.execute(
        "CREATE VIRTUAL TABLE docs USING fts5(title, text, "
        "tokenize='unicode61 remove_diacritics 2')"
    )
    connection.executemany(
        "INSERT INTO docs(rowid, title, text) VALUES (?, ?, ?)",
        [(number, title, text) for number, (title, text) in enumerate(corpus())],
    )
    return connection


@functools.cache
def prepared() -> list[PreparedDocument]:
    return [PreparedDocument(Document(title=t, text=x)) for t, x in corpus()]


@functools.cache
def vocabulary() -> tuple[list[str], list[str]]:
    """(words by descending document frequency, 2-3 word phrases seen in the corpus)."""
    frequency: Counter[str] = Counter()
    phrases: list[str] = []
    chooser = random.Random(8200)
    for title, text in corpus():
        terms = tokenize_terms(title + " " + text)
        frequency.update(set(terms))
        for _ in range(3):
            if len(terms) > 3:
                start = chooser.randrange(len(terms) - 3)
                phrases.append(" ".join(terms[start : start + chooser.choice((2, 3))]))
    words = [w for w, _ in frequency.most_common()]
    return words, phrases


def fts5_ids(expression: str) -> set[int]:
    rows = fts5_table().execute("SELECT rowid FROM docs WHERE docs MATCH ?", (expression,))
    return {row[0] for row in rows}


def newsmon_ids(query: str) -> set[int]:
    compiled = CompiledQuery.from_node(parse_query(query))
    return {number for number, doc in enumerate(prepared()) if compiled.matches(doc)}


# --- query generation --------------------------------------------------------------------


@st.composite
def words(draw: st.DrawFn) -> str:
    ranked, _ = vocabulary()
    # Mostly mid-frequency words, sometimes very common or very rare ones.
    band = draw(st.sampled_from((50, 300, 300, 2000, len(ranked))))
    return ranked[draw(st.integers(0, min(band, len(ranked)) - 1))]


@st.composite
def leaves(draw: st.DrawFn, with_fields: bool = True) -> str:
    kind = draw(st.sampled_from(("word", "word", "prefix", "phrase")))
    if kind == "word":
        leaf = draw(words())
    elif kind == "prefix":
        word = draw(words().filter(lambda w: len(w) >= 4))
        leaf = word[: draw(st.integers(3, len(word) - 1))] + "*"
    else:
        _, phrases = vocabulary()
        leaf = '"' + draw(st.sampled_from(phrases)) + '"'
    if not with_fields:
        return leaf
    field = draw(st.sampled_from(("", "", "", "title:", "text:")))
    return field + leaf


@st.composite
def near_operands(draw: st.DrawFn, with_fields: bool = True) -> str:
    options = draw(st.lists(leaves(with_fields), min_size=1, max_size=3))
    return options[0] if len(options) == 1 else "(" + " OR ".join(options) + ")"


@st.composite
def nears(draw: st.DrawFn, with_fields: bool = True) -> str:
    distance = draw(st.sampled_from(("", "/0", "/1", "/2", "/5", "/10", "/30")))
    left, right = draw(near_operands(with_fields)), draw(near_operands(with_fields))
    return f"{left} NEAR{distance} {right}"


def combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    parts = st.lists(children, min_size=2, max_size=3)
    return st.one_of(
        parts.map(lambda p: " AND ".join(f"({x})" for x in p)),
        parts.map(lambda p: " ".join(f"({x})" for x in p)),
        parts.map(lambda p: " OR ".join(f"({x})" for x in p)),
        st.tuples(children, children).map(lambda p: f"({p[0]}) NOT ({p[1]})"),
        st.tuples(children, children).map(lambda p: f"({p[0]}) AND NOT ({p[1]})"),
        st.tuples(st.sampled_from(("title:", "text:")), children).map(lambda p: f"{p[0]}({p[1]})"),
    )


queries = st.recursive(st.one_of(leaves(), nears()), combine, max_leaves=6)
queries_without_fields = st.recursive(
    st.one_of(leaves(with_fields=False), nears(with_fields=False)), combine, max_leaves=6
).filter(lambda q: "title:" not in q and "text:" not in q)


def _parses(query: str) -> bool:
    """False for the generated queries our parser rejects on purpose (title:a NEAR text:b)."""
    try:
        parse_query(query)
    except QueryError:
        return False
    return True


# --- tests -------------------------------------------------------------------------------


def test_corpus_is_big_enough() -> None:
    assert len(corpus()) >= 400


@pytest.mark.parametrize(
    ("title", "text"), [(t, x) for t, x in SHORT_TEXTS if t or x] + corpus()[:40:4]
)
def test_tokens_match_fts5(title: str, text: str) -> None:
    connection = sqlite3.connect(":memory:")
    connection.execute(
        "CREATE VIRTUAL TABLE d USING fts5(x, tokenize='unicode61 remove_diacritics 2')"
    )
    connection.execute("CREATE VIRTUAL TABLE v USING fts5vocab(d, 'instance')")
    connection.execute("INSERT INTO d(rowid, x) VALUES (1, ?)", (title + "\n" + text,))
    theirs = [row[0] for row in connection.execute("SELECT term FROM v ORDER BY offset")]
    assert tokenize_terms(title + "\n" + text) == theirs


@settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(queries)
def test_same_documents_as_fts5(query: str) -> None:
    assume(_parses(query))
    expression = to_fts5(parse_query(query))
    assert newsmon_ids(query) == fts5_ids(expression), (query, expression)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.tuples(st.sampled_from(("title", "text")), queries_without_fields))
def test_field_groups_same_as_fts5(pair: tuple[str, str]) -> None:
    field, inner = pair
    query = f"{field}:({inner})"
    assume(_parses(query))
    expression = to_fts5(parse_query(query))
    assert newsmon_ids(query) == fts5_ids(expression), (query, expression)


def test_generated_queries_match_something() -> None:
    """The generator is useful: common words match many documents, NEAR finds pairs."""
    assert len(newsmon_ids("said")) > 100
    assert newsmon_ids("said NEAR/0 the")


@pytest.mark.parametrize(
    "query",
    [
        "cafe",
        "CAFÉ",
        "resume",
        '"don t"',
        "don't",
        "2,000",
        "8200",
        '"unit 8200"',
        "e-mail",
        '"new york city"',
        '"new york" NEAR/0 city',
        "alpha NEAR/10 beta",
        "alpha NEAR/9 beta",
        "beta NEAR/0 alpha",
        "alpha NEAR/0 alpha",
        "azure NEAR/0 azure",
        "contract NEAR/0 military",
        "military NEAR/0 contract",
        "intel*",
        "intercept*",
        "title:azure",
        "text:azure",
        "title:cafe OR text:zurich",
        "zurich lodz",
        "straße",
        "(azure OR aws) NEAR/3 (cloud OR services)",
        "azure NOT weather",
        "azure AND NOT (cut OR weather)",
    ],
)
def test_hand_picked_queries_same_as_fts5(query: str) -> None:
    assert newsmon_ids(query) == fts5_ids(to_fts5(parse_query(query))), query


# --- where newsmon differs from FTS5 on purpose (docs/query-language.md) -----------------


def _fts5_error(expression: str) -> bool:
    try:
        fts5_ids(expression)
    except sqlite3.OperationalError:
        return True
    return False


def test_top_level_not_is_everything_else() -> None:
    """FTS5 rejects a lone NOT; ours means "all documents but". Equal to SQL EXCEPT."""
    assert _fts5_error("NOT said")
    everything = set(range(len(corpus())))
    assert newsmon_ids("NOT said") == everything - fts5_ids('"said"')
    assert newsmon_ids("NOT said OR trump") == (everything - fts5_ids('"said"')) | fts5_ids(
        '"trump"'
    )


def test_implicit_and_has_the_precedence_of_and() -> None:
    """FTS5 binds juxtaposition tighter than NOT: `a NOT b c` is a NOT (b c) there."""
    query = "said NOT trump obama"
    ours = newsmon_ids(query)
    assert ours == fts5_ids('("said" AND "obama") NOT "trump"')
    assert fts5_ids("said NOT trump obama") == fts5_ids('"said" NOT ("trump" AND "obama")')
    assert ours != fts5_ids("said NOT trump obama")
    assert newsmon_ids(query) == fts5_ids(to_fts5(parse_query(query)))


def test_group_after_a_word_is_an_implicit_and() -> None:
    assert _fts5_error("said (trump OR obama)")
    assert newsmon_ids("said (trump OR obama)") == fts5_ids('"said" AND ("trump" OR "obama")')


def test_apostrophes_split_words_in_both_but_we_accept_them_in_queries() -> None:
    assert _fts5_error("don't")
    assert newsmon_ids("don't") == fts5_ids('"don t"')
    assert newsmon_ids("israel's") == fts5_ids('"israel s"')


def test_near_groups_distribute_like_ors_of_fts5_nears() -> None:
    query = "(trump OR obama) NEAR/3 (said OR told)"
    expected = set()
    for left in ("trump", "obama"):
        for right in ("said", "told"):
            expected |= fts5_ids(f"NEAR({left} {right}, 3)")
    assert newsmon_ids(query) == expected


def test_tokenizer_differences_on_rare_characters() -> None:
    """Python's Unicode tables are newer than SQLite's and fold a few letters differently;
    none of these occur in the tested corpus."""
    assert tokenize_terms("µ ſ ǡ") != ["μ", "s", "ǡ"]  # FTS5's folding of these
    assert tokenize_terms("ß Straße ﬁ ²") == ["ß", "straße", "ﬁ", "²"]  # same as FTS5
