"""Banner insertion: property tests over generated MIME trees, plus the cases it must refuse."""

from __future__ import annotations

import base64
import email.policy
import html
import re
from email.message import Message
from email.parser import BytesParser

import pytest
from hypothesis import HealthCheck, given, settings

from gateway.act import banner as banner_module
from gateway.act.banner import HTML_MARKER, MAX_PART_BYTES, Banner, Templates, ascii_fallback, insert_banner
from gateway.mimewalk import Entity, walk
from gateway.model import Decision, RuleHit, Verdict
from tests.unit.act import mimegen
from tests.unit.act.bannered import assert_banner_part_ahead

HITS = (RuleHit("freemail-bigtech", 4, "Free-mail sender claims to work at Google – “big tech”"),
        RuleHit("off-channel", 3, "Asks to continue on WhatsApp <wa.me> & Telegram"),
        RuleHit("cjk", 1, "件名に東京の会議"))
BANNER = Templates.load().render(Decision(Verdict.SUSPICIOUS, 8.0, HITS), "mailto:security@example.org")


def _leaves(msg: Message) -> list[Message]:
    return [p for p in msg.walk() if not p.is_multipart()]


def _decoded(part: Message) -> str:
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data.decode(part.get_content_charset() or "us-ascii")


def _expected_plain(node: mimegen.Node, banner: Banner) -> str:
    text = banner.plain.replace("\n", "\r\n")
    assert node.charset
    try:
        data = text.encode(node.charset)
    except UnicodeEncodeError:
        return ascii_fallback(text)
    return ascii_fallback(text) if node.cte == "7bit" and not data.isascii() else text


def _strip_html_banner(text: str) -> str:
    start = text.index(HTML_MARKER)
    end = text.index("</table>", start) + len("</table>\r\n")
    assert text[start - 2:start] == "\r\n"
    return text[:start - 2] + text[end:]


def check_banner(node: mimegen.Node, banner: Banner = BANNER) -> None:
    raw = mimegen.message(node)
    out = insert_banner(raw, banner)
    before = BytesParser(policy=email.policy.compat32).parsebytes(raw)
    after = BytesParser(policy=email.policy.compat32).parsebytes(out)
    assert [p.get_content_type() for p in after.walk()] == [p.get_content_type() for p in before.walk()]
    modern = BytesParser(policy=email.policy.default).parsebytes(out)
    for part in modern.walk():  # every part decodes
        if not part.is_multipart():
            part.get_content()
    gen_leaves = [n for n in _walk(node) if not n.children]
    targets = {id(n) for n in mimegen.targets(node)}
    old_leaves, new_leaves = _leaves(before), _leaves(after)
    assert len(gen_leaves) == len(old_leaves) == len(new_leaves)
    for gen, old, new in zip(gen_leaves, old_leaves, new_leaves, strict=True):
        assert new.items() == old.items()  # headers, charset and CTE unchanged
        if id(gen) not in targets:  # a blank target part is written into too (review36 #6)
            assert new.get_payload() == old.get_payload()  # byte-identical
            continue
        text = _decoded(new)
        assert gen.text is not None
        if gen.ctype == "text/plain":
            expected = _expected_plain(gen, banner)
            assert text == expected + gen.text
        else:
            assert text.count(HTML_MARKER) == 1
            assert _strip_html_banner(text) == gen.text
            lowered = gen.text.lower()
            if "<body" in lowered:
                assert text.lower().index("<body") < text.index(HTML_MARKER)


def _walk(node: mimegen.Node) -> list[mimegen.Node]:
    out = [node]
    for child in node.children:
        out.extend(_walk(child))
    return out


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mimegen.body_tree())
def test_banner_once_per_text_alternative_rest_untouched(node: mimegen.Node) -> None:
    check_banner(node)


@settings(max_examples=60, deadline=None)
@given(mimegen.body_tree())
def test_second_pass_adds_no_second_banner(node: mimegen.Node) -> None:
    once = insert_banner(mimegen.message(node), BANNER)
    assert insert_banner(once, BANNER) == once


SIMPLE = (b"From: a@example.net\r\nTo: b@example.org\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
          b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello there\r\n")


def test_plain_message_without_mime_headers_gets_ascii_banner() -> None:
    raw = b"From: a@example.net\r\nSubject: hi\r\n\r\nHello\r\n"
    out = insert_banner(raw, BANNER)
    body = out.split(b"\r\n\r\n", 1)[1]
    assert body.isascii()
    assert body.startswith(b"*** Suspicious") and body.endswith(b"Hello\r\n")
    assert b"Asks to continue on WhatsApp <wa.me> & Telegram" in body


def test_html_banner_escapes_reasons_and_has_report_link() -> None:
    assert "&lt;wa.me&gt; &amp; Telegram" in BANNER.html
    assert 'href="mailto:security@example.org"' in BANNER.html
    assert "<wa.me>" not in BANNER.html


def test_every_element_of_the_html_banner_is_pinned_against_the_senders_style_sheet() -> None:
    """attack24 1b: each element the banner adds carries `all:revert` (its table `all:initial`)
    and then its own declarations, all `!important` (an inline important declaration beats any
    rule of the sender's `<style>`, CSS Cascade 4), plus `direction`/`unicode-bidi`, which `all`
    leaves out; the table's `tbody` is written, not left for the parser to add unstyled."""
    from html.parser import HTMLParser

    tags: list[tuple[str, str]] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            tags.append((tag, dict(attrs).get("style") or ""))

    Tags().feed(BANNER.html)
    assert [t for t, _ in tags[:4]] == ["table", "tbody", "tr", "td"]
    assert {t for t, _ in tags} >= {"strong", "br", "ul", "li", "a"}
    for tag, style in tags:
        reset = "all:initial!important;" if tag == "table" else "all:revert!important;"
        assert reset in style, tag
        pinned = [d.strip() for d in style.split(reset, 1)[1].split(";") if d.strip()]
        assert all(d.endswith("!important") for d in pinned), (tag, style)
        if tag != "br":
            assert {"direction:ltr!important", "unicode-bidi:normal!important"} & set(pinned), tag


def test_html_banner_lines_stay_within_998_octets_with_the_longest_reasons() -> None:
    """RFC 5322 2.1.1: a line of an 8bit part holds at most 998 octets; the banner's reasons are one
    a line (six 160-character reasons with their pinned styles on one line were over 1,700)."""
    hits = tuple(RuleHit(f"r{i}", 1, f"{i} " + "x" * 170) for i in range(9))
    banner = Templates.load().render(Decision(Verdict.HIGH, 20.0, hits), "mailto:security@example.org")
    assert banner.html.count("<li") == 6
    assert max(len(line) for line in banner.html.splitlines()) <= 998
    # review24: a stranger's text in a reason (an address list of quotes), escaped; and non-ASCII letters
    # that a part without them carries as character references
    for filler in ('"', "\u0416"):
        hits = (RuleHit("r0", 1, filler * 200),)
        banner = Templates.load().render(Decision(Verdict.HIGH, 20.0, hits), "mailto:security@example.org")
        lines = banner.html.encode("ascii", "xmlcharrefreplace").splitlines()
        assert max(len(line) for line in lines) <= 998, filler
        assert 20 < banner.html.count(html.escape(filler)) < 160  # the reason is there, cut


def _mp(ctype: str, parts: list[bytes], extra: str = "") -> bytes:
    out = f'MIME-Version: 1.0\r\nContent-Type: {ctype}; boundary="XX"{extra}\r\n\r\n'.encode()
    for p in parts:
        out += b"--XX\r\n" + p + b"\r\n"
    return out + b"--XX--\r\n"


TEXT_PART = b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n"


def test_smime_and_pgp_mime_are_never_touched() -> None:
    for ctype in ('multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256',
                  'multipart/encrypted; protocol="application/pgp-encrypted"'):
        raw = _mp(ctype, [TEXT_PART, b"Content-Type: application/octet-stream\r\n\r\nAAAA\r\n"])
        assert insert_banner(raw, BANNER) == raw
    inner = _mp('multipart/signed; protocol="application/pgp-signature"; micalg=pgp-sha256',
                [TEXT_PART, b"Content-Type: application/pgp-signature\r\n\r\nSIG\r\n"]).replace(b"XX", b"YY")
    forwarded = _mp("multipart/mixed", [inner.split(b"\r\n", 1)[1], b"Content-Type: text/plain\r\n\r\nnote\r\n"])
    assert insert_banner(forwarded, BANNER) == forwarded  # the text shown first lies inside the signed part
    opaque = (b"MIME-Version: 1.0\r\nContent-Type: application/x-pkcs7-mime; smime-type=signed-data\r\n"
              b"Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQEx\r\n")
    assert insert_banner(opaque, BANNER) == opaque


@pytest.mark.parametrize("ctype", ["application/pgp-signature", "application/pkcs7-signature",
                                   "application/x-pkcs7-signature", "application/pkcs7-mime"])
def test_a_signature_part_that_signs_nothing_does_not_switch_the_banner_off(ctype: str) -> None:
    """attack35b #2: a signature-typed attachment beside the text of a multipart/mixed covers nothing (no
    multipart/signed holds the text), but any such part anywhere had kept the banner out: the sender chose whether
    staff saw the warning. The banner goes into the text; the attachment is left byte for byte."""
    stray = f"Content-Type: {ctype}\r\nContent-Disposition: attachment\r\n\r\nAAAA\r\n".encode()
    raw = _mp("multipart/mixed", [TEXT_PART, stray])
    out = insert_banner(raw, BANNER)
    msg = BytesParser(policy=email.policy.default).parsebytes(out)
    parts = [p for p in msg.walk() if not p.is_multipart()]
    text = parts[0].get_content().replace("\r\n", "\n")
    assert text.startswith(BANNER.plain.split("\n", 1)[0] + "\n") and text.endswith("\nHello\n")
    assert stray in out


@pytest.mark.parametrize("blank", [b"", b"\r\n \r\n", b"\t\r\n"])
def test_a_blank_first_text_part_does_not_keep_the_banner_out(blank: bytes) -> None:
    """review35 #6: readers show the parts of a multipart/mixed one after another, so with an empty (or white space)
    text/plain first, the text a reader sees first is the second part's; the banner went to the blank part only and
    was dropped there, so none was added. It goes into the first part with text now; the blank part is left as it is."""
    empty = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + blank
    raw = _mp("multipart/mixed", [empty, TEXT_PART])
    out = insert_banner(raw, BANNER)
    msg = BytesParser(policy=email.policy.default).parsebytes(out)
    first, second = [p for p in msg.walk() if not p.is_multipart()]
    assert first.get_content().strip() == ""
    text = second.get_content().replace("\r\n", "\n")
    assert text.startswith(BANNER.plain.split("\n", 1)[0] + "\n") and text.endswith("\nHello\n")
    again = _mp("multipart/mixed", [TEXT_PART, empty])  # a blank part after the text: the text's, as before
    inline_file = (b'Content-Type: text/plain; name="notes.txt"\r\nContent-Disposition: inline; filename="notes.txt"'
                   b"\r\n\r\nmy notes\r\n")
    filed = _mp("multipart/mixed", [empty, inline_file])  # review36 #7: a file shown inline is never edited ...
    first, second = _leaf_texts(insert_banner(filed, BANNER))
    assert first.startswith(BANNER.plain.split("\n", 1)[0] + "\n")  # ... the blank part ahead of it is (review36 #6)
    assert second == "my notes\n"
    named_alternative = (b'Content-Type: multipart/alternative; boundary="YY"; name="x.txt"\r\n\r\n--YY\r\n'
                         + TEXT_PART + b"\r\n--YY--\r\n")  # review36b #5: a multipart is no file
    out = insert_banner(_mp("multipart/mixed", [empty, named_alternative]), BANNER)
    assert out.count(BANNER.plain.split("\n", 1)[0].encode()) == 1
    assert insert_banner(again, BANNER).count(BANNER.plain.split("\n", 1)[0].encode()) == 1


def _leaf_texts(raw: bytes) -> list[str]:
    msg = BytesParser(policy=email.policy.default).parsebytes(raw)
    return [p.get_content().replace("\r\n", "\n") for p in msg.walk() if not p.is_multipart()
            and p.get_content_maintype() == "text"]


@pytest.mark.parametrize("blank", [b"", b"\r\n \r\n"])
def test_a_blank_part_ahead_of_a_forwarded_or_signed_message_gets_the_banner(blank: bytes) -> None:
    """review36 #6: readers show an inline forwarded message (message/rfc822) and a signed part after a blank first
    part; neither is edited (the forwarded message is another message, a banner would break the signature), so the
    blank part, what the reader shows first, is written into. A part with no header/body separator is left as it is,
    and a part holding the banner goes ahead of it (review37b #3: no banner at all before session 38)."""
    empty = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + blank
    forwarded = (b"Content-Type: message/rfc822\r\n\r\nFrom: c@z.test\r\nSubject: fwd\r\n"
                 b"Content-Type: text/plain\r\n\r\nDear Dr Smith, let us talk on Signal.\r\n")
    signed = (b'Content-Type: multipart/signed; protocol="application/pgp-signature"; boundary="SS"\r\n\r\n'
              b"--SS\r\n" + TEXT_PART + b"\r\n--SS\r\nContent-Type: application/pgp-signature\r\n\r\n"
              b"-----BEGIN PGP SIGNATURE-----\r\nabc\r\n-----END PGP SIGNATURE-----\r\n--SS--\r\n")
    first_line = BANNER.plain.split("\n", 1)[0]
    for after in (forwarded, signed):
        raw = _mp("multipart/mixed", [empty, after])
        out = insert_banner(raw, BANNER)
        texts = _leaf_texts(out)
        assert texts[0].startswith(first_line + "\n"), texts
        assert all(first_line not in t for t in texts[1:])
        assert out.endswith(raw[raw.index(after):])  # the part after is byte-identical
        assert insert_banner(out, BANNER) == out  # a second pass adds none
    # review37b #2: a short text after the forwarded message is below the approach: the blank part, shown first, gets it
    inline_file = b'Content-Type: text/plain; name="a.txt"\r\nContent-Disposition: inline\r\n\r\nfile text\r\n'
    for shown in (forwarded, inline_file):
        texts = _leaf_texts(insert_banner(_mp("multipart/mixed", [empty, shown, TEXT_PART]), BANNER))
        assert texts[0].startswith(first_line + "\n") and all(first_line not in t for t in texts[1:]), texts
    unseparated = _mp("multipart/mixed", [b"Content-Type: text/plain", forwarded])  # kept; a banner part ahead
    assert_banner_part_ahead(unseparated, insert_banner(unseparated, BANNER), BANNER)


FORWARDED = (b"Content-Type: message/rfc822\r\n\r\nFrom: c@z.test\r\nSubject: fwd\r\n"
             b"Content-Type: text/plain\r\n\r\nDear Dr Smith, let us talk on Signal.\r\n")


def _banner_part_first(raw: bytes, out: bytes) -> None:
    assert_banner_part_ahead(raw, out, BANNER)


def test_a_forwarded_message_or_file_shown_first_gets_a_banner_part_ahead_of_it() -> None:
    """review37b #1: a multipart/mixed whose first part is an inline forwarded message (message/rfc822: another
    message's bytes, never edited) or a file shown inline got no banner, or one in a short text below the forwarded
    approach. A text/plain part holding the banner is added ahead of it (readers show a mixed one's parts one after
    another); nothing of the message changes but the added part."""
    pdf = (b'Content-Type: application/pdf; name="cv.pdf"\r\nContent-Disposition: inline; filename="cv.pdf"\r\n'
           b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n")
    attached = pdf.replace(b"inline;", b"attachment;")
    nested = _mp("multipart/mixed", [FORWARDED]).replace(b"XX", b"YY").split(b"\r\n", 1)[1]
    for parts in ([FORWARDED], [FORWARDED, TEXT_PART], [pdf, TEXT_PART], [attached], [nested, TEXT_PART]):
        raw = _mp("multipart/mixed", parts)
        _banner_part_first(raw, insert_banner(raw, BANNER))
    with_preamble = _mp("multipart/mixed", [FORWARDED]).replace(b"\r\n\r\n--XX", b"\r\n\r\nA MIME message.\r\n--XX", 1)
    _banner_part_first(with_preamble, insert_banner(with_preamble, BANNER))
    lf_only = _mp("multipart/mixed", [FORWARDED, TEXT_PART]).replace(b"\r\n", b"\n")
    out = insert_banner(lf_only, BANNER)
    assert b"\r" not in out
    _banner_part_first(lf_only, out)


def test_texts_no_banner_may_go_into_get_a_banner_part_ahead_of_them() -> None:
    """review37b #3 and #4: a blank first part the editor refuses (UTF-16 with nothing to follow, EBCDIC, an unknown
    transfer encoding) ahead of a forwarded message, or a blank part followed by a text it refuses (inline PGP, whose
    signature a banner would break; EBCDIC), kept the banner out of the message. Each keeps its bytes; a part holding
    the banner goes ahead of them."""
    blank = "Content-Type: text/plain; charset={}\r\nContent-Transfer-Encoding: {}\r\n\r\n"
    pgp = (b"Content-Type: text/plain\r\n\r\n-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\n"
           b"let us talk on Signal\r\n-----BEGIN PGP SIGNATURE-----\r\nx\r\n-----END PGP SIGNATURE-----\r\n")
    ebcdic = (b"Content-Type: text/plain; charset=cp037\r\nContent-Transfer-Encoding: base64\r\n\r\n"
              + base64.b64encode("let us talk on Signal".encode("cp037")) + b"\r\n")
    refused = [blank.format(c, e).encode() for c, e in (("utf-16", "7bit"), ("cp037", "7bit"), ("utf-8", "x-uuencode"))]
    for parts in ([*[[r, FORWARDED] for r in refused], [blank.format("utf-8", "7bit").encode(), pgp],
                   [blank.format("utf-8", "7bit").encode(), ebcdic], [pgp, TEXT_PART]]):
        raw = _mp("multipart/mixed", parts)
        assert_banner_part_ahead(raw, insert_banner(raw, BANNER), BANNER)


def test_nested_blank_parts_and_inline_images_do_not_send_the_banner_below_what_the_reader_sees_first() -> None:
    """review37b #2: nested in another multipart/mixed, a blank part ahead of a forwarded message sent the banner to a
    text after them both (below the forwarded approach); so did an unnamed image shown inline after a blank part. A
    multipart shown first decides what its reader sees first, and an inline image, as a file, is not passed over: the
    banner goes into the blank part, which the reader sees first."""
    blank = b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    image = b"Content-Type: image/gif\r\nContent-Transfer-Encoding: base64\r\n\r\nR0lGODlhAQABAAAAACw=\r\n"
    inner = _mp("multipart/mixed", [blank, FORWARDED]).replace(b"XX", b"YY").split(b"\r\n", 1)[1]
    first_line = BANNER.plain.split("\n", 1)[0]
    for parts in ([inner, TEXT_PART], [blank, image, TEXT_PART]):
        raw = _mp("multipart/mixed", parts)
        out = insert_banner(raw, BANNER)
        texts = _leaf_texts(out)
        assert texts[0].startswith(first_line + "\n") and all(first_line not in t for t in texts[1:]), texts
        assert texts[-1] == "Hello\n"
        assert out.endswith(raw[raw.index(parts[-2] if parts[-2] is image else FORWARDED):])  # the rest as it was
        assert insert_banner(out, BANNER) == out


@pytest.mark.parametrize("boundary", ["abc ", "----", "b" * 100, "a'()+_,-./:=? b"])
@pytest.mark.parametrize("eol", ["\r\n", "\n"])
def test_the_banner_part_is_written_with_the_first_delimiter_line_readers_split_on(boundary: str, eol: str) -> None:
    """review38 #1: with boundary="abc " the part's delimiter was written "--abc" (the stdlib strips the space; the
    walk and Dovecot split on "--abc "): the banner part went into the preamble, shown by no reader, one more each
    pass. review38 #4: with a boundary of dashes, the banner's line of dashes was the close delimiter to prefix
    readers, hiding the whole message. The part's delimiter is a copy of the first one, and no line of its
    quoted-printable text begins with "-" (=2D)."""
    raw = (f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n--{boundary}\r\n'.encode()
           + FORWARDED + f"\r\n--{boundary}\r\n".encode() + TEXT_PART + f"\r\n--{boundary}--\r\n".encode())
    raw = raw.replace(b"\r\n", eol.encode())
    out = insert_banner(raw, BANNER)
    assert_banner_part_ahead(raw, out, BANNER)
    root, before = walk(out), walk(raw)
    assert [c.content_type for c in root.children] == ["text/plain"] + [c.content_type for c in before.children]
    added = out[root.children[0].body_start:root.children[0].end]
    assert not re.search(rb"(?m)^-", added)
    assert "Hello" not in _leaf_texts(out)[0]


def test_the_banner_part_falls_back_to_the_text_below_when_readers_would_split_it_otherwise() -> None:
    """review38 #3, #5, #6: where a part cannot be added safely the banner goes, as before, into the text below the
    forwarded message rather than nowhere: a first delimiter line with junk after the boundary (a delimiter to the
    walk and Dovecot, not to the stdlib), a root field written "Content-Type :" (the stdlib reads text/plain), a
    1,050-character boundary whose lines carry its first 80 (a copy would pass 998 octets: none is made)."""
    first_line = BANNER.plain.split("\n", 1)[0]
    junk = _mp("multipart/mixed", [FORWARDED, TEXT_PART]).replace(b"\r\n\r\n--XX\r\n", b"\r\n\r\n--XXjunk\r\n", 1)
    spaced = _mp("multipart/mixed", [FORWARDED, TEXT_PART]).replace(b"Content-Type: multipart",
                                                                    b"Content-Type : multipart")
    long_b = "L" * 1050
    continued = "".join(f';\r\n boundary*{i}="{long_b[i * 70:(i + 1) * 70]}"' for i in range(15))  # short lines
    prefixed = (f"MIME-Version: 1.0\r\nContent-Type: multipart/mixed{continued}\r\n\r\n".encode()
                + b"".join(b"--" + long_b[:80].encode() + b"\r\n" + p + b"\r\n" for p in (FORWARDED, TEXT_PART))
                + b"--" + long_b[:80].encode() + b"--\r\n")
    for raw in (junk, spaced, prefixed):
        out = insert_banner(raw, BANNER)
        assert out.count(first_line.encode()) == 1 and b"Content-Disposition: inline" not in out
        assert out.index(first_line.encode()) > out.index(b"let us talk on Signal")  # the text below, as before
        assert max(len(line) for line in out.splitlines()) <= 998
        assert insert_banner(out, BANNER) == out
    whole = _mp("multipart/mixed", [FORWARDED, TEXT_PART]).replace(b"XX", b"W" * 997)  # lines of 999 octets already
    out = insert_banner(whole, BANNER)  # (no second one is written)
    assert b"Content-Disposition: inline" not in out and out.index(first_line.encode()) > out.index(b"let us talk")


@pytest.mark.parametrize("root", ["multipart/mixed", "multipart/alternative", "multipart/related"])
@pytest.mark.parametrize("dashes", [1, 2, 68])
def test_a_boundary_of_dashes_keeps_the_banner_in_the_text(root: str, dashes: int) -> None:
    """review38 #4 and review38b #1: with a boundary made of dashes, the shipped banner's rule line (70 dashes), written
    into a 7bit text, was that multipart's close delimiter to prefix readers (Dovecot lost the parts after it); once
    edits had to split alike for the walk, such a message under an alternative or related root got no banner at all.
    No line of a rendered banner begins with "-": the text takes it and the message splits as it did."""
    second = (b"Content-Type: text/html\r\n\r\n<html><body><p>Dear Sarah</p></body></html>\r\n"
              if root == "multipart/alternative" else
              b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="a.pdf"\r\n\r\nx\r\n')
    raw = _mp(root, [TEXT_PART, second]).replace(b"XX", b"-" * dashes)
    out = insert_banner(raw, BANNER)
    assert not re.search(r"(?m)^-", BANNER.plain + BANNER.html)
    assert _types(walk(out)) == _types(walk(raw))
    texts = _leaf_texts(out)
    assert texts[0].startswith(BANNER.plain.split("\n", 1)[0]) and texts[0].endswith("Hello\n")


def _types(root: Entity) -> list[str]:
    return [e.content_type for e in root.walk()]


def test_a_banner_text_that_would_split_the_message_goes_into_a_part_of_its_own() -> None:
    """Whatever a banner holds, an edited message must split as the original did for the walk (prefix readers) too:
    a banner line that closes the boundary (here a made-up banner, as no rendered one can hold such a line) is not
    written into the text; the banner goes into a part of its own, whose quoted-printable writes a line's first "-"
    as =2D."""
    closing = Banner(plain="*** Warning\n--XX--\n", html="<p>Warning</p>\n")
    pdf = b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="a.pdf"\r\n\r\nx\r\n'
    raw = _mp("multipart/mixed", [TEXT_PART, pdf])
    out = insert_banner(raw, closing)
    assert_banner_part_ahead(raw, out, closing)
    assert _types(walk(out)) == ["multipart/mixed", "text/plain", "text/plain", "application/pdf"]


def test_an_edit_that_cuts_a_part_short_is_not_made_though_the_part_types_stay() -> None:
    """review38c #1 and review38d #4: an edit must leave every part where it was (moved by the bytes written before
    it), not only the same list of types: a line that closes the multipart inside the HTML part ends that part early
    and drops the sender's text into the epilogue while the types stay [mixed, html]. Here a made-up banner holds
    such a line; the edit is refused and the banner goes into a part of its own."""
    closing = Banner(plain="*** Warning\n", html="<p>Warning</p>\n--XX--\n<p>end of the warning</p>\n")
    html_part = b"Content-Type: text/html\r\n\r\n<html><body>\r\n<p>Dear Dr Smith</p></body></html>\r\n"
    raw = _mp("multipart/mixed", [html_part])
    out = insert_banner(raw, closing)
    assert_banner_part_ahead(raw, out, closing)
    html_entity = walk(out).children[1]
    assert out[html_entity.body_start:html_entity.end].rstrip().endswith(b"</html>")


def test_a_banner_part_that_readers_would_read_otherwise_is_not_added(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks behind the part: if the walk (prefix lines, as Dovecot) split it into more parts, or the stdlib
    decoded another text from it, the part is not added; the banner goes into the text below instead."""
    real = banner_module._banner_part
    raw = _mp("multipart/mixed", [FORWARDED, TEXT_PART])
    first_line = BANNER.plain.split("\n", 1)[0].encode()

    def split(banner: Banner, delimiter: bytes, eol: bytes) -> tuple[bytes, bytes]:
        part, text = real(banner, delimiter, eol)
        return part + delimiter + b"junk" + eol + eol, text  # a line only prefix readers split on

    def other(banner: Banner, delimiter: bytes, eol: bytes) -> tuple[bytes, bytes]:
        return real(banner, delimiter, eol)[0], b"another text"

    for fake in (split, other):
        monkeypatch.setattr(banner_module, "_banner_part", fake)
        out = insert_banner(raw, BANNER)
        assert b"Content-Disposition: inline" not in out and out.index(first_line) > out.index(b"let us talk")
    monkeypatch.setattr(banner_module, "_banner_part", real)
    assert b"Content-Disposition: inline" in insert_banner(raw, BANNER)


def test_a_nested_mixed_keeps_the_banner_in_the_text_its_reader_shows() -> None:
    """review38 #2: a multipart/mixed inside an alternative or related part (Apple Mail's HTML with an inline file:
    alternative[plain, mixed[pdf, html]]) gave no target, while a part is only ever added at the top: the HTML,
    what readers show, lost its banner. Only the top mixed and the parts first in it give way to a banner part."""
    pdf = (b'Content-Type: application/pdf; name="a.pdf"\r\nContent-Disposition: inline; filename="a.pdf"\r\n'
           b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n")
    html_part = b"Content-Type: text/html\r\n\r\n<html><body><p>Dear Sarah</p></body></html>\r\n"
    png = b"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0K\r\n"

    def inner(ctype: str, parts: list[bytes], name: bytes) -> bytes:
        return _mp(ctype, parts).replace(b"XX", name).split(b"\r\n", 1)[1]

    apple = inner("multipart/mixed", [pdf, html_part], b"YY")
    forwarded = inner("multipart/mixed", [FORWARDED, html_part], b"YY")
    for outer, parts in (("multipart/alternative", [TEXT_PART, apple]),
                         ("multipart/alternative", [TEXT_PART, forwarded]), ("multipart/related", [forwarded, png])):
        out = insert_banner(_mp(outer, parts), BANNER)
        html_text = [p for p in BytesParser(policy=email.policy.default).parsebytes(out).walk()
                     if p.get_content_type() == "text/html"][0].get_content()
        assert HTML_MARKER in html_text and html_text.index(HTML_MARKER) < html_text.index("Dear Sarah"), outer
        assert b"Content-Disposition: inline\r\n\r\n*** " not in out  # no part added


def test_a_nested_forwarded_message_behind_a_blank_part_or_an_attachment_gets_the_banner_ahead() -> None:
    """review38b #2: behind a blank part or an attachment (listed apart), a nested mixed showing a forwarded message
    first sent the banner to the text below the forwarded approach: the top mixed's later parts were asked without
    the head. Now a part goes ahead of everything, or the banner into the nested blank part its reader sees first."""
    blank = b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    attached = b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="a.pdf"\r\n\r\nx\r\n'
    html_part = b"Content-Type: text/html\r\n\r\n<html><body><p>See the note.</p></body></html>\r\n"

    def nested(parts: list[bytes]) -> bytes:
        return _mp("multipart/mixed", parts).replace(b"XX", b"YY").split(b"\r\n", 1)[1]

    for parts in ([blank, nested([FORWARDED, TEXT_PART])], [attached, nested([FORWARDED, TEXT_PART])]):
        raw = _mp("multipart/mixed", parts)
        assert_banner_part_ahead(raw, insert_banner(raw, BANNER), BANNER)
    raw = _mp("multipart/mixed", [attached, nested([blank, FORWARDED]), html_part])
    out = insert_banner(raw, BANNER)
    leaves = [p for p in BytesParser(policy=email.policy.default).parsebytes(out).walk() if not p.is_multipart()]
    assert [p.get_content_type() for p in leaves] == ["application/pdf", "text/plain", "text/plain", "text/html"]
    assert leaves[1].get_content().startswith(BANNER.plain.split("\n", 1)[0])  # the nested blank part, shown first
    assert "let us talk on Signal" in leaves[2].get_content() and "Suspicious" not in leaves[2].get_content()
    assert HTML_MARKER not in leaves[-1].get_content() and insert_banner(out, BANNER) == out


def test_when_the_html_shown_refuses_the_banner_a_part_goes_ahead_whatever_the_plain_alternative_took() -> None:
    """review38b #3: readers show the HTML alternative; when it refuses the banner (an unknown transfer encoding that
    readers show as it is, a part over 2 MiB, EBCDIC) while the hidden plain alternative takes it, or already holds
    it, no part was added and readers saw no banner. What readers show decides."""
    html = b"<html><body><p>Dear Sarah, let us talk on Signal.</p></body></html>\r\n"
    pre = BANNER.plain_ascii.replace("\n", "\r\n").encode()  # as this us-ascii plain part would hold it

    def message(html_head: bytes, html_body: bytes, plain: bytes = b"Dear Sarah\r\n") -> bytes:
        alternative = (b'Content-Type: multipart/alternative; boundary="A"\r\n\r\n--A\r\nContent-Type: text/plain'
                       b"\r\n\r\n" + plain + b"--A\r\n" + html_head + b"\r\n\r\n" + html_body + b"--A--\r\n")
        pdf = b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="a.pdf"\r\n\r\nx\r\n'
        return _mp("multipart/mixed", [alternative, pdf])

    ebcdic = "<html><body>Hallo</body></html>".encode("cp037") + b"\r\n"
    for raw in (message(b"Content-Type: text/html\r\nContent-Transfer-Encoding: 8bits", html),
                message(b"Content-Type: text/html", html.replace(b"<p>", b"<!--" + b"x" * (2 << 20) + b"--><p>")),
                message(b"Content-Type: text/html; charset=ibm037", ebcdic, pre + b"Dear Sarah\r\n")):
        assert_banner_part_ahead(raw, insert_banner(raw, BANNER), BANNER)
    # of an alternative, readers show the last part: a refusing HTML ahead of it decides nothing (review38c #4)
    hidden = message(b"Content-Type: text/html", html).replace(  # [html x-foo (hidden), html (shown)]
        b"Content-Type: text/plain\r\n\r\nDear Sarah\r\n",
        b"Content-Type: text/html\r\nContent-Transfer-Encoding: x-foo\r\n\r\n" + html)
    out = insert_banner(hidden, BANNER)
    assert b"Content-Disposition: inline" not in out and out.count(HTML_MARKER.encode()) == 1
    assert out.index(HTML_MARKER.encode()) > out.index(b"x-foo")  # in the last alternative
    assert insert_banner(out, BANNER) == out
    taken = message(b"Content-Type: text/html", html)  # the HTML takes it: no part, both alternatives bannered
    out = insert_banner(taken, BANNER)
    assert out.count(BANNER.plain.split("\n", 1)[0].encode()) == 1 and out.count(HTML_MARKER.encode()) == 1
    assert b"Content-Disposition: inline" not in out


def test_a_long_banner_of_three_octet_letters_is_recognised_on_a_second_pass() -> None:
    """review38b #4: quoted-printable of UTF-8 letters of three octets takes about 3.1 encoded octets a decoded one;
    the check for a banner already there read 3, so past about 3.6 KB an admin's banner was added a second time."""
    text = "\u8b66\u544a" * 600 + "\nWhy: a stranger's approach\n"
    long_banner = Banner(plain=text, html="<p>" + text + "</p>\n")
    qp_text = (b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
               b"Content-Transfer-Encoding: quoted-printable\r\n\r\nHello\r\n")
    for raw in (qp_text, _mp("multipart/mixed", [FORWARDED, TEXT_PART])):
        once = insert_banner(raw, long_banner)
        assert once != raw and insert_banner(once, long_banner) == once


@pytest.mark.parametrize("root", ["multipart/alternative", "multipart/related", "multipart/mixed"])
@pytest.mark.parametrize("after", [b"--XX", b"--XX--"])
@pytest.mark.parametrize("cte", ["7bit", "quoted-printable"])
def test_the_senders_delimiter_right_after_body_stays_off_a_line_start(root: str, after: bytes, cte: str) -> None:
    """review38c #1: the HTML banner ends with a line break, so what the sender wrote right after <body> began a line:
    "--XX" there became a delimiter (the edit refused: no banner under an alternative or related root), "--XX--"
    closed the multipart and cut the sender's text off the HTML part while the part types stayed the same. Such
    bytes now stay on the banner's last line (QP: the part re-encoded, =2D), and an edit must keep every part where
    it was, moved by the bytes written before it."""
    html_text = b"<html><body>" + after + b"<p>Dear Dr Smith, let us talk on Signal.</p></body></html>\r\n"
    html_part = f"Content-Type: text/html\r\nContent-Transfer-Encoding: {cte}\r\n\r\n".encode() + html_text
    parts = {"multipart/alternative": [TEXT_PART, html_part],
             "multipart/related": [html_part, b"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                                               b"iVBORw0K\r\n"],
             "multipart/mixed": [html_part]}[root]
    raw = _mp(root, parts)
    out = insert_banner(raw, BANNER)
    again = walk(out)
    assert _types(again) == _types(walk(raw))
    html_entity = next(e for e in again.walk() if e.content_type == "text/html")
    assert not re.search(rb"(?m)^--XX", out[html_entity.body_start:html_entity.end])
    assert html_entity.cte == ("base64" if cte == "7bit" else cte)  # (review38e #2: a QP part stays QP, re-encoded)
    shown = [p for p in BytesParser(policy=email.policy.default).parsebytes(out).walk()
             if p.get_content_type() == "text/html"][0].get_content()  # (a 7bit one is written as base64 now)
    assert HTML_MARKER in shown and "Dear Dr Smith" in shown and shown.rstrip().endswith("</html>")
    assert max(len(line) for line in out.splitlines()) <= 998
    assert insert_banner(out, BANNER) == out
    # review38d #1: a sender's line of 998 octets there (legal) joined to the banner's last line went past 998
    long_line = raw.replace(after + b"<p>", after + b"x" * (998 - len(b"<html><body>" + after)) + b"\r\n<p>")
    assert max(len(line) for line in long_line.splitlines()) == 998
    out = insert_banner(long_line, BANNER)
    shown = [p for p in BytesParser(policy=email.policy.default).parsebytes(out).walk()
             if p.get_content_type() == "text/html"][0].get_content()
    assert HTML_MARKER in shown and max(len(line) for line in out.splitlines()) <= 998


def test_a_single_dash_after_body_keeps_the_part_as_it_was_written() -> None:
    """review38e #1: base64 makes a part a third larger; only "--" begins a delimiter line, so a single "-" right
    after <body> keeps the 7bit part 7bit, the banner on a line of its own before it."""
    html_part = b"Content-Type: text/html\r\n\r\n<html><body>- a list<p>Dear Sarah</p></body></html>\r\n"
    out = insert_banner(_mp("multipart/alternative", [TEXT_PART, html_part]), BANNER)
    assert b"Content-Transfer-Encoding: base64" not in out and HTML_MARKER.encode() in out


def test_a_text_the_banner_took_over_the_size_cap_gets_no_second_one() -> None:
    """review38c #2: a text just under the 2 MiB cap takes the banner and goes over it; a second pass counted it as a
    text that refuses any banner and added a part ahead (two banners). Its first lines are asked whether they hold
    this banner."""
    pdf = b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="a.pdf"\r\n\r\nx\r\n'
    for head, filler in ((b"Content-Type: text/plain\r\n\r\n", b"x" * 70 + b"\r\n"),
                         (b"Content-Type: text/html\r\n\r\n<html><body>", b"<p>" + b"x" * 66 + b"</p>\r\n")):
        body = filler * ((MAX_PART_BYTES - 300) // len(filler))
        raw = _mp("multipart/mixed", [head + body, pdf])
        once = insert_banner(raw, BANNER)
        assert once != raw and insert_banner(once, BANNER) == once


def test_the_ascii_fallback_of_an_admins_template_has_no_line_of_dashes() -> None:
    """review38c #3: the ASCII fallback (us-ascii and 7bit parts) turns an em dash into "-": an admin's rule line of
    em dashes came back as a line of "-", a close delimiter for a boundary of dashes, and such a message under an
    alternative root got no banner."""
    ruled = Templates(plain="\u2014" * 70 + "\n$headline\n$reasons\n", html="<p>$headline</p>$reasons\n")
    banner = ruled.render(Decision(Verdict.HIGH, 9.0, HITS), None)
    assert not re.search(r"(?m)^-", banner.plain_ascii)
    raw = _mp("multipart/alternative", [b"Content-Type: text/plain\r\n\r\nHello\r\n",
                                        b"Content-Type: text/html\r\n\r\n<html><body><p>Hi</p></body></html>\r\n"])
    raw = raw.replace(b"XX", b"-" * 20)
    out = insert_banner(raw, banner)
    assert _leaf_texts(out)[0].startswith(" " + "-" * 69) and _types(walk(out)) == _types(walk(raw))


def test_a_banner_part_is_added_only_where_nothing_shown_first_takes_the_banner() -> None:
    """Guards beside the banner part: an attachment first is listed apart, so the text after it is what the reader
    sees first and gets the banner as before; a text first gets it; a forwarded message that is the whole message
    gets none (a part could only be added under a new top-level Content-Type: docs/known-limits.md); a part the
    banner goes
    into inside a signed part keeps the message as it is."""
    attached = b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="a.pdf"\r\n\r\nx\r\n'
    first_line = BANNER.plain.split("\n", 1)[0]
    for parts in ([attached, TEXT_PART], [TEXT_PART, FORWARDED]):
        raw = _mp("multipart/mixed", parts)
        texts = _leaf_texts(insert_banner(raw, BANNER))
        flagged = [t for t in texts if first_line in t]
        assert len(flagged) == 1 and flagged[0].startswith(first_line) and flagged[0].endswith("\nHello\n"), texts
        assert len(texts) == len(parts) - (parts[0] is attached)  # no part added
    whole = b"MIME-Version: 1.0\r\n" + FORWARDED
    assert insert_banner(whole, BANNER) == whole
    signed = (b'Content-Type: multipart/signed; protocol="application/pgp-signature"; boundary="SS"\r\n\r\n'
              b"--SS\r\n" + TEXT_PART + b"\r\n--SS\r\nContent-Type: application/pgp-signature\r\n\r\n"
              b"-----BEGIN PGP SIGNATURE-----\r\nabc\r\n-----END PGP SIGNATURE-----\r\n--SS--\r\n")
    raw = _mp("multipart/mixed", [signed, FORWARDED])
    assert insert_banner(raw, BANNER) == raw


@pytest.mark.parametrize("cte", ["7bit", "base64", "quoted-printable"])
@pytest.mark.parametrize("html_part", [False, True])
def test_an_empty_part_gets_the_banner_with_the_messages_own_line_breaks(cte: str, html_part: bool) -> None:
    """review37b #5: an empty base64 or quoted-printable part has no line ending of its own; the banner written into
    it took CRLF in a message written with LF (what a quarantined or scanned copy keeps). It takes the part's header
    block's now, as a 7bit one did; a CRLF message keeps CRLF."""
    ctype = "text/html" if html_part else "text/plain"
    for eol in ("\n", "\r\n"):
        raw = (f"From: a@x.test{eol}MIME-Version: 1.0{eol}Content-Type: {ctype}; charset=utf-8{eol}"
               f"Content-Transfer-Encoding: {cte}{eol}{eol}").encode()
        out = insert_banner(raw, BANNER)
        assert out.startswith(raw) and len(out) > len(raw) + 100
        body = out[len(raw):]
        if eol == "\n":
            assert b"\r" not in body
        else:
            assert body.count(b"\n") == body.count(b"\r\n")
        part = BytesParser(policy=email.policy.default).parsebytes(out)
        text = part.get_content()
        assert ("approach-gateway-banner" in text) if html_part else text.startswith("*** Suspicious")
        if cte != "base64":  # (a base64 body's own line breaks are the encoding's; the text's are the banner's)
            continue
        assert (b"\r\n" in base64.b64decode(body)) == (eol == "\r\n")
        assert insert_banner(out, BANNER) == out


def test_inline_pgp_is_never_touched() -> None:
    raw = SIMPLE.replace(b"Hello there", b"-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\nhi")
    assert insert_banner(raw, BANNER) == raw


def test_inline_pgp_inside_base64_is_never_touched() -> None:
    body = base64.encodebytes(b"-----BEGIN PGP MESSAGE-----\r\nhQEMA\r\n-----END PGP MESSAGE-----\r\n")
    raw = SIMPLE.replace(b"charset=utf-8\r\n", b"charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n")
    raw = raw.replace(b"Hello there\r\n", body.replace(b"\n", b"\r\n"))
    assert insert_banner(raw, BANNER) == raw


def test_hostile_reason_cannot_add_lines_or_markup() -> None:
    hits = (RuleHit("x", 9, "evil\r\n*** All clear ***\r\n<script>alert(1)</script>"),)
    banner = Templates.load().render(Decision(Verdict.HIGH, 9, hits), None)
    assert "\n*** All clear" not in banner.plain and "<script>" not in banner.html
    assert "Report" not in banner.plain and "href" not in banner.html  # no link configured


def test_malformed_mime_gives_no_banner_and_no_exception() -> None:
    broken = [
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="XX"\r\n\r\n--XX\r\n' + TEXT_PART,
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n" + TEXT_PART,
        b'Content-Type: multipart/alternative; boundary="\xff\xfe"\r\n\r\n--\xff\xfe\r\n\r\nx\r\n--\xff\xfe--',
        SIMPLE.replace(b"charset=utf-8", b"charset=cp037"),  # EBCDIC (UTF-16: test_banner_charsets.py)
        SIMPLE.replace(b"charset=utf-8\r\n", b"charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n")
        .replace(b"Hello there", b"SGVsbG8gd!!!29ybGQxx"),  # unreadable even leniently (test_banner_base64.py)
        SIMPLE.replace(b"charset=utf-8\r\n", b"charset=utf-8\r\nContent-Transfer-Encoding: x-uuencode\r\n"),
        b"", b"Subject: no body",  # no header/body separator to write after
    ]
    for raw in broken:
        assert insert_banner(raw, BANNER) == raw, raw[:80]
    # an empty body after the separator is a body (RFC 5322 3.5): the banner is what a reader sees (review36 #6)
    out = insert_banner(b"Subject: no body\r\n\r\n", BANNER)
    assert out.startswith(b"Subject: no body\r\n\r\n" + BANNER.plain.split("\n", 1)[0].encode() + b"\r\n")


def test_nesting_beyond_the_limit_gives_no_banner() -> None:
    raw = TEXT_PART
    for i in range(30):
        raw = f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'.encode() + raw + \
            f"\r\n--b{i}--\r\n".encode()
    assert insert_banner(raw, BANNER, max_depth=20) == raw
    assert insert_banner(raw, BANNER, max_depth=40) != raw


def test_attachment_first_the_banner_goes_into_the_text() -> None:
    """An attachment ahead of the text had kept the banner out (this test said so until review35 #6): readers show
    the text part as the message and the attachment below it, so the banner goes into the text; the attachment is
    left byte for byte."""
    attachment = b'Content-Type: text/plain\r\nContent-Disposition: attachment; filename="a.txt"\r\n\r\nfile\r\n'
    raw = _mp("multipart/mixed", [attachment, TEXT_PART])
    out = insert_banner(raw, BANNER)
    assert attachment in out and out.count(BANNER.plain.split("\n", 1)[0].encode()) == 1
    assert out.index(attachment) < out.index(BANNER.plain.split("\n", 1)[0].encode())


def test_iso_2022_jp_html_after_body_tag() -> None:
    html = "<html><head><title>会議</title></head><body>東京で会いましょう</body></html>"
    raw = (b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=iso-2022-jp\r\n"
           b"Content-Transfer-Encoding: 7bit\r\n\r\n" + html.encode("iso-2022-jp") + b"\r\n")
    out = insert_banner(raw, BANNER)
    msg = BytesParser(policy=email.policy.default).parsebytes(out)
    text = msg.get_content()
    assert text.index("<body>") < text.index(HTML_MARKER) < text.index("東京で")
    assert "件名に東京の会議" in text  # encodable in ISO-2022-JP: written natively
    assert out.split(b"\r\n\r\n", 1)[1].isascii()


def test_latin1_html_gets_character_references_for_what_it_cannot_encode() -> None:
    raw = (b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=iso-8859-1\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n<body>Caf\xe9</body>\r\n")
    out = insert_banner(raw, BANNER)
    assert b"&#26481;&#20140;" in out and b"Caf\xe9</body>" in out
    assert BytesParser(policy=email.policy.default).parsebytes(out).get_content_charset() == "iso-8859-1"


@pytest.mark.parametrize("subtype", ["x-note", "markdown", "X-Whatever", "prs.fake-note"])
def test_text_subtype_shown_as_plain_gets_the_plain_banner(subtype: str) -> None:
    """RFC 2046 4.1.4: readers show an unrecognised text subtype as plain text, and the analysis
    reads it: a sender must not pick a subtype to keep the warning out."""
    for raw in (f"From: a@example.net\r\nMIME-Version: 1.0\r\nContent-Type: text/{subtype}; charset=utf-8\r\n"
                "\r\nDear Sarah, shall we talk on WhatsApp?\r\n".encode(),
                _mp("multipart/mixed", [f"Content-Type: text/{subtype}; charset=utf-8\r\n\r\nDear Sarah\r\n".encode(),
                                        b"Content-Type: application/pdf\r\n\r\nJVBERi0=\r\n"])):
        out = insert_banner(raw, BANNER)
        assert b"*** Suspicious" in out and HTML_MARKER.encode() not in out, out
        assert out.count(b"*** Suspicious") == 1
        assert out.replace(out[out.index(b"*** Suspicious"):out.index(b"Dear Sarah")], b"") == raw


@pytest.mark.parametrize("ctype", ["text/calendar", "text/enriched", "text/rtf", "text/csv", "text/vcard",
                                   "text/x-amp-html"])
def test_text_with_a_format_of_its_own_is_left_alone(ctype: str) -> None:
    """Text a reader renders in its own format (an invitation, rich text, a table) would be broken
    by a plain banner at its top: no banner there; the text/plain alternative beside it gets one."""
    part = f"Content-Type: {ctype}; charset=utf-8\r\n\r\nBEGIN:X\r\nEND:X\r\n".encode()
    assert insert_banner(part, BANNER) == part
    alt = _mp("multipart/alternative", [TEXT_PART, part])
    out = insert_banner(alt, BANNER)
    assert out.count(b"*** Suspicious") == 1 and out.endswith(b"--XX\r\n" + part + b"\r\n--XX--\r\n")
