"""The banner in UTF-16/UTF-32 parts and parts labelled with WHATWG charset names (attack20 F1).

A high approach whose text part was UTF-16 or UTF-32 (base64), or labelled `x-cp1252`,
`x-unicode20utf8`..., was analysed but delivered without banner, while a browser shows it.
Each edited part must read, with the decoder a mail client uses for its declared charset,
as the banner followed by the original text; every byte outside it stays."""

from __future__ import annotations

import base64
import binascii
import codecs
import re

import pytest

from gateway.act.banner import HTML_MARKER, Templates, insert_banner
from gateway.model import Decision, RuleHit, Verdict
from tests.unit.act.bannered import assert_banner_part_ahead

BANNER = Templates.load().render(Decision(Verdict.HIGH, 50.0, (RuleHit("r", 9, "Asks to move to WhatsApp"),)),
                                 "mailto:security@example.org")
TEXT = "Dear Sarah,\r\n\r\nI hope this finds you well. Caf\u00e9 \u201cchat\u201d on WhatsApp?\r\n"
HTML = ("<html><head><title>x</title></head><body><p>Dear Sarah,</p>\r\n"
        "<p>Caf\u00e9 \u201cchat\u201d?</p></body></html>\r\n")
ATTACHMENT = (b"--b\r\nContent-Type: application/octet-stream; name=a.bin\r\n"
              b"Content-Transfer-Encoding: base64\r\n\r\nAAECAwQF\r\n--b--\r\n")

# (declared charset, how the body is written, the decoder a WHATWG reader uses for that label)
WIDE = [
    ("utf-16", "utf-16-le", codecs.BOM_UTF16_LE, "utf-16"),  # Python's .encode("utf-16") on x86
    ("utf-16", "utf-16-be", codecs.BOM_UTF16_BE, "utf-16"),
    ("utf-16", "utf-16-le", b"", "utf-16-le"),  # no BOM: WHATWG (and the analysis) read LE
    ("utf-16le", "utf-16-le", b"", "utf-16-le"),
    ("utf-16LE", "utf-16-le", codecs.BOM_UTF16_LE, "utf-16"),
    ("utf-16be", "utf-16-be", b"", "utf-16-be"),
    ("utf-32", "utf-32-le", codecs.BOM_UTF32_LE, "utf-32"),
    ("utf-32", "utf-32-be", codecs.BOM_UTF32_BE, "utf-32"),
    ("unicode", "utf-16-le", b"", "utf-16-le"),  # a WHATWG-only label for UTF-16LE
]
LABELS = [  # WHATWG labels Python's codecs do not know (8bit bodies)
    ("x-unicode20utf8", "utf-8"), ("unicode-1-1-utf-8", "utf-8"), ("unicode11utf8", "utf-8"),
    ("x-cp1252", "cp1252"), ("x-mac-roman", "mac_roman"), ("x-sjis", "shift_jis"),
]


def _message(ctype: str, charset: str, cte: str, body: bytes) -> tuple[bytes, int, int]:
    """A multipart/mixed message: the text part, then an attachment; (raw, body start, body end)."""
    head = (b"From: a@ext.test\r\nTo: sarah@example.org\r\nSubject: hello\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            + f'Content-Type: {ctype}; charset="{charset}"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n'.encode())
    return head + body + ATTACHMENT, len(head), len(head) + len(body)


def _lines(data: bytes, width: int = 76) -> bytes:
    return b"".join(data[i:i + width] + b"\r\n" for i in range(0, len(data), width))


def _edited(raw: bytes, out: bytes, start: int, end: int) -> bytes:
    """The edited part's new body, after checking every other byte is unchanged."""
    assert out != raw, "no banner"
    tail = raw[end:]
    assert out[:start] == raw[:start] and out.endswith(tail)
    return out[start:len(out) - len(tail)]


def _check(ctype: str, old_text: str, new_text: str) -> None:
    if ctype == "text/plain":
        assert new_text.startswith("*** ") and BANNER.plain.split("\n", 1)[0] in new_text[:200]
        assert new_text.endswith(old_text) and "WhatsApp" in new_text[:len(new_text) - len(old_text)]
    else:
        start = "<html><head><title>x</title></head><body>"
        assert new_text.startswith(start) and new_text[len(start):].lstrip("\r\n").startswith(HTML_MARKER)
        rest = old_text[len(start):]
        assert new_text.endswith(rest) and "WhatsApp" in new_text[:len(new_text) - len(rest)]


@pytest.mark.parametrize("ctype", ["text/plain", "text/html"])
@pytest.mark.parametrize(("charset", "written", "bom", "reader"), WIDE)
def test_utf16_and_utf32_base64_parts_get_the_banner(ctype: str, charset: str, written: str, bom: bytes,
                                                     reader: str) -> None:
    text = TEXT if ctype == "text/plain" else HTML
    data = bom + text.encode(written)
    raw, start, end = _message(ctype, charset, "base64", _lines(base64.b64encode(data)))
    new = base64.b64decode(_edited(raw, insert_banner(raw, BANNER), start, end), validate=False)
    assert new.startswith(bom) and (bom or not new.startswith("\ufeff".encode(written)))
    _check(ctype, text, new.decode(reader).removeprefix("\ufeff"))
    if not bom:  # without a BOM the byte order is the one the text was written in, the whole way
        assert new.decode(written).removeprefix("\ufeff") == new.decode(reader).removeprefix("\ufeff")
    # the new body keeps the line length of the base64 (76), and a second pass adds nothing
    out = insert_banner(raw, BANNER)
    body = _edited(raw, out, start, end)
    assert {len(line) for line in body.split(b"\r\n")[:-2]} == {76}
    assert insert_banner(out, BANNER) == out


@pytest.mark.parametrize("ctype", ["text/plain", "text/html"])
def test_utf16_quoted_printable_part_gets_the_banner(ctype: str) -> None:
    text = TEXT if ctype == "text/plain" else HTML
    data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    raw, start, end = _message(ctype, "utf-16", "quoted-printable", binascii.b2a_qp(data) + b"\r\n")
    new = binascii.a2b_qp(_edited(raw, insert_banner(raw, BANNER), start, end))
    assert new.startswith(codecs.BOM_UTF16_LE)
    _check(ctype, text, new.removesuffix(b"\r\n").decode("utf-16"))


@pytest.mark.parametrize("ctype", ["text/plain", "text/html"])
@pytest.mark.parametrize(("label", "reader"), LABELS)
def test_whatwg_charset_labels_get_the_banner(ctype: str, label: str, reader: str) -> None:
    text = (TEXT if ctype == "text/plain" else HTML).replace("\u00e9", "e" if reader == "shift_jis" else "\u00e9")
    text = text.replace("\u201c", '"').replace("\u201d", '"') if reader == "shift_jis" else text
    raw, start, end = _message(ctype, label, "8bit", text.encode(reader))
    _check(ctype, text, _edited(raw, insert_banner(raw, BANNER), start, end).decode(reader))


def test_x_user_defined_reads_as_ascii() -> None:
    raw, start, end = _message("text/plain", "x-user-defined", "7bit", b"Dear Sarah,\r\nWhatsApp?\r\n")
    assert _edited(raw, insert_banner(raw, BANNER), start, end).decode("ascii").startswith("*** ")


@pytest.mark.parametrize("ctype", ["text/plain", "text/html"])
@pytest.mark.parametrize("cte", ["7bit", "8bit", "quoted-printable", "base64"])
@pytest.mark.parametrize("written", ["ascii", "utf-8", "cp1252"])
def test_an_unknown_label_gets_the_banner_in_ascii(ctype: str, cte: str, written: str) -> None:
    """attack23 B2: `charset=x-unknown-foo` is the sender's choice; the analysis reads the part as
    UTF-8, a reader in its ASCII-compatible fallback charset: the banner goes in as ASCII, which
    reads the same in any of them (whatever the bytes are: one stray byte must not keep it out)."""
    text = TEXT if ctype == "text/plain" else HTML
    text = text.encode("ascii", "replace").decode() if written == "ascii" else text
    data = text.encode(written)
    encoded = {"base64": _lines(base64.b64encode(data)), "quoted-printable": binascii.b2a_qp(data) + b"\r\n"}
    body = encoded.get(cte, data)
    raw, start, end = _message(ctype, "x-unknown-foo", cte, body)
    new = _edited(raw, insert_banner(raw, BANNER), start, end)
    new = {"base64": base64.b64decode, "quoted-printable": binascii.a2b_qp}.get(cte, bytes)(new)
    new = new.removesuffix(b"\r\n") if cte == "quoted-printable" else new
    assert new.endswith(data[data.index(b"<p>"):] if ctype == "text/html" else data)
    banner = new[:len(new) - len(data)] if ctype == "text/plain" else new[:new.index(b"<p>Dear")]
    assert banner.isascii()
    _check(ctype, text, new.decode(written))


def test_odd_trailing_byte_and_lone_surrogate_are_kept() -> None:
    """A browser shows U+FFFD for them and the rest of the text: so must the banner go in."""
    data = codecs.BOM_UTF16_LE + "Dear \ud800Sarah\r\n".encode("utf-16-le", "surrogatepass") + b"\x41"
    raw, start, end = _message("text/plain", "utf-16", "base64", _lines(base64.b64encode(data)))
    new = base64.b64decode(_edited(raw, insert_banner(raw, BANNER), start, end))
    assert new.startswith(codecs.BOM_UTF16_LE + "*** ".encode("utf-16-le")) and new.endswith(data[2:])


def test_what_is_still_left_alone() -> None:
    """A UTF-32 code point beyond U+10FFFF, inline PGP in UTF-16, and an unknown transfer
    encoding keep their bytes; the banner goes into a part of its own ahead of them (session 38)."""
    cases = [_message("text/plain", "utf-32", "base64",
                      _lines(base64.b64encode("Dear Sarah".encode("utf-32-le") + b"\x00\x00\x11\x00")))[0],
             _message("text/plain", "utf-16", "base64", _lines(base64.b64encode(
                 "-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\nhi\r\n".encode("utf-16"))))[0],
             _message("text/plain", "utf-16", "x-uuencode", "Dear Sarah".encode("utf-16"))[0]]
    for raw in cases:
        assert_banner_part_ahead(raw, insert_banner(raw, BANNER), BANNER)


# Raw UTF-16 in 8bit: SMTP refuses a lone CR or LF, but a CRLF pair inside a tag (`<p\r\n>`) reads as
# one code unit, so a whole HTML approach arrives, and the analysis and a browser read it.
RAW_HTML = "<html><body><p>Dear Sarah,</p><p>Caf\u00e9 \u201cchat\u201d on WhatsApp?</p></body></html>"


@pytest.mark.parametrize("cte", ["8bit", "7bit", "binary", None])
def test_raw_utf16_part_is_written_as_base64_with_the_banner(cte: str | None) -> None:
    body = codecs.BOM_UTF16_LE + RAW_HTML.replace("<p>", "<p\x00\x00>").encode("utf-16-le")
    body = body.replace(b"\x00\x00\x00\x00>", b"\r\n>\x00")  # the CRLF pair as one code unit
    assert b"\r\n" in body and len(body) % 2 == 0
    raw = _message("text/html", "utf-16", cte or "8bit", body + b"\r\n")[0]  # that CRLF: the delimiter's
    if cte is None:  # no field at all: 7bit
        raw = raw.replace(b"Content-Transfer-Encoding: 8bit\r\n", b"")
    start = raw.index(b"\r\n\r\n\xff\xfe") + 4
    head_start = raw.rindex(b"--b\r\n", 0, start) + 5
    out = insert_banner(raw, BANNER)
    assert out != raw and out[:head_start] == raw[:head_start] and out.endswith(ATTACHMENT)
    new_part = out[head_start:len(out) - len(ATTACHMENT)]
    head, _, new_body = new_part.partition(b"\r\n\r\n")
    assert head == b'Content-Type: text/html; charset="utf-16"\r\nContent-Transfer-Encoding: base64'
    data = base64.b64decode(new_body, validate=False)
    assert data.startswith(codecs.BOM_UTF16_LE)
    text, old = data.decode("utf-16"), body.decode("utf-16")
    assert text.startswith("<html><body>") and text[12:].lstrip("\r\n").startswith(HTML_MARKER)
    assert text.endswith(old[12:]) and "WhatsApp" in text[:len(text) - len(old[12:])]
    assert insert_banner(out, BANNER) == out


def test_raw_utf16_single_part_message_gets_its_cte_field_replaced() -> None:
    body = "Dear Sarah, let us chat on WhatsApp?".encode("utf-16") + b"\r\n"
    raw = (b"From: a@ext.test\r\nContent-Type: text/plain; charset=utf-16\r\nContent-Transfer-Encoding: 8bit\r\n"
           b"Subject: hi\r\n\r\n" + body)
    out = insert_banner(raw, BANNER)
    head, _, new_body = out.partition(b"\r\n\r\n")
    assert head == raw.partition(b"\r\n\r\n")[0].replace(b": 8bit", b": base64")
    data = base64.b64decode(new_body)
    assert data.endswith(body[2:]) and data.decode("utf-16").startswith("*** ")


def test_utf16_part_is_bounded_like_any_other() -> None:
    big = ("x" * 1_100_000).encode("utf-16")  # 2.2 MB, 2.9 MB in base64: over the 2 MiB part cap
    raw, _, _ = _message("text/plain", "utf-16", "base64", _lines(base64.b64encode(big)))
    assert_banner_part_ahead(raw, insert_banner(raw, BANNER), BANNER)  # the part as it is
    small = "x" * 100_000
    raw, start, end = _message("text/plain", "utf-16", "base64", _lines(base64.b64encode(small.encode("utf-16"))))
    assert re.match(r"\*\*\* ", base64.b64decode(_edited(raw, insert_banner(raw, BANNER), start, end))
                    .decode("utf-16"))


def test_raw_utf16_part_with_two_cte_fields_says_base64_in_both() -> None:
    """Readers differ on which of two fields counts: after the edit both say base64."""
    body = "Dear Sarah, let us chat on WhatsApp?".encode("utf-16") + b"\r\n"
    raw = (b"From: a@ext.test\r\nContent-Transfer-Encoding: 8bit\r\nContent-Type: text/plain; charset=utf-16\r\n"
           b"content-transfer-encoding :\r\n binary\r\n\r\n" + body)
    head, _, new_body = insert_banner(raw, BANNER).partition(b"\r\n\r\n")
    assert head == (b"From: a@ext.test\r\nContent-Transfer-Encoding: base64\r\nContent-Type: text/plain; "
                    b"charset=utf-16\r\nContent-Transfer-Encoding: base64")
    assert base64.b64decode(new_body).decode("utf-16").startswith("*** ")


@pytest.mark.parametrize("ctype", ["text/plain", "text/html"])
@pytest.mark.parametrize(("label", "cte"), [("us-ascii", "base64"), ("utf-8", "base64"),
                                            ("x-no-such-charset", "base64"), ("us-ascii", "8bit")])
@pytest.mark.parametrize("bom", [codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE])
def test_utf16_bom_behind_another_label_gets_the_banner_in_utf16(ctype: str, label: str, cte: str,
                                                                 bom: bytes) -> None:
    """A browser reads the part by its BOM (WHATWG BOM sniffing), and so does the analysis now."""
    text = TEXT if ctype == "text/plain" else HTML
    data = bom + text.encode("utf-16-le" if bom == codecs.BOM_UTF16_LE else "utf-16-be")
    body = _lines(base64.b64encode(data)) if cte == "base64" else data + b"\r\n"
    raw = _message(ctype, label, cte, body)[0]
    out = insert_banner(raw, BANNER)
    assert out != raw and out.endswith(ATTACHMENT)
    start = out.index(b"\r\n\r\n", out.index(b"--b\r\n")) + 4
    new = base64.b64decode(out[start:out.index(b"\r\n--b\r\n", start)])
    assert new.startswith(bom)
    _check(ctype, text, new.decode("utf-16"))
    if cte != "base64":
        assert b"charset=\"us-ascii\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" in out
    assert insert_banner(out, BANNER) == out
