"""Topic matching throughput: 1,000 topics against 10,000 articles on one core.

Three ways to answer "which topics does each article match?", in the same run:
- indexed: newsmon's TopicMatcher (query index -> candidates -> evaluate candidates);
- brute force: the same evaluator on every (article, topic) pair;
- FTS5: index the articles in SQLite FTS5, then run the 1,000 queries (translated by
  ingest.topics.fts5) one after another.
All three must find the same (article, topic) pairs; the script fails if not.

Articles: BASIL (300, title + text) and the extraction ground truth (72 bodies),
recombined (title of one, paragraphs of two) into 10,000. Topics: analyst-shaped queries
(OR-lists of words, phrases and prefixes ANDed together, NEAR, NOT, title:) drawn from
the corpus vocabulary, with words of mid document frequency (0.3%-8% of articles).

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

from ingest.topics import Document, PreparedDocument, Topic, TopicMatcher, parse_query
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
    low, high = 0.003 * len(sample), 0.08 * len(sample)
    words = sorted(w for w, n in frequency.items() if low <= n <= high and len(w) >= 4)
    phrases = []
    chooser = random.Random(SEED)
    for article in sample[:500]:
        terms = tokenize_terms(article.text)
        for _ in range(2):
            if len(terms) > 3:
                start = chooser.randrange(len(terms) - 2)
                if all(len(t) >= 3 for t in terms[start : start + 2]):
                    phrases.append(" ".join(terms[start : start + 2]))
    return words, phrases


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


def run_newsmon(
    matcher: TopicMatcher, articles: list[Document], *, use_index: bool
) -> tuple[float, set[tuple[int, int]]]:
    pairs = set()
    started = time.perf_counter()
    for number, article in enumerate(articles):
        prepared = PreparedDocument(article)
        for topic in matcher.matching_numbers(prepared, use_index=use_index):
            pairs.add((number, topic))
    return time.perf_counter() - started, pairs


def run_fts5(
    topics: list[Topic], articles: list[Document]
) -> tuple[float, float, set[tuple[int, int]]]:
    connection = sqlite3.connect(":memory:")
    started = time.perf_counter()
    connection.execute(
        "CREATE VIRTUAL TABLE docs USING fts5(title, text, "
        "tokenize='unicode61 remove_diacritics 2')"
    )
    connection.executemany(
        "INSERT INTO docs(rowid, title, text) VALUES (?, ?, ?)",
        ((n, a.title, a.text) for n, a in enumerate(articles)),
    )
    connection.commit()
    indexed = time.perf_counter()
    expressions = [to_fts5(parse_query(topic.query)) for topic in topics]
    pairs = set()
    for number, expression in enumerate(expressions):
        for (rowid,) in connection.execute(
            "SELECT rowid FROM docs WHERE docs MATCH ?", (expression,)
        ):
            pairs.add((rowid, number))
    finished = time.perf_counter()
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

    indexed_s, indexed_pairs = run_newsmon(matcher, articles, use_index=True)
    brute_s, brute_pairs = run_newsmon(matcher, articles, use_index=False)
    fts_index_s, fts_query_s, fts_pairs = run_fts5(topics, articles)
    if not indexed_pairs == brute_pairs == fts_pairs:
        raise SystemExit(
            f"results differ: indexed {len(indexed_pairs)}, brute {len(brute_pairs)}, "
            f"fts5 {len(fts_pairs)}"
        )
    candidates = sum(len(matcher.candidates(PreparedDocument(a))) for a in articles[:1000])

    indexed_rate = len(articles) / indexed_s
    brute_rate = len(articles) / brute_s
    fts_rate = len(articles) / (fts_index_s + fts_query_s)
    speedup = indexed_rate / brute_rate
    print(f"matches: {len(indexed_pairs)} (article, topic) pairs, same in all three")
    print(f"candidates per article: {candidates / min(1000, len(articles)):.1f} of {len(topics)}")
    print(f"indexed      {indexed_rate:9.0f} articles/s  ({indexed_s:.1f} s)")
    print(f"brute force  {brute_rate:9.0f} articles/s  ({brute_s:.1f} s)")
    print(
        f"FTS5         {fts_rate:9.0f} articles/s  (index {fts_index_s:.1f} s"
        f" + {len(topics)} queries {fts_query_s:.1f} s)"
    )
    print(f"speed-up over brute force: {speedup:.1f}x (target {TARGET_SPEEDUP:.0f}x)")
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
            "name": "topics.match.fts5_articles_per_s",
            "value": round(fts_rate, 1),
            "unit": "articles/s (FTS5 index + 1,000 queries)",
            "baseline": round(indexed_rate, 1),
        },
    ]


if __name__ == "__main__":
    from _results import record

    record(main())
