"""MinHash signatures over word shingles, and their LSH band buckets (numpy, vectorised).

A signature is ``NUM_PERM`` uint32 minima of multiply-shift hashes of the document's
word 3-gram shingle hashes. Equal positions estimate Jaccard similarity. LSH splits the
signature into ``BANDS`` bands of ``ROWS`` rows; each band hashes to one signed 63-bit
bucket so a near-duplicate lookup is an indexed equality query on (band, bucket). With
32 x 4 the chance to become a candidate is 0.87 at Jaccard 0.5 and 0.9995 at 0.7.
"""

from __future__ import annotations

import re
import zlib

import numpy as np
import numpy.typing as npt

NUM_PERM = 128
BANDS = 32
ROWS = NUM_PERM // BANDS
# A second, short MinHash over the document's names and numbers only. Two reports built
# from one template (two earthquakes, two court rulings) share most shingles but not
# these: a duplicate must agree on both.
SPECIFIC_PERM = 32
# The last slot holds how many distinct names and numbers the document has, so the
# share of one document's names found in another (containment) can be estimated.
SIGNATURE_SIZE = NUM_PERM + SPECIFIC_PERM + 1
SHINGLE_SIZE = 3
MAX_SHINGLE_TOKENS = 20_000  # bounded work on huge inputs

Signature = npt.NDArray[np.uint32]

_TOKEN = re.compile(r"\w+", re.UNICODE)
_SEED = 0x5EED_2026
_rng = np.random.default_rng(_SEED)
# Multiply-shift hashing: odd 64-bit multipliers, random adds; top 32 bits are the hash.
_MUL = (_rng.integers(1, 2**63 - 1, SIGNATURE_SIZE, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)
_ADD = _rng.integers(0, 2**63 - 1, SIGNATURE_SIZE, dtype=np.uint64)
_BAND_MUL = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5],
    dtype=np.uint64,
)[:ROWS]
_MAX = np.iinfo(np.uint64).max
_SPECIFIC = re.compile(r"\b(?:[A-Z][\w'’.-]*\w|\d[\d,.]*\d|\d)\b")
_COMMON_CAPITALS = frozenset(
    [
        "The",
        "A",
        "An",
        "This",
        "That",
        "These",
        "Those",
        "It",
        "He",
        "She",
        "They",
        "We",
        "I",
        "In",
        "On",
        "At",
        "For",
        "But",
        "And",
        "Or",
        "If",
        "As",
        "When",
        "While",
        "After",
        "Before",
        "By",
        "From",
        "With",
        "Mr",
        "Mrs",
        "Ms",
        "Dr",
    ]
)


def shingle_hashes(text: str) -> npt.NDArray[np.uint64]:
    """64-bit hashes of the word 3-grams of ``text`` (lower-cased ``\\w+`` tokens)."""
    tokens = _TOKEN.findall(text.lower())[:MAX_SHINGLE_TOKENS]
    if not tokens:
        return np.zeros(0, dtype=np.uint64)
    words = np.fromiter((zlib.crc32(t.encode("utf-8")) for t in tokens), np.uint64, len(tokens))
    if len(words) < SHINGLE_SIZE:
        return np.unique(words * np.uint64(0x9E3779B97F4A7C15))
    with np.errstate(over="ignore"):
        h = words[:-2] * np.uint64(0x9E3779B97F4A7C15)
        h = (h ^ (h >> np.uint64(29))) + words[1:-1] * np.uint64(0xC2B2AE3D27D4EB4F)
        h = (h ^ (h >> np.uint64(31))) + words[2:] * np.uint64(0x165667B19E3779F9)
    return np.unique(h)


def specific_hashes(text: str) -> npt.NDArray[np.uint64]:
    """64-bit hashes of the distinct names (capitalised tokens) and numbers of ``text``."""
    tokens = {
        t.replace(",", "")
        for t in _SPECIFIC.findall(text[: MAX_SHINGLE_TOKENS * 8])
        if t not in _COMMON_CAPITALS
    }
    if not tokens:
        return np.zeros(0, dtype=np.uint64)
    crc = (zlib.crc32(t.encode("utf-8")) for t in sorted(tokens))
    with np.errstate(over="ignore"):
        return np.fromiter(crc, np.uint64, len(tokens)) * np.uint64(0xD6E8FEB86659FD93)


def _minima(hashes: npt.NDArray[np.uint64], lo: int, hi: int) -> npt.NDArray[np.uint32]:
    best = np.full(hi - lo, _MAX, dtype=np.uint64)
    if hashes.size == 0:
        return best.astype(np.uint32)  # all-max: an empty set
    mul, add = _MUL[None, lo:hi], _ADD[None, lo:hi]
    step = 4096  # chunk the (hashes x permutations) product: bounded memory
    with np.errstate(over="ignore"):
        for start in range(0, hashes.size, step):
            block = hashes[start : start + step, None] * mul + add
            np.minimum(best, (block >> np.uint64(32)).min(axis=0), out=best)
    return best.astype(np.uint32)


def signature(text: str) -> Signature:
    """The MinHash signature of ``text``: ``NUM_PERM`` text minima, then
    ``SPECIFIC_PERM`` minima over its names and numbers."""
    out = np.empty(SIGNATURE_SIZE, dtype=np.uint32)
    specific = specific_hashes(text)
    out[:NUM_PERM] = _minima(shingle_hashes(text), 0, NUM_PERM)
    out[NUM_PERM:-1] = _minima(specific, NUM_PERM, NUM_PERM + SPECIFIC_PERM)
    out[-1] = min(specific.size, 2**32 - 1)
    return out


def jaccard(a: Signature, b: Signature) -> float:
    """Estimated Jaccard similarity of the word shingles of two documents."""
    return float(np.count_nonzero(a[:NUM_PERM] == b[:NUM_PERM])) / NUM_PERM


def specific_jaccard(a: Signature, b: Signature) -> float:
    """Estimated Jaccard similarity of the names and numbers of two documents."""
    return float(np.count_nonzero(a[NUM_PERM:-1] == b[NUM_PERM:-1])) / SPECIFIC_PERM


def specific_containment(a: Signature, b: Signature) -> float:
    """Estimated share of the smaller document's names and numbers found in the other.

    A syndicated copy is often the wire story trimmed, with the agency's credit lines
    gone: its names are a *subset* of the original's, which Jaccard punishes and
    containment does not. From J = |A∩B| / |A∪B| and the set sizes,
    |A∩B| = J (|A| + |B|) / (1 + J).
    """
    size_a, size_b = int(a[-1]), int(b[-1])
    if size_a == 0 or size_b == 0:
        return 1.0 if size_a == size_b else 0.0
    j = specific_jaccard(a, b)
    shared = j * (size_a + size_b) / (1.0 + j)
    return min(1.0, shared / min(size_a, size_b))


def band_buckets(sig: Signature) -> list[tuple[int, int]]:
    """(band, bucket) pairs of a signature; buckets are non-negative 63-bit integers."""
    rows = sig[:NUM_PERM].astype(np.uint64).reshape(BANDS, ROWS)
    with np.errstate(over="ignore"):
        mixed = (rows * _BAND_MUL[None, :]).sum(axis=1, dtype=np.uint64)
        mixed ^= mixed >> np.uint64(33)
        mixed *= np.uint64(0xFF51AFD7ED558CCD)
        mixed ^= mixed >> np.uint64(33)
    buckets = (mixed >> np.uint64(1)).astype(np.int64)
    return [(band, int(bucket)) for band, bucket in enumerate(buckets.tolist())]


def to_bytes(sig: Signature) -> bytes:
    """Little-endian bytes for storage."""
    return sig.astype("<u4").tobytes()


def from_bytes(data: bytes) -> Signature:
    """Inverse of :func:`to_bytes`."""
    if len(data) != SIGNATURE_SIZE * 4:
        raise ValueError(f"signature must be {SIGNATURE_SIZE * 4} bytes, got {len(data)}")
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)
