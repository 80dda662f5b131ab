"""Decoding untrusted bytes: BOMs, lying charsets, UTF-16 without BOM, NULs, binaries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.extract import ExtractionError, decode_html, extract_article

TEXT = "Café au lait, naïve façade — Zürich straße. " * 20
PAGE = f"<html><head><title>Über</title></head><body><article><p>{TEXT}</p></article></body></html>"


def test_utf8_page_declared_latin1_is_read_as_utf8() -> None:
    data = PAGE.replace("<head>", '<head><meta charset="iso-8859-1">').encode("utf-8")
    assert "Café" in decode_html(data)


def test_latin1_page_declared_utf8_falls_back() -> None:
    data = PAGE.replace("<head>", '<head><meta charset="utf-8">').encode("latin-1", "replace")
    text = decode_html(data)
    assert "Caf" in text
    assert "\ufffd" not in text


def test_http_header_charset_is_used() -> None:
    data = PAGE.encode("cp1252", "replace")
    assert "Zürich" in decode_html(data, "text/html; charset=windows-1252")


def test_shift_jis_by_meta() -> None:
    page = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=shift_jis">'
    page += "</head><body><p>" + "日本語の記事です。" * 30 + "</p></body></html>"
    assert "日本語" in decode_html(page.encode("shift_jis"))


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom(codec: str) -> None:
    assert "Zürich" in decode_html(PAGE.encode(codec))


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16", "utf-32"])
def test_byte_order_marks(codec: str) -> None:
    assert decode_html(PAGE.encode(codec)).lstrip().startswith("<html>")


def test_nul_bytes_are_stripped() -> None:
    data = PAGE.encode("utf-8").replace(b"au lait", b"au\x00 lait\x00")
    text = decode_html(data)
    assert "\x00" not in text
    assert "au lait" in text


@pytest.mark.parametrize(
    ("data", "error_class"),
    [
        (b"", "empty"),
        (b"   \n\t ", "empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10, "not_html"),
        (bytes(range(256)) * 40, "not_html"),
        (b"just some words, no markup at all", "not_html"),
    ],
)
def test_rejections(data: bytes, error_class: str) -> None:
    with pytest.raises(ExtractionError) as caught:
        decode_html(data)
    assert caught.value.error_class == error_class
    assert extract_article(data).error_class == error_class


def test_extract_article_end_to_end_with_utf16() -> None:
    article = extract_article(PAGE.encode("utf-16-le"), "https://example.org/a/b")
    assert article.error is None
    assert "Zürich" in article.text
    assert article.canonical_url == "https://example.org/a/b"


@given(st.binary(max_size=2000))
def test_any_bytes_give_text_or_a_classified_error(data: bytes) -> None:
    try:
        text = decode_html(data)
    except ExtractionError as exc:
        assert exc.error_class in ("empty", "not_html")
    else:
        assert "\x00" not in text
