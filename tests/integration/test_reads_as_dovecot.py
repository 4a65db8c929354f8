"""The analysis reads no less of a message's text than a real mail reader does.

A stranger who knows the gateway spells a message's MIME fields so that the gateway reads nothing
while mail clients show the text (session 20's attacker: a comment after `base64`, a folded
Content-Type, `Content-Type :`, a boundary with a quoted-pair, an unknown text subtype ...). Each
case here is one such spelling around the same approach text; Dovecot's Pigeonhole (`sieve-test`,
the `body :text` test, which decodes MIME as Dovecot's IMAP server shows it to clients) is the
reader. Where Dovecot finds the text, the analysis must read it (`MessageView`) and the banner must
go in; where the gateway reads more than Dovecot, nothing is asserted (reading more is safe).
Known, designed differences are listed with the reason (`DESIGNED`).
"""

from __future__ import annotations

import base64
import quopri

import pytest

from gateway.act.banner import Templates, insert_banner
from gateway.model import Decision, RuleHit, Verdict
from gateway.parse import MessageView
from tests.support.sieve import deliver

TOKEN = "WhatsApp"
SCRIPT = ('require ["body", "fileinto", "mailbox"];\n'
          f'if body :text :contains "{TOKEN}" {{ fileinto :create "Read"; }}\n')
HEAD = (b"From: Daniel Lee <daniel.lee.talent@gmail.com>\r\nTo: sarah@example.org\r\n"
        b"Subject: An advisory role\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\nMessage-ID: <d1@gmail.com>\r\n"
        b"MIME-Version: 1.0\r\n")
TEXT = (b"Dear Sarah,\r\nI lead research partnerships for a consultancy in Singapore and would value your "
        b"views on\r\nthe policy debate, for a paid advisory role. Could we continue on WhatsApp?\r\nDaniel\r\n")
B64 = base64.encodebytes(TEXT).replace(b"\n", b"\r\n")
QP = quopri.encodestring(TEXT.replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n").replace(b"WhatsApp", b"Whats=41pp")
BANNER = Templates.load().render(Decision(Verdict.HIGH, 50.0, (RuleHit("r", 50.0, "A stranger's approach"),)),
                                 None)


def _in_mixed(part_head: bytes, body: bytes = B64) -> bytes:
    return (HEAD + b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n--XX\r\n' + part_head + b"\r\n\r\n"
            + body + b"--XX--\r\n")


PART = b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: base64\r\n\r\n" + B64


def _top(ctype: bytes, bnd: bytes, close: bytes | None = None) -> bytes:
    close = bnd + b"--" if close is None else close
    return HEAD + b"Content-Type: " + ctype + b"\r\n\r\npreamble\r\n--" + bnd + b"\r\n" + PART + b"--" + close + b"\r\n"


MIXED = b'multipart/mixed; boundary="XX"'
HIDDEN = (HEAD + b"Content-Type: " + MIXED + b"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nSee the note.\r\n"
          b"--XX note\r\n" + PART + b"--XX--\r\n")
NESTED = (HEAD + b"Content-Type: " + MIXED + b"\r\n\r\n--XX\r\n"
          b'Content-Type: multipart/alternative; boundary="XX_alt"\r\n\r\n--XX_alt\r\n' + PART
          + b"--XX_alt\r\nContent-Type: text/html\r\n\r\n<p>Dear Sarah</p>\r\n--XX_alt--\r\n"
          b"--XX\r\nContent-Type: application/pdf\r\n\r\nJVBERi0=\r\n--XX--\r\n")

# a decoy part the byte walk cannot split (gateway.mimewalk.UnsplittableError) beside HIDDEN's
# loose line: the walk once gave up on the whole message there, and the loose line hid the text
# again (attack22 finding 8)
BENIGN = b"Content-Type: text/plain\r\n\r\nSee the note.\r\n"
DECOYS = {
    "empty multipart": b'Content-Type: multipart/mixed; boundary="ZZ"\r\n\r\nnothing here\r\n',
    "non-ASCII boundary": b'Content-Type: multipart/mixed; boundary="Z\xc3\xa9"\r\n\r\n--Z\xc3\xa9\r\n'
                          + BENIGN + b"--Z\xc3\xa9--\r\n",
    "201-character boundary": b'Content-Type: multipart/mixed; boundary="' + b"Z" * 201 + b'"\r\n\r\n--'
                              + b"Z" * 201 + b"\r\n" + BENIGN + b"--" + b"Z" * 201 + b"--\r\n",
    "multipart without a boundary": b"Content-Type: multipart/mixed\r\n\r\nnothing\r\n",
}


def _hidden_with(decoy: bytes, first: bool) -> bytes:
    if first:
        return HEAD + b"Content-Type: " + MIXED + b"\r\n\r\n--XX\r\n" + decoy + HIDDEN.split(b"\r\n\r\n", 1)[1]
    return HIDDEN.replace(b"--XX--\r\n", b"--XX\r\n" + decoy + b"--XX--\r\n")

# a nested multipart with the outer boundary, or the outer one plus "--" (whose lines "--XX--" are
# exact closes of the outer): Dovecot tries the innermost boundary first (attack22 finding 8)
SAME = (HEAD + b"Content-Type: " + MIXED + b'\r\n\r\n--XX\r\nContent-Type: multipart/alternative; boundary="XX"'
        b"\r\n\r\n--XX\r\n" + BENIGN + b"--XX--\r\n--XX\r\n" + PART + b"--XX--\r\n")
DASHED = (HEAD + b"Content-Type: " + MIXED + b'\r\n\r\n--XX\r\nContent-Type: multipart/mixed; boundary="XX--"'
          b"\r\n\r\n--XX--\r\n" + BENIGN + b"--XX--\r\n" + PART + b"--XX----\r\n--XX\r\n" + BENIGN + b"--XX--\r\n")

# Dovecot matches a boundary by its first 80 characters (attack22): lines that begin with them open
# a part, at the top or in a nested multipart (the walk had refused a boundary over 200)
LONG = b"Y" * 100


def _long_top(line: bytes) -> bytes:
    return (HEAD + b'Content-Type: multipart/mixed; boundary="' + LONG + b'"\r\n\r\n--' + LONG + b"\r\n" + BENIGN
            + b"--" + line + b"\r\n" + PART + b"--" + LONG + b"--\r\n")


def _long_nested(bnd: bytes) -> bytes:
    return (HEAD + b"Content-Type: " + MIXED + b'\r\n\r\n--XX\r\nContent-Type: multipart/mixed; boundary="' + bnd
            + b'"\r\n\r\n--' + bnd + b"\r\n" + BENIGN + b"--" + bnd + b" note\r\n" + PART + b"--" + bnd
            + b"--\r\n--XX--\r\n")


def _long_shared() -> bytes:
    """A nested multipart whose 100-character boundary shares its first 80 with the enclosing one's
    (attack23 B1): Dovecot reads every line as the nested one's."""
    outer, inner = LONG[:80] + b"A" * 20, LONG[:80] + b"B" * 20
    return (HEAD + b'Content-Type: multipart/mixed; boundary="' + outer + b'"\r\n\r\n--' + outer
            + b'\r\nContent-Type: multipart/mixed; boundary="' + inner + b'"\r\n\r\n--' + inner + b"\r\n" + BENIGN
            + b"--" + inner + b"--\r\n--" + outer + b"\r\n" + PART + b"--" + outer + b"--\r\n")


def _single(cte: bytes, body: bytes) -> bytes:
    return (HEAD + b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: " + cte
            + b"\r\n\r\n" + body)


CT_B64 = b"Content-Transfer-Encoding: base64"
CASES: dict[str, bytes] = {
    # the text part's own fields
    "part: plain": _in_mixed(b"Content-Type: text/plain; charset=us-ascii\r\n" + CT_B64),
    "part: type comment": _in_mixed(b"Content-Type: text/plain (c); charset=us-ascii\r\n" + CT_B64),
    "part: charset comment": _in_mixed(b'Content-Type: text/plain; charset="us-ascii" (c)\r\n' + CT_B64),
    "part: CTE upper, no space": _in_mixed(b"Content-Type: text/plain\r\ncontent-transfer-encoding:BASE64"),
    "part: CTE comment first": _in_mixed(b"Content-Type: text/plain\r\nContent-Transfer-Encoding: (c) base64"),
    "part: CTE base64 then 7bit": _in_mixed(b"Content-Type: text/plain\r\n" + CT_B64
                                            + b"\r\nContent-Transfer-Encoding: 7bit"),
    "part: CTE 7bit then base64": _in_mixed(b"Content-Type: text/plain\r\nContent-Transfer-Encoding: 7bit\r\n"
                                            + CT_B64),
    "part: inline with a file name": _in_mixed(b"Content-Type: text/plain\r\nContent-Disposition: inline; "
                                               b"filename=letter.txt\r\n" + CT_B64),
    "part: disposition comment": _in_mixed(b"Content-Type: text/plain\r\nContent-Disposition: inline (c)\r\n"
                                           + CT_B64),
    "part: text/x-note": _in_mixed(b"Content-Type: text/x-note\r\n" + CT_B64),
    "part: TEXT/PLAIN": _in_mixed(b"Content-Type: TEXT/PLAIN\r\n" + CT_B64),
    "part: no type": _in_mixed(CT_B64),
    "part: type then ;": _in_mixed(b"Content-Type: text/plain;\r\n" + CT_B64),
    "part: folded fields": _in_mixed(b"Content-Type:\r\n text/plain\r\nContent-Transfer-Encoding:\r\n base64"),
    "part: space before colon": _in_mixed(b"Content-Type : text/plain\r\nContent-Transfer-Encoding : base64"),
    "part: attachment": _in_mixed(b"Content-Type: text/plain\r\nContent-Disposition: attachment; "
                                  b"filename=a.txt\r\n" + CT_B64),
    # the multipart's own Content-Type
    "top: plain": _top(b'multipart/mixed; boundary="XX"', b"XX"),
    "top: spaces around =": _top(b'multipart/mixed; boundary = "XX"', b"XX"),
    "top: comment after": _top(b'multipart/mixed; boundary="XX" (c)', b"XX"),
    "top: comment in type": _top(b'multipart/mixed (c); boundary="XX"', b"XX"),
    "top: upper case": _top(b'Multipart/Mixed; BOUNDARY="XX"', b"XX"),
    "top: RFC 2231 boundary*": _top(b"multipart/mixed; boundary*=''XX", b"XX"),
    "top: RFC 2231 continuation": _top(b'multipart/mixed; boundary*0="X"; boundary*1="X"', b"XX"),
    "top: folded, unquoted": _top(b"multipart/mixed;\r\n\tboundary=XX", b"XX"),
    "top: two boundaries, first used": _top(b'multipart/mixed; boundary="XX"; boundary="YY"', b"XX"),
    "top: two boundaries, second used": _top(b'multipart/mixed; boundary="XX"; boundary="YY"', b"YY"),
    "top: space inside quotes": _top(b'multipart/mixed; boundary="XX "', b"XX "),
    "top: space before ;": _top(b'multipart/mixed ; boundary="XX"', b"XX"),
    "top: no ;": _top(b'multipart/mixed boundary="XX"', b"XX"),
    "top: ; at the end": _top(b'multipart/mixed; boundary="XX";', b"XX"),
    "top: quoted-pair in boundary": _top(b'multipart/mixed; boundary="X\\X"', b"XX"),
    "top: unquoted boundary with a comment": _top(b"multipart/mixed; boundary=X(c)X", b"X(c)X"),
    "top: unquoted boundary with a comment, lines without it": _top(b"multipart/mixed; boundary=X(c)X", b"XX"),
    # delimiter lines with more after the boundary (RFC 2046 5.1.1: a prefix match is a delimiter)
    "lines: text after the boundary": _top(MIXED, b"XXYY", b"XX--"),
    "lines: text after the boundary, no close": _top(MIXED, b"XXYY", b"XXYY"),
    "lines: text after the close": _top(MIXED, b"XX", b"XX--YY"),
    "lines: a second part behind a loose line": HIDDEN,
    "lines: a nested boundary that extends the outer one": NESTED,
    **{f"lines: a loose line and a decoy {name} ({where})": _hidden_with(decoy, where == "first")
       for name, decoy in DECOYS.items() for where in ("first", "last")},
    "lines: a nested multipart with the same boundary": SAME,
    "lines: a nested boundary that is the outer one and '--'": DASHED,
    "lines: a 100-character boundary, a line with its first 80": _long_top(LONG[:80]),
    "lines: a 100-character boundary, a line with its first 80 and more": _long_top(LONG[:80] + b"X note"),
    "lines: a loose line in a nested multipart with a 201-character boundary": _long_nested(b"Z" * 201),
    "lines: nested 100-character boundaries sharing their first 80": _long_shared(),
    "top: two Content-Types, multipart first": _top(b'multipart/mixed; boundary="XX"\r\nContent-Type: text/plain',
                                                    b"XX"),
    "top: two Content-Types, text first": _top(b'text/plain\r\nContent-Type: multipart/mixed; boundary="XX"',
                                               b"XX"),
    "top: boundary after 100 parameters": _top(b"multipart/mixed; " + b"".join(b"x%d=1; " % i for i in range(100))
                                               + b'boundary="XX"', b"XX"),
    # a single-part message's transfer encoding
    "single: 7bit": _single(b"7bit", TEXT),
    "single: base64": _single(b"base64", B64),
    "single: 'base64 '": _single(b"base64 ", B64),
    "single: base64 and a tab": _single(b"base64\t", B64),
    "single: base64 (comment)": _single(b"base64 (x)", B64),
    "single: folded base64": _single(b"\r\n base64", B64),
    "single: 'quoted-printable '": _single(b"quoted-printable ", QP),
    "single: 7bit (comment)": _single(b"7bit (c)", TEXT),
    "single: an unknown charset label": _single(b"7bit", TEXT).replace(b"charset=us-ascii", b"charset=x-unknown-foo"),
}
# Where the gateway reads less than Dovecot on purpose.
DESIGNED = {
    "top: unquoted boundary with a comment, lines without it":
        "Dovecot ends an unquoted boundary at a comment (X) and so also splits on --XX; the gateway reads "
        "the value as written (X(c)X: readers that split on --X(c)X show the parts too)",
    "part: attachment": "a part the sender marks as an attachment is a file, not the message's text "
                        "(Dovecot's body :text searches attachments too)",
}

# Where the analysis reads the text but the banner, which rewrites the message, stays out by design.
NO_BANNER = {
    "lines: text after the boundary, no close": "a multipart without a close delimiter is malformed: no banner "
                                                "rather than a damaged message (tests/unit/act/test_banner.py)",
}


def _analysis_reads(raw: bytes) -> bool:
    view = MessageView.parse(raw)
    return any(TOKEN in p.text for p in view.text_parts) or TOKEN in view.body_text


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_analysis_reads_what_dovecot_reads(name: str) -> None:
    raw = CASES[name]
    dovecot = {folder for folder, _ in deliver(raw, SCRIPT)} == {"Read"}
    if name in DESIGNED:
        assert dovecot and not _analysis_reads(raw), f"no longer a designed difference: {DESIGNED[name]}"
        return
    if not dovecot:
        return  # a reader does not show it either: reading more or less is the gateway's choice
    assert _analysis_reads(raw), f"Dovecot reads the text of {name!r}, the analysis does not"
    out = insert_banner(raw, BANNER)
    if name in NO_BANNER:
        assert out == raw, f"no longer without a banner: {NO_BANNER[name]}"
        return
    assert out != raw and BANNER.plain.splitlines()[0].encode() in _decoded_text(out), \
        f"Dovecot shows the text of {name!r} without the gateway's banner"


def test_most_cases_are_read_by_dovecot() -> None:
    """The comparison means something only while the reader reads most of these spellings (the
    cases are what clients show; a Dovecot that read none would let every assertion pass)."""
    read = sum({f for f, _ in deliver(raw, SCRIPT)} == {"Read"} for raw in CASES.values())
    assert read >= len(CASES) * 3 // 4, read


def _decoded_text(raw: bytes) -> bytes:
    return "\n".join(p.text for p in MessageView.parse(raw).text_parts).encode()


# ops23: whose mail is it, read from the raw From. Dovecot's Sieve `address :domain` is one reader
# (what a user's "From my colleagues" rule matches); the gateway's readings of the identity
# (`FromIdentity.domain_readings`, the origin check applies our own-domain rule to each) must
# include whatever domain Dovecot reads, and every spelling where the two could differ is
# flagged malformed (identity.malformed_from).
FROM_SCRIPT = ('require ["fileinto", "mailbox", "variables"];\n'
               'if address :domain :matches "from" "*" { fileinto :create "d-${1}"; }\n')
MALFORMED_FROMS = [
    "a@example.org@evil.example", "a@evil.example@example.org", "Boss <a@example.org@evil.example>",
    "a@example.org <b@evil.example>", "b@evil.example <a@example.org>", "a\\@example.org@evil.example",
    "a@@example.org", "a@example.org.", "@example.org", "a@example..org",
]
WELL_FORMED_FROMS = ['"a@example.org"@evil.example', '"a@example.org" <b@evil.example>', "a @ example.org",
                     "a@example.org (x) @evil.example", "<a@example.org>@evil.example"]


@pytest.mark.parametrize("from_", MALFORMED_FROMS + WELL_FORMED_FROMS)
def test_the_from_domain_dovecot_reads_is_one_the_gateway_weighs(from_: str) -> None:
    raw = HEAD.replace(b"Daniel Lee <daniel.lee.talent@gmail.com>", from_.encode()) + b"\r\n" + TEXT
    ident = MessageView.parse(raw).from_identity
    folders = [f for f, _ in deliver(raw, FROM_SCRIPT)]
    dovecot = folders[0][2:] if folders and folders[0].startswith("d-") else ""
    assert not dovecot or dovecot in ident.domain_readings, (dovecot, ident.domain_readings)
    if from_ in MALFORMED_FROMS:
        assert ident.malformed, from_
    else:
        assert not ident.malformed and ident.domain_readings == (dovecot,), (from_, ident.domain_readings)


# attack24: ours not first. Sieve's `address :domain :is "from"` matches any address of any From
# field; the gateway's readings of the From (`FromIdentity.domain_readings`) must include it
OURS_SCRIPT = ('require ["fileinto", "mailbox"];\n'
               'if address :domain :is "from" "example.org" { fileinto :create "ours"; }\n')
SEVERAL_FROMS = [
    ["Daniel Lee <daniel.lee.talent@gmail.com>, Board Office <board@example.org>"],
    ["Board: daniel.lee.talent@gmail.com, board@example.org;"],
    ["Daniel Lee <daniel.lee.talent@gmail.com>", "Board Office <board@example.org>"],
]


@pytest.mark.parametrize("froms", SEVERAL_FROMS)
def test_our_domain_dovecot_finds_in_any_from_mailbox_is_weighed(froms: list[str]) -> None:
    head = HEAD.replace(b"From: Daniel Lee <daniel.lee.talent@gmail.com>\r\n",
                        b"".join(b"From: " + f.encode() + b"\r\n" for f in froms))
    raw = head + b"\r\n" + TEXT
    assert [f for f, _ in deliver(raw, OURS_SCRIPT)] == ["ours"]
    ident = MessageView.parse(raw).from_identity
    assert ident.domain == "gmail.com" and "example.org" in ident.domain_readings, ident.domain_readings


FORWARDED = (b"Content-Type: message/rfc822\r\n\r\nFrom: c@z.test\r\nSubject: fwd\r\n"
             b"Content-Type: text/plain\r\n\r\nDear Sarah, let us talk on WhatsApp.\r\n")
NOTE = b"Content-Type: text/plain\r\n\r\nSee the note.\r\n"


def _forwarded_first(boundary: bytes, first_line: bytes | None = None) -> bytes:
    first_line = b"--" + boundary if first_line is None else first_line
    return (HEAD + b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n' + first_line + b"\r\n"
            + FORWARDED + b"\r\n--" + boundary + b"\r\n" + NOTE + b"\r\n--" + boundary + b"--\r\n")


@pytest.mark.parametrize("boundary", [b"XX", b"abc ", b"----", b"b" * 100])
def test_dovecot_shows_the_banner_part_first_and_every_part_after_it(boundary: bytes) -> None:
    """review38 #1 and #4 as Dovecot reads them: a forwarded message shown first gets a part holding the banner ahead
    of it. Dovecot must find that part first, with the banner, and after it exactly the parts it found before (a
    delimiter written "--abc" for boundary="abc " put the part into the preamble; a line of dashes closed a
    boundary of dashes, hiding the rest); a second pass changes nothing."""
    from tests.support.sieve import parts

    raw = _forwarded_first(boundary)
    out = insert_banner(raw, BANNER)
    before, after = parts(raw), parts(out)
    assert before[1][0] == "message/rfc822" and after[0] == before[0]  # (a 100-character one ends in one more part)
    assert after[1][0] == "text/plain" and after[1][1].startswith(BANNER.plain.split("\n", 1)[0][:40])
    assert after[2:] == before[1:]
    assert insert_banner(out, BANNER) == out


def test_dovecot_shows_the_banner_below_when_no_part_can_be_added() -> None:
    """review38 #6: a first delimiter line with junk after the boundary is a delimiter to Dovecot and not to the
    stdlib; no part is added there (the readers would disagree about it) and the banner goes, as before, into the
    text after the forwarded message, where Dovecot shows it."""
    from tests.support.sieve import parts

    raw = _forwarded_first(b"XX", b"--XXjunk")
    after = parts(insert_banner(raw, BANNER))
    assert [t for t, _ in after] == [t for t, _ in parts(raw)]
    assert after[-1][1].startswith(BANNER.plain.split("\n", 1)[0][:40])
