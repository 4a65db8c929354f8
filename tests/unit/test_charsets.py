"""Charset labels: Python's codecs, then the WHATWG labels mail clients and browsers know; the
analysis (body and RFC 2047 words) reads them as the banner writes them."""

from __future__ import annotations

import codecs

import pytest

from gateway.act import transfer
from gateway.charsets import WHATWG_ONLY, decode_text, python_codec
from gateway.parse import MessageView


def test_the_table_only_fills_gaps_in_python_and_names_python_text_codecs() -> None:
    for label, codec in WHATWG_ONLY.items():
        assert label == label.lower()
        with pytest.raises(LookupError):
            codecs.lookup(label)  # a label Python knows keeps Python's meaning
        assert codecs.lookup(codec)._is_text_encoding, codec


@pytest.mark.parametrize(("label", "codec"), [
    ("x-cp1252", "cp1252"), (" X-Mac-Roman ", "mac-roman"), ("x-unicode20utf8", "utf-8"),
    ("unicode-1-1-utf-8", "utf-8"), ("x-sjis", "shift_jis"), ("x-gbk", "gbk"), ("x-user-defined", "ascii"),
    ("unicode", "utf-16-le"), ("unicodeFFFE", "utf-16-be"), ("utf-8", "utf-8"), ("UTF-16", "utf-16"),
    ("latin1", "iso8859-1"),
    ("x-no-such-charset", None), ("base64", None), ("", None), ("a\x00b", None), ("x" * 10_000, None),
])
def test_python_codec(label: str, codec: str | None) -> None:
    assert python_codec(label) == codec


def test_banner_codec_kinds() -> None:
    assert transfer.codec_name("x-cp1252") == "cp1252" and transfer.wide_codec("x-cp1252") is None
    assert transfer.codec_name("utf-16") is None and transfer.wide_codec("utf-16") == "utf-16"
    assert transfer.wide_codec("ucs-2") == "utf-16-le" and transfer.wide_codec("utf-32be") == "utf-32-be"
    assert transfer.codec_name("cp037") is None and transfer.wide_codec("cp037") is None  # EBCDIC: neither


def test_analysis_reads_whatwg_labels_as_readers_do() -> None:
    """Before, an unknown label read as UTF-8: cp1252 quotes became U+FFFD."""
    raw = (b"From: a@ext.test\r\nSubject: =?x-cp1252?q?=93Hi=94_Sarah?=\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: text/plain; charset="x-cp1252"\r\n\r\n\x93Let\x92s chat\x94 on WhatsApp\r\n')
    view = MessageView.parse(raw)
    assert "\u201cLet\u2019s chat\u201d" in view.plain_text
    assert view.subject == "\u201cHi\u201d Sarah"


@pytest.mark.parametrize(("data", "label", "text"), [
    (codecs.BOM_UTF16_LE + "Dear Sarah".encode("utf-16-le"), "us-ascii", "Dear Sarah"),
    (codecs.BOM_UTF16_BE + "Dear Sarah".encode("utf-16-be"), "x-no-such-charset", "Dear Sarah"),
    (codecs.BOM_UTF8 + "Caf\u00e9".encode(), "iso-8859-1", "Caf\u00e9"),
    (codecs.BOM_UTF16_LE + "Caf\u00e9".encode("utf-16-le"), "utf-16", "Caf\u00e9"),  # Python's own BOM reading
    ("Caf\u00e9".encode("utf-32"), "utf-32", "Caf\u00e9"),  # the standard has no UTF-32: the label's codec
    ("Caf\u00e9".encode("cp1252"), "x-cp1252", "Caf\u00e9"),
    (b"Caf\xc3\xa9", "x-no-such-charset", "Caf\u00e9"),  # unknown: UTF-8
])
def test_decode_text_a_bom_wins_over_the_label(data: bytes, label: str, text: str) -> None:
    assert decode_text(data, label) == text


def test_analysis_reads_a_utf16_body_behind_an_ascii_label() -> None:
    """A browser reads a body that starts with a UTF-16 BOM as UTF-16 whatever its label: the
    attack20-style approach labelled us-ascii scanned clean 2.6 (the analysis read NUL-strewn
    bytes) while Chromium showed the text."""
    import base64
    body = base64.encodebytes("Let us continue on WhatsApp".encode("utf-16"))
    raw = (b"From: a@ext.test\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + body)
    assert MessageView.parse(raw).plain_text.strip() == "Let us continue on WhatsApp"
