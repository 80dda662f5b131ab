"""Bounded Content-Encoding decoders: never produce more than the cap, whatever the input.

Each decoder is fed raw chunks as they arrive and raises ``FetchError(too_large)`` as soon
as the decoded total would pass ``limit``; no single step ever decodes more than
``limit + 1`` bytes (so a 1 KB brotli bomb cannot expand to 1 GiB in one call). Only the
encodings newsmon advertises in Accept-Encoding are accepted, and only one layer.
"""

from __future__ import annotations

import io
import zlib
from typing import Protocol

import brotli
import zstandard

from ingest.net.errors import ErrorClass, FetchError

ACCEPT_ENCODING = "gzip, deflate, br, zstd"
# zstd frames may declare windows up to 2 GiB; the decoder allocates the window.
_ZSTD_MAX_WINDOW = 8 * 1024 * 1024
_STEP = 256 * 1024  # decode at most this much per call, so checks run often


class Decoder(Protocol):
    def feed(self, data: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


def _too_large(limit: int) -> FetchError:
    return FetchError(ErrorClass.TOO_LARGE, f"decoded body over {limit} bytes")


class _Budget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0

    def room(self) -> int:
        """How much one step may decode: one byte past the cap proves it's over."""
        return max(1, min(_STEP, self.limit - self.total + 1))

    def take(self, chunk: bytes) -> bytes:
        self.total += len(chunk)
        if self.total > self.limit:
            raise _too_large(self.limit)
        return chunk


class IdentityDecoder:
    def __init__(self, limit: int) -> None:
        self._budget = _Budget(limit)

    def feed(self, data: bytes) -> bytes:
        return self._budget.take(data)

    def finish(self) -> bytes:
        return b""


class ZlibDecoder:
    """gzip (incl. concatenated members) or deflate (zlib-wrapped or raw)."""

    def __init__(self, limit: int, *, gzip: bool) -> None:
        self._budget = _Budget(limit)
        self._gzip = gzip
        self._obj: zlib._Decompress | None = None
        self._head = b""  # deflate: the first bytes, until the zlib header can be sniffed
        self._started = False

    def _new(self, first: bytes) -> zlib._Decompress:
        if self._gzip:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        # "deflate" means zlib-wrapped per RFC 9110, but servers often send raw deflate.
        wrapped = len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0
        return zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)

    def feed(self, data: bytes) -> bytes:
        if not self._gzip and not self._started:
            self._head += data
            if len(self._head) < 2:
                return b""
            data, self._head, self._started = self._head, b"", True
        out: list[bytes] = []
        try:
            while data:
                if self._obj is None:
                    self._obj = self._new(data)
                obj = self._obj
                out.append(self._budget.take(obj.decompress(data, self._budget.room())))
                if obj.eof:
                    data = obj.unused_data
                    self._obj = None
                    if data and not self._gzip:
                        break  # trailing garbage after a deflate stream: ignore it
                else:
                    data = obj.unconsumed_tail
            return b"".join(out)
        except zlib.error as exc:
            raise FetchError(ErrorClass.BAD_ENCODING, f"corrupt compressed body: {exc}") from None

    def finish(self) -> bytes:
        out: list[bytes] = []
        if self._head:  # a one-byte deflate body
            head, self._head, self._started = self._head, b"", True
            out.append(self.feed(head))
        obj = self._obj
        try:
            while obj is not None and not obj.eof:
                chunk = obj.decompress(obj.unconsumed_tail, self._budget.room())
                if not chunk:
                    break
                out.append(self._budget.take(chunk))
        except zlib.error as exc:
            raise FetchError(ErrorClass.BAD_ENCODING, f"corrupt compressed body: {exc}") from None
        return b"".join(out)


class BrotliDecoder:
    def __init__(self, limit: int) -> None:
        self._budget = _Budget(limit)
        self._obj = brotli.Decompressor()

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        try:
            out.append(self._budget.take(self._obj.process(data, self._budget.room())))
            # Output was capped: drain with empty input until it can take more data.
            while not self._obj.can_accept_more_data():
                out.append(self._budget.take(self._obj.process(b"", self._budget.room())))
        except brotli.error as exc:
            raise FetchError(ErrorClass.BAD_ENCODING, f"corrupt brotli body: {exc}") from None
        return b"".join(out)

    def finish(self) -> bytes:
        return b""


class ZstdDecoder:
    """zstandard's push API cannot bound its output, so the raw body (itself capped by
    the caller) is buffered and decoded with the bounded pull API at the end."""

    def __init__(self, limit: int) -> None:
        self._budget = _Budget(limit)
        self._raw = io.BytesIO()

    def feed(self, data: bytes) -> bytes:
        self._raw.write(data)
        return b""

    def finish(self) -> bytes:
        self._raw.seek(0)
        out: list[bytes] = []
        try:
            dctx = zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW)
            with dctx.stream_reader(self._raw, read_across_frames=True) as reader:
                while chunk := reader.read(self._budget.room()):
                    out.append(self._budget.take(chunk))
        except zstandard.ZstdError as exc:
            raise FetchError(ErrorClass.BAD_ENCODING, f"corrupt zstd body: {exc}") from None
        return b"".join(out)


def decoder_for(content_encoding: str | None, limit: int) -> Decoder:
    """A bounded decoder for the response's Content-Encoding (one layer, asked-for only)."""
    codings = [
        c.strip().lower()
        for c in (content_encoding or "").split(",")
        if c.strip() and c.strip().lower() != "identity"
    ]
    if not codings:
        return IdentityDecoder(limit)
    if len(codings) > 1:
        raise FetchError(ErrorClass.BAD_ENCODING, f"nested Content-Encoding {content_encoding!r}")
    coding = codings[0]
    if coding in ("gzip", "x-gzip"):
        return ZlibDecoder(limit, gzip=True)
    if coding == "deflate":
        return ZlibDecoder(limit, gzip=False)
    if coding == "br":
        return BrotliDecoder(limit)
    if coding == "zstd":
        return ZstdDecoder(limit)
    raise FetchError(ErrorClass.BAD_ENCODING, f"Content-Encoding {coding!r} was not asked for")
