"""Bounded decoders: exact output under the cap, a classified error above it or on junk."""

from __future__ import annotations

import zlib

import brotli
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from ingest.net import ErrorClass, FetchError
from ingest.net.decode import decoder_for


def encode(coding: str, data: bytes) -> bytes:
    if coding == "gzip":
        c = zlib.compressobj(6, zlib.DEFLATED, 31)
        return c.compress(data) + c.flush()
    if coding == "deflate":
        return zlib.compress(data)
    if coding == "raw-deflate":
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        return c.compress(data) + c.flush()
    if coding == "br":
        return bytes(brotli.compress(data))
    if coding == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def decode(coding: str, body: bytes, limit: int, chunk: int = 1000) -> bytes:
    decoder = decoder_for("deflate" if coding == "raw-deflate" else coding, limit)
    out = [decoder.feed(body[i : i + chunk]) for i in range(0, len(body), chunk)]
    return b"".join(out) + decoder.finish()


CODINGS = ["identity", "gzip", "deflate", "raw-deflate", "br", "zstd"]


@pytest.mark.parametrize("coding", CODINGS)
@given(data=st.binary(max_size=5000), chunk=st.integers(1, 4096))
def test_round_trip_under_the_cap(coding: str, data: bytes, chunk: int) -> None:
    assert decode(coding, encode(coding, data), 5000, chunk) == data


@pytest.mark.parametrize("coding", CODINGS)
def test_one_byte_over_the_cap_is_too_large(coding: str) -> None:
    with pytest.raises(FetchError) as exc:
        decode(coding, encode(coding, b"a" * 1001), 1000)
    assert exc.value.error_class is ErrorClass.TOO_LARGE


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
@given(junk=st.binary(min_size=1, max_size=2000))
def test_junk_is_a_classified_error(coding: str, junk: bytes) -> None:
    try:
        decode(coding, junk, 10_000)
    except FetchError as exc:
        assert exc.error_class in (ErrorClass.BAD_ENCODING, ErrorClass.TOO_LARGE)


def test_concatenated_gzip_members_are_one_body() -> None:
    body = encode("gzip", b"abc") + encode("gzip", b"def")
    assert decode("gzip", body, 100) == b"abcdef"
