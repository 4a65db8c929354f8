"""The banner in a text part whose base64 is not canonical (attack20 leftover: b64-nopad, b64-bang).

A high approach whose text part's base64 lost a '=' of padding or carried a stray '!' was analysed
(the analysis decodes base64 leniently, as mail clients do: `gateway.parse._decode_part`) but
delivered without banner, so the sender chose whether staff were warned. Such a part is now read
with that same lenient decoder and written back as canonical base64 (76-column lines, the part's
line endings) with the banner first; its headers and every byte outside it stay. A body that
even the lenient decoder cannot read is still left alone."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from email.message import Message
from pathlib import Path

import pytest

from gateway.act import transfer
from gateway.act.banner import HTML_MARKER, MAX_PART_BYTES, Templates, insert_banner
from gateway.model import Decision, RuleHit, Verdict
from gateway.parse import MessageView
from tests.unit.act.bannered import assert_banner_part_ahead

BANNER = Templates.load().render(Decision(Verdict.HIGH, 50.0, (RuleHit("r", 9, "Asks to move to WhatsApp"),)),
                                 "mailto:security@example.org")
APPROACH = Path(__file__).resolve().parents[2] / "corpus/approach/001-freemail-recruiter-whatsapp.eml"
ATTACHMENT = (b"--b\r\nContent-Type: application/octet-stream; name=a.bin\r\n"
              b"Content-Transfer-Encoding: base64\r\n\r\nAAECAwQF\r\n--b--\r\n")


def _approach(ctype: str) -> bytes:
    """The shipped approach's text, as attack20_make.py builds it (HTML: in <html><body><p>),
    padded so that its base64 ends in one '=' (attack20) -- or two, for the plain text."""
    text = APPROACH.read_bytes().replace(b"\r\n", b"\n").partition(b"\n\n")[2].replace(b"\n", b"\r\n")
    if ctype == "text/html":
        text = b"<html><body><p>" + text.replace(b"\r\n\r\n", b"</p><p>") + b"</p></body></html>"
        while len(text) % 3 != 2:
            text += b" "
    while len(text) % 3 != 1 and ctype == "text/plain":
        text += b" "
    return text


def _lines(data: bytes, width: int = 76, eol: bytes = b"\r\n") -> bytes:
    return b"".join(data[i:i + width] + eol for i in range(0, len(data), width))


# how the attacker spoils canonical base64 (`e`, no line breaks yet)
SPOIL: dict[str, Callable[[bytes], bytes]] = {
    "nopad": lambda e: e.rstrip(b"="),  # attack20 b64-nopad
    "bang": lambda e: e[:40] + b"!" + e[40:],  # attack20 b64-bang
    "junk": lambda e: e[:100] + b"*\xff~" + e[100:300] + b" \t" + e[300:],
    "both": lambda e: e[:40] + b"!" + e[40:].rstrip(b"="),
}


def _message(ctype: str, body: bytes, eol: bytes = b"\r\n", charset: str = "utf-8") -> tuple[bytes, int, int]:
    """A multipart/mixed message: the text part (base64), then an attachment;
    (raw, body start, body end)."""
    head = (b"From: Jessica Moore <jessica.moore.globaltalent@gmail.com>\r\nTo: sarah@example.gov.uk\r\n"
            b"Subject: Confidential consulting opportunity\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            + f'Content-Type: {ctype}; charset="{charset}"\r\nContent-Transfer-Encoding: base64\r\n\r\n'.encode())
    raw = head + body + ATTACHMENT
    if eol != b"\r\n":
        raw = raw.replace(b"\r\n", eol)
        head = head.replace(b"\r\n", eol)
    return raw, len(head), len(head) + len(body.replace(b"\r\n", eol))


def _edited(raw: bytes, out: bytes, start: int, end: int) -> bytes:
    """The edited part's new body, after checking every other byte is unchanged."""
    assert out != raw, "no banner"
    tail = raw[end:]
    assert out[:start] == raw[:start] and out.endswith(tail)
    return out[start:len(out) - len(tail)]


def _analysed(body: bytes) -> bytes:
    """The body decoded as the analysis decodes it (the stdlib's lenient get_payload)."""
    part = Message()
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload(body.decode("ascii", "surrogateescape"))
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


def _canonical(body: bytes, eol: bytes) -> bytes:
    """What a strict decoder reads of `body`, after checking it is canonical base64 in 76-column
    lines with `eol` line endings."""
    lines = body.split(eol)
    assert lines[-1] == b"" and all(len(line) == 76 for line in lines[:-2]) and 0 < len(lines[-2]) <= 76
    assert b"\r" not in body.replace(b"\r\n", b"") and (eol == b"\r\n" or b"\r" not in body)
    compact = b"".join(lines)
    data = base64.b64decode(compact, validate=True)
    assert base64.b64encode(data) == compact
    return data


def _check(ctype: str, old: bytes, new: bytes) -> None:
    """`new` is the banner followed by `old` (plain), or `old` with the banner after <body>."""
    text = new.decode("utf-8")
    if ctype == "text/plain":
        banner = BANNER.plain.replace("\n", "\r\n")
        assert text.startswith("*** ") and text == banner + old.decode("utf-8")
        assert "WhatsApp" in text[:len(banner)]
    else:
        start = "<html><body>"
        assert text.startswith(start) and text[len(start):].lstrip("\r\n").startswith(HTML_MARKER)
        rest = old.decode("utf-8")[len(start):]
        assert text.endswith(rest) and "WhatsApp" in text[:len(text) - len(rest)]
        assert text.count(HTML_MARKER) == 1


@pytest.mark.parametrize("ctype", ["text/plain", "text/html"])
@pytest.mark.parametrize("spoil", sorted(SPOIL))
def test_non_canonical_base64_part_gets_the_banner(ctype: str, spoil: str) -> None:
    text = _approach(ctype)
    encoded = SPOIL[spoil](base64.b64encode(text))
    with pytest.raises(binascii.Error):  # not canonical: a strict decoder refuses it
        base64.b64decode(encoded, validate=True)
    raw, start, end = _message(ctype, _lines(encoded))
    assert _analysed(raw[start:end]) == text  # the analysis reads the whole text...
    view = MessageView.parse(raw)
    assert "WhatsApp" in (view.plain_text if ctype == "text/plain" else view.html_text)
    out = insert_banner(raw, BANNER)
    _check(ctype, text, _canonical(_edited(raw, out, start, end), b"\r\n"))  # ...and so does staff
    assert insert_banner(out, BANNER) == out  # a second pass adds nothing
    view = MessageView.parse(out)  # the analysis reads the banner, then the same text
    read = view.plain_text if ctype == "text/plain" else view.html_text
    assert "likely a covert approach" in read[:500] and "I hope this message finds you well" in read


@pytest.mark.parametrize("ctype", ["text/plain", "text/html"])
def test_the_part_keeps_its_line_endings(ctype: str) -> None:
    text = _approach(ctype)
    raw, start, end = _message(ctype, _lines(SPOIL["bang"](base64.b64encode(text)), 64), b"\n")
    new = _edited(raw, insert_banner(raw, BANNER), start, end)
    _check(ctype, text, _canonical(new, b"\n"))  # base64 lines end in LF; the text keeps its CRLF


def test_the_written_part_is_76_columns_whatever_the_original_width() -> None:
    text = _approach("text/plain")
    raw, start, end = _message("text/plain", _lines(base64.b64encode(text).rstrip(b"="), 60))
    _check("text/plain", text, _canonical(_edited(raw, insert_banner(raw, BANNER), start, end), b"\r\n"))


@pytest.mark.parametrize("ctype", ["text/plain", "text/html"])
def test_utf16_part_without_padding_gets_the_banner(ctype: str) -> None:
    text = "Dear Sarah,\r\nshall we move to WhatsApp?\r\n" if ctype == "text/plain" else \
        "<html><body><p>Dear Sarah, shall we move to WhatsApp?</p></body></html>"
    while len(text.encode("utf-16")) % 3 == 0:
        text += " "
    encoded = base64.b64encode(text.encode("utf-16"))
    assert encoded.endswith(b"=")
    raw, start, end = _message(ctype, _lines(encoded.rstrip(b"=")), charset="utf-16")
    new = _canonical(_edited(raw, insert_banner(raw, BANNER), start, end), b"\r\n").decode("utf-16")
    assert new.endswith(text[len("<html><body>"):] if ctype == "text/html" else text)
    assert new.startswith("*** ") if ctype == "text/plain" else HTML_MARKER in new[:100]


def test_unreadable_base64_is_left_alone() -> None:
    """The part keeps its bytes; a part holding the banner goes ahead of it (session 38: before, the message had none,
    and a sender chose so whether staff were warned)."""
    for body in (b"SGVsbG8gd!!!29ybGQxx\r\n", b"SGVsb\r\n"):
        assert transfer.b64_decode_lenient(body) is None
        raw, _, _ = _message("text/plain", body)
        assert_banner_part_ahead(raw, insert_banner(raw, BANNER), BANNER)


def test_inline_pgp_in_non_canonical_base64_is_never_touched() -> None:
    """The armour check reads what the lenient decoder reads: the part keeps its bytes (and its signature); the
    banner goes into a part of its own ahead of it."""
    armour = base64.b64encode(b"-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\nhi!\r\n")
    for spoil in SPOIL.values():
        raw, _, _ = _message("text/plain", _lines(spoil(armour)))
        assert_banner_part_ahead(raw, insert_banner(raw, BANNER), BANNER)


def test_non_canonical_base64_over_the_part_cap_stays_as_it_is() -> None:
    encoded = base64.b64encode(b"x" * (MAX_PART_BYTES // 4 * 3 + 2)).rstrip(b"=")
    raw, _, _ = _message("text/plain", _lines(encoded))
    assert_banner_part_ahead(raw, insert_banner(raw, BANNER), BANNER)  # the part as it is, a banner part ahead
    small, start, end = _message("text/plain", _lines(encoded[:len(encoded) // 2 // 4 * 4] + b"QQ"))
    assert re.match(rb"\*\*\* ", _canonical(_edited(small, insert_banner(small, BANNER), start, end), b"\r\n"))


def test_base64_after_a_padding_is_left_alone() -> None:
    """Joined chunks (`...==` then more base64): the lenient decoder stops at the padding, so
    writing back what it read would drop the rest from the delivered message. The part stays as it
    was; the banner goes into a part of its own ahead of it."""
    body = base64.b64encode(b"Hello ther") + b"\r\n" + base64.b64encode(b"We pay for your views") + b"\r\n"
    assert b"=" in body[:20]
    assert transfer.b64_decode_lenient(body) is None
    raw, _, _ = _message("text/plain", body)
    assert_banner_part_ahead(raw, insert_banner(raw, BANNER), BANNER)
    assert transfer.b64_decode_lenient(base64.b64encode(b"Hello ther") + b"\r\n") == b"Hello ther"  # at the end: fine
