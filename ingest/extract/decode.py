"""Bytes → HTML text, with the cheap guards that run before any tree is built.

Untrusted pages arrive with missing, wrong or lying charset declarations, NUL bytes,
UTF-16 without a byte-order mark, or are not HTML at all (an image saved as ``.html``).
:func:`decode_html` turns bytes into text or raises :class:`ExtractionError` with a class
from :data:`ERROR_CLASSES`; :func:`check_element_count` bounds the work the parser will do.

Charset order (first that applies):

1. a byte-order mark (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE);
2. UTF-16 without a BOM, recognised by NUL bytes at every other position;
3. the HTTP ``Content-Type`` charset, then a ``<meta>`` charset in the first 4 KiB,
   each used only if the bytes decode strictly with it; a declared single-byte charset
   loses to UTF-8 when the bytes are valid UTF-8 with multi-byte sequences (the common
   "declared latin-1, served UTF-8" mistake, which would otherwise become mojibake);
4. strict UTF-8, then charset_normalizer's best guess (windows-1252 wins ties, as the
   web's default), then UTF-8 with replacement.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

#: The error classes a page can end with (the part before ``:`` in ``Article.error``).
ERROR_CLASSES = (
    "timeout",
    "too_large",
    "too_many_elements",
    "memory",
    "not_html",
    "empty",
    "crashed",
    "failed",
)


class ExtractionError(Exception):
    """A page that cannot be extracted, with a class from :data:`ERROR_CLASSES`."""

    def __init__(self, error_class: str, reason: str) -> None:
        super().__init__(f"{error_class}: {reason}")
        self.error_class = error_class
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.error_class}: {self.reason}"


# Magic numbers of formats that are commonly mislabelled as HTML.
_BINARY_MAGIC = (
    b"%PDF",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"\x7fELF",
    b"BM",
    b"RIFF",
    b"\x00\x00\x01\x00",
    b"OggS",
    b"ID3",
    b"\x28\xb5\x2f\xfd",
)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]{1,40})""", re.IGNORECASE
)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]{1,40})""", re.IGNORECASE)
_TAG_START = re.compile(r"<[A-Za-z!?/]")
_ELEMENT_START = re.compile(r"<[A-Za-z]")
# Control characters other than tab, newline, carriage return and form feed.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_SNIFF_BYTES = 4096
_SINGLE_BYTE_FAMILY = ("latin", "iso8859", "cp125", "windows-125", "ascii", "cp437", "mac")


def _codec_name(label: str) -> str | None:
    """Python's codec name for a charset label, or None if unknown."""
    try:
        return codecs.lookup(label.strip().lower()).name
    except LookupError:
        return None


def _declared_charsets(head: bytes, content_type: str | None) -> list[str]:
    found: list[str] = []
    if content_type:
        match = _HEADER_CHARSET.search(content_type)
        if match and (name := _codec_name(match.group(1))):
            found.append(name)
    meta = _META_CHARSET.search(head)
    if meta and (name := _codec_name(meta.group(1).decode("ascii", "replace"))):
        found.append(name)
    return found


def _utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when NULs sit at every other byte (mostly-ASCII UTF-16)."""
    sample = head[: _SNIFF_BYTES - _SNIFF_BYTES % 2]
    if len(sample) < 8:
        return None
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    half = len(sample) // 2
    if odd_nuls > 0.6 * half and even_nuls < 0.1 * half:
        return "utf-16-le"
    if even_nuls > 0.6 * half and odd_nuls < 0.1 * half:
        return "utf-16-be"
    return None


def _is_single_byte(codec: str) -> bool:
    return codec.replace("_", "-").startswith(_SINGLE_BYTE_FAMILY)


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _decode_declared(data: bytes, declared: list[str]) -> str | None:
    utf8 = None
    for codec in declared:
        if _is_single_byte(codec) and not data.isascii():
            # A lying single-byte declaration is the most common mistake on the web.
            utf8 = utf8 if utf8 is not None else _strict(data, "utf-8")
            if utf8 is not None:
                return utf8
        text = _strict(data, codec)
        if text is not None:
            return text
    return None


def _decode_guess(data: bytes) -> str:
    text = _strict(data, "utf-8")
    if text is not None:
        return text
    matches = from_bytes(data[:262_144])
    best = matches.best()
    if best is not None and best.encoding:
        encoding = best.encoding
        # Short Latin samples often tie between code pages; windows-1252 is the web's
        # default for unlabelled or mislabelled pages (WHATWG), so it wins ties.
        tied = {m.encoding for m in matches if m.chaos <= best.chaos}
        if "cp1252" in tied:
            encoding = "cp1252"
        guessed = _strict(data, encoding)
        if guessed is not None:
            return guessed
    return data.decode("utf-8", errors="replace")


def decode_html(data: bytes, content_type: str | None = None) -> str:
    """Decode page bytes to text; raise ExtractionError("empty"/"not_html") otherwise.

    ``content_type`` is the HTTP header value when the fetcher knows it.
    """
    if not data.strip():
        raise ExtractionError("empty", "no bytes")
    for magic in _BINARY_MAGIC:
        if data.startswith(magic):
            raise ExtractionError("not_html", f"binary signature {magic[:4]!r}")

    text: str | None = None
    for bom, codec in _BOMS:
        if data.startswith(bom):
            text = data[len(bom) :].decode(codec, errors="replace")
            break
    if text is None and (utf16 := _utf16_without_bom(data[:_SNIFF_BYTES])):
        text = data.decode(utf16, errors="replace")
    if text is None:
        # NULs are never meaningful in HTML; they break parsers and charset guessing.
        data = data.replace(b"\x00", b"")
        declared = _declared_charsets(data[:_SNIFF_BYTES], content_type)
        text = _decode_declared(data, declared)
        if text is None:
            text = _decode_guess(data)

    text = text.replace("\x00", "")
    if not text.strip():
        raise ExtractionError("empty", "only whitespace")
    head = text[:65_536]
    if len(_CONTROL_CHARS.findall(head)) > 0.05 * len(head):
        raise ExtractionError("not_html", "mostly control characters (binary data)")
    if not _TAG_START.search(text):
        raise ExtractionError("not_html", "no HTML tags")
    return text


def check_element_count(text: str, max_elements: int) -> int:
    """Count start tags without building a tree; raise if there are more than allowed.

    ``str.count`` is a cheap upper bound, so the regex only runs on large pages.
    """
    upper_bound = text.count("<")
    if upper_bound <= max_elements:
        return upper_bound
    count = 0
    for _ in _ELEMENT_START.finditer(text):
        count += 1
        if count > max_elements:
            raise ExtractionError(
                "too_many_elements", f"more than {max_elements} elements before parsing"
            )
    return count
