"""Topics: the query language analysts write, and matching articles against it.

Typical use::

    matcher = TopicMatcher([Topic("cloud", 'azure OR "google cloud"')])
    for found in matcher.match(Document(title=..., text=..., source="example.com")):
        print(found.topic, found.snippet.render("html") if found.snippet else "")

Pure logic: values in, values out. The syntax is documented in docs/query-language.md.
"""

from ingest.topics.index import Topic, TopicError, TopicMatch, TopicMatcher, anchors
from ingest.topics.match import (
    CompiledQuery,
    Document,
    Hit,
    PreparedDocument,
    Snippet,
    make_snippet,
    normalise_source,
)
from ingest.topics.query import Node, QueryError, parse_query
from ingest.topics.tokens import fold_token, tokenize, tokenize_terms

__all__ = [
    "CompiledQuery",
    "Document",
    "Hit",
    "Node",
    "PreparedDocument",
    "QueryError",
    "Snippet",
    "Topic",
    "TopicError",
    "TopicMatch",
    "TopicMatcher",
    "anchors",
    "fold_token",
    "make_snippet",
    "normalise_source",
    "parse_query",
    "tokenize",
    "tokenize_terms",
]
