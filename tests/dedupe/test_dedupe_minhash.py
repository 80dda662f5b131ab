"""MinHash signatures and LSH buckets."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.dedupe import minhash

WORDS = [f"w{i}" for i in range(400)]


def _text(rng: random.Random, n: int = 300) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _true_jaccard(a: str, b: str) -> float:
    sa, sb = set(minhash.shingle_hashes(a).tolist()), set(minhash.shingle_hashes(b).tolist())
    return len(sa & sb) / len(sa | sb)


def test_estimate_tracks_true_jaccard() -> None:
    rng = random.Random(1)
    base = _text(rng).split()
    for keep in (0.95, 0.8, 0.5, 0.2):
        edited = [w if rng.random() < keep else rng.choice(WORDS) for w in base]
        a, b = " ".join(base), " ".join(edited)
        est = minhash.jaccard(minhash.signature(a), minhash.signature(b))
        assert abs(est - _true_jaccard(a, b)) < 0.15


def test_identical_texts_have_identical_signatures_and_buckets() -> None:
    text = _text(random.Random(2))
    a, b = minhash.signature(text), minhash.signature(text)
    assert minhash.jaccard(a, b) == 1.0
    assert minhash.band_buckets(a) == minhash.band_buckets(b)
    assert len(minhash.band_buckets(a)) == minhash.BANDS


def test_names_and_numbers_part_separates_templates() -> None:
    a = "Rescuers searched the rubble in Ankara after the 7.1 earthquake killed 45 people."
    b = "Rescuers searched the rubble in Lima after the 6.2 earthquake killed 12 people."
    sa, sb = minhash.signature(a), minhash.signature(b)
    assert minhash.specific_jaccard(sa, sa) == 1.0
    assert minhash.specific_jaccard(sa, sb) < 0.5


def test_bytes_round_trip() -> None:
    sig = minhash.signature("some words in a row for the test")
    assert np.array_equal(minhash.from_bytes(minhash.to_bytes(sig)), sig)


def test_empty_text_has_a_signature() -> None:
    sig = minhash.signature("")
    assert sig.shape == (minhash.SIGNATURE_SIZE,)


@settings(max_examples=50)
@given(st.text(max_size=500))
def test_any_text_gives_valid_buckets(text: str) -> None:
    buckets = minhash.band_buckets(minhash.signature(text))
    assert all(0 <= bucket < 2**63 for _, bucket in buckets)
