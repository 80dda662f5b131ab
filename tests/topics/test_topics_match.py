"""Matching one document: words, fields, NEAR, hits with exact offsets, snippets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.topics import (
    CompiledQuery,
    Document,
    Hit,
    PreparedDocument,
    Topic,
    TopicError,
    TopicMatcher,
    make_snippet,
    normalise_source,
    parse_query,
    tokenize,
)


def matches(query: str, document: Document) -> bool:
    return CompiledQuery.from_node(parse_query(query)).matches(PreparedDocument(document))


def hits(query: str, document: Document) -> list[Hit]:
    compiled = CompiledQuery.from_node(parse_query(query))
    prepared = PreparedDocument(document)
    assert compiled.matches(prepared)
    return compiled.explain(prepared)


DOC = Document(
    title="Microsoft cuts Israel’s Unit 8200 off Azure",
    text=(
        "ZÜRICH — The Israeli military's Unit 8200 stored intercepted phone calls on Azure. "
        "Microsoft said the Défense ministry's use breached its terms. Azure, azure, AZURE."
    ),
    source="theguardian.com",
    language="en-GB",
    author="Harry Davies",
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("azure", True),
        ("AZURE", True),
        ("Azuré", True),
        ("azur", False),  # whole words only
        ("zurich", True),  # accent-insensitive in the document
        ("ZÜRİCH", True),
        ("defense", True),
        ("défense", True),
        ("defence", False),
        ("israel", True),  # Israel’s -> israel, s
        ("israel's", True),
        ('"israel s unit"', True),
        ("azu*", True),
        ("intercept*", True),
        ("interception*", False),
        ('"phone calls"', True),
        ('"calls phone"', False),
        ('"unit 8200"', True),
        ('"unit 8201"', False),
        ("military AND NOT weather", True),
        ("military NOT azure", False),
        ("NOT weather", True),
        ("weather OR sport", False),
        ("title:azure", True),
        ("title:intercepted", False),
        ("text:intercepted", True),
        ("intercepted", True),
        ("davies", False),  # author is not searched by default
        ("author:davies", True),
        ("author:(harry NEAR/0 davies)", True),
        ("source:theguardian.com", True),
        ("source:guardian.com", False),
        ("source:com", True),  # a parent domain matches its subdomains
        ("source:thegu*", True),
        ("lang:en", True),
        ("lang:en-gb", True),
        ("lang:fr", False),
        ("lang:e*", True),
    ],
)
def test_match(query: str, expected: bool) -> None:
    assert matches(query, DOC) is expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("alpha NEAR/2 beta", True),  # alpha x y beta: two words between
        ("alpha NEAR/1 beta", False),
        ("beta NEAR/2 alpha", True),  # either order
        ("alpha NEAR/0 x", True),
        ("x NEAR/0 alpha", True),
        ("alpha NEAR/0 y", False),
        ('"alpha x" NEAR/0 y', True),  # counted from the end of the phrase
        ('"alpha x" NEAR/0 beta', False),
        ('"alpha x" NEAR/1 beta', True),
        ("alpha NEAR/0 alpha", True),  # an occurrence may pair with itself, as in FTS5
        ("(zeta OR beta) NEAR/0 y", True),
        ("(zeta OR gamma) NEAR/0 y", False),
        ("title:(alpha NEAR/0 x)", False),
        ("text:(alpha NEAR/0 x)", True),
        ("alpha NEAR beta", True),  # default distance 10
    ],
)
def test_near(query: str, expected: bool) -> None:
    document = Document(title="beta", text="alpha x y beta " + "pad " * 20 + "gamma")
    assert matches(query, document) is expected


def test_near_default_distance_is_ten() -> None:
    ten = Document(text="alpha " + "pad " * 10 + "beta")
    eleven = Document(text="alpha " + "pad " * 11 + "beta")
    assert matches("alpha NEAR beta", ten)
    assert not matches("alpha NEAR beta", eleven)
    assert matches("beta NEAR/11 alpha", eleven)


def test_near_is_per_field() -> None:
    document = Document(title="alpha", text="beta")
    assert not matches("alpha NEAR/100 beta", document)


def test_hits_are_offsets_into_the_original_text() -> None:
    found = hits('azure OR zurich OR "israel s" OR défense OR intercept*', DOC)
    for hit in found:
        original = getattr(DOC, hit.field)[hit.start : hit.end]
        assert original.casefold().replace("é", "e").replace("ü", "u").replace("’", "'") in {
            "azure",
            "zurich",
            "israel's",
            "defense",
            "intercepted",
        }
    assert Hit("title", 38, 43, "azure") in found
    assert Hit("title", 15, 23, '"israel s"') in found
    assert [h.term for h in found if h.field == "text"].count("azure") == 4
    assert {h.term for h in found} == {"azure", "zurich", '"israel s"', "defense", "intercept*"}


def test_hits_offsets_survive_length_changing_lowercase() -> None:
    # "İ".lower() is two characters: offsets must still point into the original.
    document = Document(text="İstanbul İİİ Ankara ß café")
    found = hits("ankara OR istanbul OR cafe", document)
    assert [document.text[h.start : h.end] for h in found] == ["İstanbul", "Ankara", "café"]


def test_hits_skip_negated_and_unmatched_branches() -> None:
    found = hits("(azure AND weather) OR (military NOT sport)", DOC)
    assert {h.term for h in found} == {"military"}


def test_near_hits_are_the_close_occurrences() -> None:
    document = Document(text="azure far away words here and more azure unit")
    found = hits("azure NEAR/0 unit", document)
    assert [(h.start, h.end, h.term) for h in found] == [(35, 40, "azure"), (41, 45, "unit")]


def test_keyword_hits() -> None:
    found = hits("source:theguardian.com lang:en", DOC)
    assert Hit("source", 0, 15, "theguardian.com") in found
    assert Hit("lang", 0, 5, "en") in found


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(max_size=60))
def test_token_offsets_point_at_their_terms(text: str) -> None:
    for token in tokenize(text):
        assert token.start < token.end
        assert token.term, text
        piece = text[token.start : token.end]
        assert [t.term for t in tokenize(piece)] == [token.term]


def test_snippet_marks_hits_and_escapes_html() -> None:
    document = Document(title="t", text="Before <b>&</b> the Azure cloud & more after it.")
    found = hits('"azure cloud"', document)
    snippet = make_snippet(document, found)
    assert snippet.field == "text"
    assert snippet.text[snippet.spans[0][0] : snippet.spans[0][1]] == "Azure cloud"
    assert snippet.render() == "Before <b>&</b> the «Azure cloud» & more after it."
    assert snippet.render("html") == (
        "Before &lt;b&gt;&amp;&lt;/b&gt; the <mark>Azure cloud</mark> &amp; more after it."
    )
    with pytest.raises(ValueError, match="style"):
        snippet.render("markdown")


def test_snippet_window_of_long_text() -> None:
    text = "lorem ipsum " * 100 + "the Azure contract was cut " + "dolor sit " * 100
    document = Document(text=text)
    snippet = make_snippet(document, hits("azure NEAR/3 cut", document))
    assert snippet.cut_before and snippet.cut_after
    assert len(snippet.text) <= 260
    rendered = snippet.render()
    assert rendered.startswith("…") and rendered.endswith("…")
    assert "«Azure» contract was «cut»" in rendered
    # cut points fall between words
    assert snippet.text.split(" ")[0] in ("lorem", "ipsum")


def test_snippet_prefers_text_then_title_and_handles_keyword_only() -> None:
    document = Document(title="Azure news", text="Body without it.", source="example.com")
    snippet = make_snippet(document, hits("azure", document))
    assert (snippet.field, snippet.render()) == ("title", "«Azure» news")
    keyword_only = make_snippet(document, hits("source:example.com", document))
    assert (keyword_only.field, keyword_only.spans) == ("text", ())


def test_topic_filters_and_matcher_results() -> None:
    matcher = TopicMatcher(
        [
            Topic("guardian azure", "azure", sources=("theguardian.com",)),
            Topic("bbc azure", "azure", sources=("bbc.co.uk",)),
            Topic("french", "azure", languages=("fr",)),
            Topic("english", "azure", languages=("en",)),
        ]
    )
    results = matcher.match(DOC)
    assert [r.topic for r in results] == ["guardian azure", "english"]
    assert results[0].snippet is not None
    assert "«Azure»" in results[0].snippet.render()


def test_bad_topic_query_names_the_topic() -> None:
    with pytest.raises(TopicError) as caught:
        TopicMatcher([Topic("ok", "azure"), Topic("broken", "(azure")])
    assert caught.value.topic == "broken"
    assert str(caught.value).startswith("topic 'broken': column 7: expected ')'")


@pytest.mark.parametrize(
    ("source", "url", "expected"),
    [
        ("", "https://www.NYTimes.com/2025/x.html", "nytimes.com"),
        ("BBC.co.uk", "https://other.example/", "bbc.co.uk"),
        ("", "", ""),
        ("", "not a url", ""),
        ("", "http://[::1", ""),
    ],
)
def test_normalise_source(source: str, url: str, expected: str) -> None:
    assert normalise_source(source, url) == expected
