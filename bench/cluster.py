"""Throughput and scaling of dedupe + story clustering on a 100,000-article stream.

The stream is synthesised from BASIL and extraction-dev texts: each synthetic event takes a
base text, swaps ~15% of its words for event-specific made-up names (so events differ),
and gets 1-6 reports (sentence subsets, re-ordered, re-worded) plus wire copies (~20%).
Published times spread over ~60 days, so the 72 h window keeps the active set bounded.

Figures: docs/s, peak RSS, and the mean per-article CPU time over the 1,000 articles
before 10k, 50k and 100k stored articles (the ratio 100k/10k must stay <= 1.5: lookups
follow the window, not the history), beside datasketch's in-memory MinHashLSH (dedupe only; ours is
also timed dedupe-only for a like-for-like figure).
"""

from __future__ import annotations

import json
import random
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.dedupe import Clusterer, Doc, InMemoryClusterState, minhash
from ingest.dedupe.features import split_sentences

BASIL = Path("/work/shared/data/clustering-dev/basil.jsonl")
EXTRACTION = Path("/work/shared/data/extraction-dev/ground-truth.json")
N_DOCS = 100_000
CHECKPOINTS = (10_000, 50_000, 100_000)
SPAN_DAYS = 60
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _base_texts() -> list[tuple[str, str]]:
    texts = []
    for line in BASIL.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        texts.append((r["title"], r["text"]))
    truth = json.loads(EXTRACTION.read_text(encoding="utf-8"))
    for v in truth.values():
        body = v["articleBody"]
        texts.append((body.split("\n", 1)[0][:120], body))
    return texts


def _name(rng: random.Random) -> str:
    syllables = ("ka", "lor", "ven", "tis", "mar", "do", "ru", "zan", "bel", "qui", "sor", "nax")
    return "".join(rng.choice(syllables) for _ in range(rng.randint(2, 3))).capitalize()


def synth_stream(n: int = N_DOCS, seed: int = 7) -> list[Doc]:
    rng = random.Random(seed)
    bases = _base_texts()
    docs: list[Doc] = []
    step = SPAN_DAYS * 86_400 / n
    while len(docs) < n:
        title, text = rng.choice(bases)
        names = [_name(rng) for _ in range(8)]
        sentences = split_sentences(text)[:14] or [text[:500]]

        def swap(words: list[str], names: list[str] = names) -> list[str]:
            return [rng.choice(names) if rng.random() < 0.15 else w for w in words]

        event = [" ".join(swap(s.split())) for s in sentences]
        event_title = " ".join(swap(title.split()))
        start = len(docs) * step
        previous: Doc | None = None
        for _ in range(rng.randint(1, 6)):
            if len(docs) >= n:
                break
            when = T0 + timedelta(seconds=start + rng.uniform(0, 36 * 3600))
            if previous is not None and rng.random() < 0.2:
                body = "(Wire) " + previous.text  # a syndicated copy
                report_title = previous.title
            else:
                chosen = [s for s in event if rng.random() < 0.7] or event[:1]
                rng.shuffle(chosen)
                body = " ".join(" ".join(swap(s.split())) for s in chosen)
                report_title = " ".join(swap(event_title.split()))
            doc = Doc(len(docs) + 1, report_title, body, when, f"outlet{rng.randint(1, 40)}")
            docs.append(doc)
            previous = doc
    return docs


def run_ours(docs: list[Doc]) -> tuple[float, dict[int, float], int, int]:
    clusterer = Clusterer(InMemoryClusterState())
    per_doc: list[float] = []
    dups = 0
    t0 = time.perf_counter()
    for doc in docs:
        t = time.process_time()  # CPU time: the shared machine's load does not count
        decision = clusterer.process(doc)
        per_doc.append(time.process_time() - t)
        dups += decision.duplicate_of is not None
    total = time.perf_counter() - t0
    at = {c: sum(per_doc[c - 1000 : c]) / 1000 * 1000 for c in CHECKPOINTS if c <= len(docs)}
    stories = len(clusterer.state.stories)  # type: ignore[attr-defined]
    return len(docs) / total, at, dups, stories


def run_ours_dedupe_only(docs: list[Doc]) -> float:
    state = InMemoryClusterState()
    t0 = time.perf_counter()
    for doc in docs:
        sig = minhash.signature(f"{doc.title}\n{doc.text}")
        buckets = minhash.band_buckets(sig)
        candidates = state.lsh_candidates(buckets)
        sigs = state.signatures(candidates)
        if not any(minhash.jaccard(sig, s) >= 0.6 for s in sigs.values()):
            state.sigs[doc.article_id] = sig
            state.index_buckets(doc.article_id, buckets)
    return len(docs) / (time.perf_counter() - t0)


def run_datasketch(docs: list[Doc]) -> tuple[float, dict[int, float]]:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=0.6, num_perm=128)
    per_doc: list[float] = []
    t0 = time.perf_counter()
    for doc in docs:
        t = time.process_time()
        words = f"{doc.title}\n{doc.text}".lower().split()
        shingles = {" ".join(words[i : i + 3]).encode() for i in range(max(1, len(words) - 2))}
        m = MinHash(num_perm=128)
        m.update_batch(shingles)
        if not lsh.query(m):
            lsh.insert(str(doc.article_id), m)
        per_doc.append(time.process_time() - t)
    total = time.perf_counter() - t0
    at = {c: sum(per_doc[c - 1000 : c]) / 1000 * 1000 for c in CHECKPOINTS if c <= len(docs)}
    return len(docs) / total, at


def main(n: int = N_DOCS) -> list[dict[str, Any]]:
    t = time.perf_counter()
    docs = synth_stream(n)
    print(f"synthesised {len(docs)} docs in {time.perf_counter() - t:.1f}s")
    import psutil

    before_mb = psutil.Process().memory_info().rss / 2**20  # the synthetic stream itself
    rate, at, dups, stories = run_ours(docs)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RSS with the stream loaded, before clustering: {before_mb:.0f} MB")
    print(
        f"ours: {rate:.0f} docs/s (dedupe+cluster), {dups} duplicates, {stories} stories, "
        f"peak RSS {peak_mb:.0f} MB"
    )
    dedupe_rate = run_ours_dedupe_only(docs)
    ds_rate, ds_at = run_datasketch(docs)
    print(f"dedupe only: ours {dedupe_rate:.0f} docs/s, datasketch MinHashLSH {ds_rate:.0f} docs/s")
    for c in at:
        print(
            f"per-article cost at {c:>6} stored: ours {at[c]:.2f} ms, datasketch {ds_at[c]:.2f} ms"
        )
    last, first = max(at), min(at)
    ratio = at[last] / at[first]
    ds_ratio = ds_at[last] / ds_at[first]
    print(f"ratio {last // 1000}k/{first // 1000}k: ours {ratio:.2f}, datasketch {ds_ratio:.2f}")
    results: list[dict[str, Any]] = [
        {
            "name": "cluster.throughput",
            "value": round(rate, 1),
            "unit": "docs/s",
            "baseline": round(ds_rate, 1),
        },
        {
            "name": "cluster.dedupe_throughput",
            "value": round(dedupe_rate, 1),
            "unit": "docs/s",
            "baseline": round(ds_rate, 1),
        },
        {
            "name": "cluster.peak_rss",
            "value": round(peak_mb, 1),
            "unit": "MB",
            "baseline": round(before_mb, 1),
        },
        {
            "name": "cluster.cost_ratio_100k_10k",
            "value": round(ratio, 3),
            "unit": "ratio",
            "baseline": round(ds_ratio, 3),
            "target": 1.5,
            "met": ratio <= 1.5,
        },
    ]
    for c in at:
        results.append(
            {
                "name": f"cluster.per_article_ms_at_{c // 1000}k",
                "value": round(at[c], 3),
                "unit": "ms",
                "baseline": round(ds_at[c], 3),
            }
        )
    return results


if __name__ == "__main__":
    from bench._results import record

    count = int(sys.argv[1]) if len(sys.argv) > 1 else N_DOCS
    record(main(count))
