"""Charset labels: Python's codecs, then the WHATWG labels mail clients and browsers know; the
analysis (body and RFC 2047 words) reads them as the banner writes them."""

from __future__ import annotations

import codecs

import pytest

from gateway.act import transfer
from gateway.charsets import MAIL_LABELS, WHATWG_ONLY, decode_text, python_codec
from gateway.parse import MessageView
from gateway.rfc2047 import decode_words


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
    ("iso88595", "iso8859-5"), ("ISO88591", "cp1252"), ("iso88599", "cp1254"), ("ksc_5601", "cp949"),
    ("x-no-such-charset", None), ("base64", None), ("", None), ("a\x00b", None), ("x" * 10_000, None),
    ("IBM037", "cp037"), ("utf-7", "utf-7"), ("hz-gb-2312", "hz"), ("ISO-2022-JP-2", "iso2022_jp_2"),
    # Python's own codecs and aliases, which no reader knows (attack24 4): unknown
    ("undefined", None), ("idna", None), ("punycode", None), ("unicode_escape", None), ("utf-8-sig", None),
    ("raw_unicode_escape", None), ("utf_8", None), ("iso2022_jp", None), ("hz", None), ("cp949", None),
    ("charmap", None), ("mbcs", None), ("rot13", None),
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


def test_every_whatwg_label_but_the_replacement_ones_names_a_codec() -> None:
    """The WHATWG labels without a hyphen (`iso88595`, `iso885915`) or with an underscore
    (`ksc_5601`), which Python does not know, read as UTF-8 before while a browser showed the
    Cyrillic, Greek or Korean text (the labels of encodings.json, 2026-05, Python lacks)."""
    for label in ("iso88591", "iso88592", "iso88593", "iso88594", "iso88595", "iso88596", "iso88597",
                  "iso88598", "iso88599", "iso885910", "iso885913", "iso885914", "iso885915", "iso-ir-149",
                  "ksc_5601"):
        assert python_codec(label) is not None, label
    word = "\u0414\u043e\u0431\u0440\u044b\u0439"
    assert decode_text(word.encode("iso8859-5"), "iso88595") == word
    assert python_codec("iso-2022-cn") is None  # "replacement": a browser shows one U+FFFD


def test_every_mail_label_names_a_python_text_codec() -> None:
    for label in MAIL_LABELS:
        assert label == label.lower() and python_codec(label) is not None, label


@pytest.mark.parametrize("label", ["undefined", "idna", "punycode", "unicode_escape", "utf-8-sig"])
def test_labels_only_python_knows_read_as_unknown_for_analysis_and_banner(label: str) -> None:
    """attack24 4: Python's codecs `undefined`/`idna` read nothing of an ASCII approach (clean 2.6)
    and `punycode` garbled it, while Dovecot and Thunderbird show its text; `unicode_escape` and
    `utf-8-sig` parts got no banner. As an unknown label they read as UTF-8 and get the ASCII banner."""
    from gateway.act.banner import Templates, insert_banner
    from gateway.model import Decision, Verdict
    text = "Dear Sarah, could we continue on WhatsApp? 100% discreet \\o/"
    for ctype in ("text/plain", "text/html"):
        raw = (f"From: a@ext.test\r\nSubject: =?{label}?q?Hello_there?=\r\nMIME-Version: 1.0\r\n"
               f"Content-Type: {ctype}; charset={label}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
               f"<html><body><p>{text}</p></body></html>\r\n").encode()
        view = MessageView.parse(raw)
        assert text in (view.plain_text if ctype == "text/plain" else view.html_text), (label, ctype)
        assert view.subject == "Hello there"
        banner = Templates.load().render(Decision(Verdict.HIGH, 30.0), None)
        out = insert_banner(raw, banner)
        assert b"Warning: this message is very likely" in out and out.isascii(), (label, ctype)


# attack22 #12: codecs where errors="replace" lets a lone surrogate out (UTF-7 "+2D0-" -> U+D83D);
# `unicode_escape` and `raw_unicode_escape` did too, and are no reader's labels now (read as UTF-8)
@pytest.mark.parametrize(("data", "label"), [
    (b"hi +2D0- there", "utf-7"), (b"a +2D3-+2D0- b", "utf-7"), (b"hi +2D0- there", "unicode-1-1-utf-7"),
])
def test_decoded_text_holds_no_lone_surrogate(data: bytes, label: str) -> None:
    text = decode_text(data, label)
    assert "\ufffd" in text and text.startswith(("hi ", "a ")) and text.encode("utf-8")


def test_rfc2047_words_and_headers_hold_no_lone_surrogate() -> None:
    assert decode_words("=?utf-7?Q?Daniel_Lee_+2D0-?=") == "Daniel Lee \ufffd"
    assert decode_words("=?utf-7?B?KzJEMC0=?= x") == "\ufffd x"
    assert decode_words("=?utf-7?Q?a+2D0-?= =?utf-7?Q?+3gA-b?=") == "a\ufffd\ufffdb"  # split pair: two lone ones
    # surrogateescape path: raw 8-bit header bytes that spell a surrogate in UTF-8 (CESU-style)
    raw = (b"From: =?utf-7?Q?Dan+2D0-?= <d@example.net>\r\nSubject: x \xed\xa0\xbd y =?utf-7?Q?+2D0-?=\r\n"
           b"Content-Type: text/plain; charset=utf-7\r\n\r\nbody +2D0- here\r\n")
    view = MessageView.parse(raw)
    for text in (view.subject, view.visible_subject, view.from_identity.display, view.plain_text):
        text.encode("utf-8")
    assert view.subject == "x \ufffd\ufffd\ufffd y \ufffd"
    assert view.from_identity.display == "Dan\ufffd"


def test_latin1_and_ascii_labels_read_as_windows_1252_as_a_reader_shows_them() -> None:
    """The WHATWG standard (and Chromium, Firefox, Thunderbird) decode `iso-8859-1` and `us-ascii` as
    windows-1252: 0x92 is a typographic apostrophe, 0x96 an en dash (attack42 #16: Python's latin-1 read
    C1 controls there and "don\\x92t tell" was no discretion). Bytes windows-1252 leaves undefined keep
    latin-1's C1 control; 8-bit bytes under an ASCII label that are UTF-8 read as UTF-8."""
    cp1252 = b"Please don\x92t tell your colleagues \x96 caf\xe9 \x80 \x81"
    for label in ("iso-8859-1", "ISO_8859-1", "latin1", "us-ascii", "ascii"):
        read = decode_text(cp1252, label)
        assert read == "Please don\u2019t tell your colleagues \u2013 caf\u00e9 \u20ac \x81", label
    assert decode_text("na\u00efve don\u2019t".encode(), "us-ascii") == "na\u00efve don\u2019t"
    assert decode_text("na\u00efve".encode(), "iso-8859-1") == "na\u00c3\u00afve"  # the label wins, as in a browser
    raw = (b"From: a@ext.test\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\nPlease don\x92t tell your colleagues.\r\n")
    assert MessageView.parse(raw).plain_text.strip() == "Please don\u2019t tell your colleagues."
