"""Topic matching throughput: 1,000 topics against 10,000 articles on one core.

Three ways to answer "which topics does each article match?", in the same run:
- indexed: newsmon's TopicMatcher (query index -> candidates -> evaluate candidates);
- brute force: the same evaluator on every (article, topic) pair;
- FTS5: index the articles in SQLite FTS5, then run the 1,000 queries (translated by
  ingest.topics.fts5) one after another.
All three must find the same (article, topic) pairs; the script fails if not. The
three in-process ways take turns on blocks of 250 articles, so that all see the same
spells of this shared machine's drifting speed.

Articles: BASIL (300, title + text) and the extraction ground truth (72 bodies),
recombined (title of one, paragraphs of two) into 10,000. Topics: analyst-shaped queries
(OR-lists of words, phrases and prefixes ANDed together, NEAR, NOT, title:) drawn from
the corpus vocabulary, with words of specific words (in 0.3%-2% of articles).

Usage: ``python bench/match.py [--articles N] [--topics N]``.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import itertools

from ingest.topics import (
    CompiledQuery,
    Document,
    PreparedDocument,
    Topic,
    TopicMatcher,
    parse_query,
)
from ingest.topics.fts5 import to_fts5
from ingest.topics.tokens import tokenize_terms

DATA = Path("/work/shared/data")
SEED = 8200
TARGET_SPEEDUP = 20.0


def base_texts() -> list[tuple[str, str]]:
    docs = []
    with (DATA / "clustering-dev" / "basil.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            docs.append((row.get("title") or "", row.get("text") or ""))
    truth = json.loads((DATA / "extraction-dev" / "ground-truth.json").read_text("utf-8"))
    for key in sorted(truth):
        body = truth[key]["articleBody"] or ""
        docs.append((body.split("\n", 1)[0][:120], body))
    return docs


def make_articles(count: int, chooser: random.Random) -> list[Document]:
    bases = base_texts()
    articles = []
    for _ in range(count):
        (title, first), (_, second) = chooser.choice(bases), chooser.choice(bases)
        paragraphs = [p for p in first.split("\n") if p.strip()]
        extra = [p for p in second.split("\n") if p.strip()]
        keep = paragraphs[: max(1, len(paragraphs) * 2 // 3)]
        keep += chooser.sample(extra, min(len(extra), 3))
        articles.append(Document(title=title, text="\n".join(keep)))
    return articles


def vocabulary(articles: list[Document]) -> tuple[list[str], list[str]]:
    frequency: Counter[str] = Counter()
    sample = articles[:2000]
    for article in sample:
        frequency.update(set(tokenize_terms(article.title + " " + article.text)))
    low, high = 0.003 * len(sample), 0.02 * len(sample)
    words = sorted(w for w, n in frequency.items() if low <= n <= high and len(w) >= 4)
    # Phrases analysts write name things ("project nimbus"): two-word sequences seen in the
    # corpus that contain at least one of the specific words.
    specific = set(words)
    phrases = []
    for article in sample[:1000]:
        terms = tokenize_terms(article.text)
        phrases.extend(
            f"{a} {b}"
            for a, b in itertools.pairwise(terms)
            if (a in specific or b in specific) and len(a) >= 3 and len(b) >= 3
        )
    return words, sorted(set(phrases))


def make_topics(count: int, articles: list[Document], chooser: random.Random) -> list[Topic]:
    words, phrases = vocabulary(articles)

    def leaf() -> str:
        roll = chooser.random()
        if roll < 0.7:
            return chooser.choice(words)
        if roll < 0.85:
            return f'"{chooser.choice(phrases)}"'
        word = chooser.choice([w for w in words[:2000] if len(w) >= 6] or words)
        return word[: chooser.randint(4, len(word) - 1)] + "*"

    def any_of(low: int, high: int) -> str:
        return "(" + " OR ".join(leaf() for _ in range(chooser.randint(low, high))) + ")"

    topics = []
    for number in range(count):
        shape = chooser.random()
        if shape < 0.4:
            query = f"{any_of(2, 6)} AND {any_of(2, 5)}"
        elif shape < 0.6:
            query = f"{any_of(2, 4)} NEAR/{chooser.choice((3, 5, 10))} {any_of(2, 4)}"
        elif shape < 0.75:
            query = f'"{chooser.choice(phrases)}" OR ({leaf()} NEAR/5 {leaf()})'
        elif shape < 0.9:
            query = f"{any_of(1, 3)} {leaf()} NOT {any_of(1, 3)}"
        else:
            query = f"title:{any_of(1, 4)} AND {any_of(2, 4)}"
        parse_query(query)  # a generated query must be valid
        topics.append(Topic(f"topic-{number}", query))
    return topics


Pairs = set[tuple[int, int]]
BLOCK = 250  # articles per turn: each way runs on the same block within about a second


def run_indexed(matcher: TopicMatcher, articles: list[Document], first: int, pairs: Pairs) -> float:
    """newsmon's way: prepare once, scan for the queries' words (C), look candidates up
    in the query index, evaluate them."""
    started = time.process_time()
    for number, article in enumerate(articles, first):
        prepared = PreparedDocument(article)
        for topic in matcher.matching_numbers(prepared):
            pairs.add((number, topic))
    return time.process_time() - started


def run_every_query(
    queries: list[CompiledQuery],
    articles: list[Document],
    first: int,
    pairs: Pairs,
    *,
    screened: bool,
) -> float:
    """Every query on every article (tokenised once), with the same compiled evaluator.

    ``screened=False`` is the plain brute force; ``screened=True`` adds each query's
    word-set screen (part of newsmon's prefiltering), shown to separate the two effects.
    """
    started = time.process_time()
    for number, article in enumerate(articles, first):
        prepared = PreparedDocument(article)
        for topic, query in enumerate(queries):
            if query.matches(prepared) if screened else query.predicate(prepared):
                pairs.add((number, topic))
    return time.process_time() - started


def run_in_turns(
    matcher: TopicMatcher, queries: list[CompiledQuery], articles: list[Document]
) -> tuple[list[float], list[Pairs]]:
    """CPU seconds and pairs of the three in-process ways, taking turns block by block.

    This machine's speed drifts by 15-20% within minutes: run one way after the other
    and the ratio measures the drift too. In turns, every way sees the same spells.
    """
    seconds, pairs = [0.0, 0.0, 0.0], [set(), set(), set()]  # indexed, every, screened
    for first in range(0, len(articles), BLOCK):
        block = articles[first : first + BLOCK]
        seconds[0] += run_indexed(matcher, block, first, pairs[0])
        seconds[1] += run_every_query(queries, block, first, pairs[1], screened=False)
        seconds[2] += run_every_query(queries, block, first, pairs[2], screened=True)
    return seconds, pairs


def run_fts5(
    topics: list[Topic], articles: list[Document]
) -> tuple[float, float, set[tuple[int, int]]]:
    connection = sqlite3.connect(":memory:")
    started = time.process_time()
    connection.execute(
        "CREATE VIRTUAL TABLE docs USING fts5(title, text, "
        "tokenize='unicode61 remove_diacritics 2')"
    )
    connection.executemany(
        "INSERT INTO docs(rowid, title, text) VALUES (?, ?, ?)",
        ((n, a.title, a.text) for n, a in enumerate(articles)),
    )
    connection.commit()
    indexed = time.process_time()
    expressions = [to_fts5(parse_query(topic.query)) for topic in topics]
    pairs = set()
    for number, expression in enumerate(expressions):
        for (rowid,) in connection.execute(
            "SELECT rowid FROM docs WHERE docs MATCH ?", (expression,)
        ):
            pairs.add((rowid, number))
    finished = time.process_time()
    return indexed - started, finished - indexed, pairs


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--topics", type=int, default=1_000)
    args = parser.parse_args(argv)
    chooser = random.Random(SEED)
    articles = make_articles(args.articles, chooser)
    topics = make_topics(args.topics, articles, chooser)
    matcher = TopicMatcher(topics)
    print(
        f"{len(articles)} articles ({sum(len(a.text) for a in articles) // len(articles)} chars"
        f" on average), {len(topics)} topics, {len(matcher.always_checked)} always checked"
    )

    queries = [CompiledQuery.from_node(parse_query(topic.query)) for topic in topics]
    (indexed_s, brute_s, screened_s), (indexed_pairs, brute_pairs, screened_pairs) = run_in_turns(
        matcher, queries, articles
    )
    fts_index_s, fts_query_s, fts_pairs = run_fts5(topics, articles)
    if not indexed_pairs == brute_pairs == screened_pairs == fts_pairs:
        raise SystemExit(
            f"results differ: indexed {len(indexed_pairs)}, brute {len(brute_pairs)}, "
            f"screened {len(screened_pairs)}, fts5 {len(fts_pairs)}"
        )
    started = time.process_time()
    for article in articles:
        PreparedDocument(article)
    tokenise_s = time.process_time() - started
    sample = articles[:1000]
    candidates = sum(len(matcher.candidates(PreparedDocument(a))) for a in sample)

    indexed_rate = len(articles) / indexed_s
    brute_rate = len(articles) / brute_s
    screened_rate = len(articles) / screened_s
    fts_rate = len(articles) / (fts_index_s + fts_query_s)
    speedup = indexed_rate / brute_rate
    print(f"matches: {len(indexed_pairs)} (article, topic) pairs, the same in all four runs")
    print(f"candidates per article: {candidates / len(sample):.1f} of {len(topics)}")
    print("CPU time of this process (one core):")
    print(f"  indexed               {indexed_rate:8.0f} articles/s  ({indexed_s:.1f} s)")
    print(f"  every query           {brute_rate:8.0f} articles/s  ({brute_s:.1f} s)")
    print(f"  every query, screened {screened_rate:8.0f} articles/s  ({screened_s:.1f} s)")
    print(
        f"  FTS5                  {fts_rate:8.0f} articles/s  (index {fts_index_s:.1f} s"
        f" + {len(topics)} queries {fts_query_s:.1f} s)"
    )
    print(f"  (preparing alone      {len(articles) / tokenise_s:8.0f} articles/s: joined terms)")
    matching_speedup = (brute_s - tokenise_s) / max(1e-9, indexed_s - tokenise_s)
    # Both paths prepare every article the same way (its joined terms; the word sets
    # come after, and differ): even a matching step that cost nothing could not make
    # the indexed path faster than this.
    ceiling = brute_s / tokenise_s
    print(f"speed-up over every query: {speedup:.1f}x (target {TARGET_SPEEDUP:.0f}x)")
    print(f"speed-up of the matching step alone (preparing excluded): {matching_speedup:.1f}x")
    print(f"ceiling with a matching step that costs nothing (preparing only): {ceiling:.1f}x")
    print(f"speed-up over every query, screened: {indexed_rate / screened_rate:.1f}x")
    return [
        {
            "name": "topics.match.articles_per_s",
            "value": round(indexed_rate, 1),
            "unit": "articles/s (1 core, 1,000 topics)",
            "baseline": round(brute_rate, 1),
        },
        {
            "name": "topics.match.speedup_vs_brute_force",
            "value": round(speedup, 1),
            "unit": "x",
            "baseline": 1.0,
            "target": TARGET_SPEEDUP,
            "met": speedup >= TARGET_SPEEDUP,
        },
        {
            "name": "topics.match.matching_step_speedup_vs_every_query",
            "value": round(matching_speedup, 1),
            "unit": "x (preparing excluded)",
            "baseline": 1.0,
        },
        {
            "name": "topics.match.speedup_ceiling_preparing_bound",
            "value": round(ceiling, 1),
            "unit": "x (every query / preparing alone)",
            "baseline": 1.0,
        },
        {
            "name": "topics.match.speedup_vs_screened_every_query",
            "value": round(indexed_rate / screened_rate, 1),
            "unit": "x",
            "baseline": 1.0,
        },
        {
            "name": "topics.match.fts5_articles_per_s",
            "value": round(fts_rate, 1),
            "unit": "articles/s (FTS5 index + 1,000 queries)",
            "baseline": round(indexed_rate, 1),
        },
    ]


if __name__ == "__main__":
    from _results import record

    record(main())
