"""Banner placement against a sender who tries to hide or suppress it (attack19 item 7): a fake
`<body>` inside a comment, the title, a script, a hidden element or a quoted attribute; the PGP
armour string or the banner's marker written where they do not belong."""

from __future__ import annotations

import base64
import binascii

import pytest

from gateway.act.banner import HTML_MARKER, Banner, inline_pgp, insert_banner
from gateway.act.htmlstart import body_start

WARN = f'{HTML_MARKER}<div id="warn">WARNING</div>\n'
BANNER = Banner(plain="WARNING\n", html=WARN)
HEAD = b"From: a@ext.test\r\nTo: bob@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\n"


def _html(body: bytes, cte: bytes = b"8bit") -> bytes:
    return (HEAD + b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: " + cte
            + b"\r\n\r\n" + body)


def _body(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[1]


INSERTED = b"\r\n" + WARN.replace("\n", "\r\n").encode()


@pytest.mark.parametrize(("before", "after"), [
    # the reproducer's cases: the banner went inside the hidden div / the title / the script
    (b'<html><head></head>', b'<div style="display:none"><body></div><p>Hello</p></html>\r\n'),
    (b"<html><head><title><body></title></head>", b"<p>Hello</p></html>\r\n"),
    (b"<html><head><script>var a='<body>';</script></head>", b"<p>Hello</p></html>\r\n"),
    (b"<html><head><style>/*<body>*/</style></head>", b"<p>Hello</p></html>\r\n"),
    # '<!--<script>' in a script: the first '</script>' does not end it (escaped script data)
    (b"<html><head>", b"<script><!--<script></script><body>--></script></head><p>Hello</p>\r\n"),
    (b"<html><head><TITLE>a</titlex><body></TITLE ></head><body>", b"<p>Hello</p>\r\n"),
    (b"<html>", b"<textarea><body></textarea><p>Hello</p>\r\n"),
    (b"<html>", b"<div hidden><body></div><p>Hello</p>\r\n"),
    (b"<html><head>", b"<template><body></template></head><p>Hello</p>\r\n"),
    (b"", b"<!-- <body> unterminated comment\r\n"),
    (b"", b"Hello <body> there\r\n"),
    # a '>' inside a quoted attribute does not end the body tag
    (b'<html><body title="a>b" class=\'c>d\'>', b"<p>Hello</p></body></html>\r\n"),
    # comments before the real body tag, also the forms that close at once
    (b"<html><!-- <body> --><!--><!---><!-- x --!><body>", b"<p>Hello</p>\r\n"),
    (b"<!DOCTYPE html><?xml x?><html lang=en><head><meta charset=utf-8></head></div>\r\n<BODY\r\nbgcolor=white>",
     b"<p>Hello</p>\r\n"),
    # the PGP armour string in HTML (a comment) no longer suppresses the banner
    (b"<html><body>", b"<!-- -----BEGIN PGP SIGNATURE----- --><p>Hello</p></body></html>\r\n"),
    # the marker alone, written by the sender, no longer suppresses it either
    (b"<html><body>", HTML_MARKER.encode() + b"<p>Hello</p></body></html>\r\n"),
])
def test_html_banner_lands_where_the_body_starts(before: bytes, after: bytes) -> None:
    out = insert_banner(_html(before + after), BANNER)
    assert _body(out) == before + INSERTED + after
    assert insert_banner(out, BANNER) == out  # a second pass adds nothing


def test_quoted_printable_soft_break_cannot_hide_a_comment_from_the_splice() -> None:
    # decoded: '<html><!-- <body> --><body><p>Hello' -- the encoded bytes split '<!--' with a
    # soft line break, so a scan of the encoded text alone would take the first <body>
    qp = b"<html><!-=\r\n- <body> --><body><p>Hello</p></body></html>\r\n"
    out = insert_banner(_html(qp, b"quoted-printable"), BANNER)
    decoded = binascii.a2b_qp(_body(out))
    assert decoded == b"<html><!-- <body> --><body>" + INSERTED + b"<p>Hello</p></body></html>\r\n"


def test_base64_html_hidden_div() -> None:
    html = b'<html><head></head><div style="display:none"><body></div><p>Hello</p></html>\r\n'
    out = insert_banner(_html(base64.encodebytes(html).replace(b"\n", b"\r\n"), b"base64"), BANNER)
    assert base64.b64decode(_body(out)) == b"<html><head></head>" + INSERTED + html[19:]


PLAIN = HEAD + b"Content-Type: text/plain; charset=utf-8\r\n\r\n"


def test_pgp_string_inside_a_plain_line_does_not_suppress_the_banner() -> None:
    raw = PLAIN + b"Hello, my key starts -----BEGIN PGP PUBLIC KEY BLOCK----- as usual\r\n"
    assert _body(insert_banner(raw, BANNER)) == b"WARNING\r\n" + _body(raw)


def test_real_inline_pgp_in_plain_text_is_left_alone() -> None:
    raw = PLAIN + b"Hi\r\n-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\nhi\r\n"
    assert insert_banner(raw, BANNER) == raw


def test_signed_plain_alternative_stays_intact_and_html_alternative_gets_the_banner() -> None:
    plain = b"-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\nMeet me on Telegram.\r\n"
    html = b"<html><body><p>Meet me on Telegram.</p></body></html>\r\n"
    raw = (HEAD + b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\n'
           b"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + plain + b"--b\r\n"
           b"Content-Type: text/html; charset=us-ascii\r\n\r\n" + html + b"--b--\r\n")
    out = insert_banner(raw, BANNER)
    assert plain in out and html not in out
    assert b"<html><body>" + INSERTED + b"<p>Meet" in out


@pytest.mark.parametrize(("text", "armoured"), [
    (b"-----BEGIN PGP MESSAGE-----\nhQEMA\n", True),
    (b"x\r\n-----BEGIN PGP SIGNED MESSAGE----- \r\n", True),
    (b"x -----BEGIN PGP MESSAGE-----\n", False),
    (b"-----BEGIN PGP no end\n-----BEGIN PGP \n", False),
    (b"<!-- -----BEGIN PGP SIGNATURE----- -->", False),
])
def test_inline_pgp_needs_an_armour_line(text: bytes, armoured: bool) -> None:
    assert inline_pgp(text) is armoured


def test_body_start_reports_the_real_body_tag() -> None:
    assert body_start("<html><body class=x><p>") == (len("<html><body class=x>"), True)
    assert body_start("<html><head></head><div><body>") == (len("<html><head></head>"), False)
    assert body_start("<html><head") == (len("<html>"), False)  # a tag left open at the end


def test_a_head_of_endless_tags_is_cut_at_a_visible_point() -> None:
    from gateway.act.htmlstart import MAX_HEAD_TOKENS
    head = "<html><head>" + "<meta>" * (MAX_HEAD_TOKENS + 50)
    pos, real = body_start(head + '<div style="display:none"><body>')
    assert not real and pos == len("<html><head>") + 6 * (MAX_HEAD_TOKENS - 2)  # between two metas


def test_the_structure_check_reads_a_delivery_status_part_as_one() -> None:
    """The banner is kept only if the message's structure is unchanged; that comparison parses the
    message as the analysis does (a delivery-status body is one part), not with the stdlib's own
    parser, which made one Message per blank-line block: ~1.7 s on the loop for a flagged 240 KB
    message, and a 6 MB one beside an approach ran the analysis into its deadline (attack19)."""
    from gateway.act.banner import _shape

    raw = (b"From: a@x.test\r\nTo: b@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
           b"Hello, a paid advisory role.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n"
           + b"Reporting-MTA: dns; x\r\n\r\n" * 5000 + b"--b--\r\n")
    assert len(_shape(raw, 20, 500)) == 3  # the multipart, its text part, the delivery-status part
    out = insert_banner(raw, BANNER)
    assert out != raw and b"Hello, a paid advisory role." in out


def _alternatives(kinds: str) -> bytes:
    """A multipart/alternative with one text part a letter of `kinds` (p: text/plain, h: text/html, x: text/x-note),
    each saying which it is."""
    subtype = {"h": b"html", "p": b"plain", "x": b"x-note"}
    parts = b"".join(b"--b\r\nContent-Type: text/" + subtype[k] + b"; charset=utf-8\r\n\r\n"
                     + (b"<p>part %d</p>" if k == "h" else b"part %d") % i + b"\r\n" for i, k in enumerate(kinds))
    return HEAD + b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n' + parts + b"--b--\r\n"


def test_a_stranger_s_many_alternatives_take_the_banner_where_a_reader_may_show_them() -> None:
    """cpu45 #1: every text alternative took the banner: 499 of them cost 150 ms on the event loop and a 43 KB
    message was relayed as 1.4 MB. Past MAX_ALTERNATIVE_BANNERS the banner goes to the first ones, the last one (RFC
    2046 5.1.4), and of each kind (HTML, plain, other text shown as plain) the first that is not blank (Roundcube) and
    the last (mutt): review45 #1."""
    from gateway.act.banner import MAX_ALTERNATIVE_BANNERS

    def bannered(kinds: str) -> list[int]:
        out = insert_banner(_alternatives(kinds), BANNER)
        assert insert_banner(out, BANNER) == out  # a second pass adds nothing
        return [i for i, part in enumerate(out.split(b"--b\r\n")[1:]) if b"WARNING" in part]

    assert bannered("ph" * 4) == list(range(8))  # as many as the cap: each one, as before
    many = "p" * 10 + "h" * 480 + "p" * 8 + "h"
    assert bannered(many) == [*range(MAX_ALTERNATIVE_BANNERS), 10, 497, 498]
    assert bannered("h" * 300 + "p") == [*range(MAX_ALTERNATIVE_BANNERS), 299, 300]
    assert bannered("h" * 8 + "p" + "x" + "h") == [*range(MAX_ALTERNATIVE_BANNERS), 8, 9, 10]  # (x: text/x-note)
    raw = _alternatives(many)
    assert len(insert_banner(raw, BANNER)) < len(raw) + 11 * len(INSERTED)
    blank = _alternatives("p" * 10 + "h" * 20 + "p").replace(b"<p>part 10</p>", b" ").replace(b"<p>part 11</p>", b"")
    assert 12 in [i for i, part in enumerate(insert_banner(blank, BANNER).split(b"--b\r\n")[1:])
                  if b"WARNING" in part]  # the first HTML one that is not blank


def _nested(depth: int, per: int = 8) -> bytes:
    """`depth` alternatives, each of `per` HTML parts and, as its last branch, the next; the innermost's last part is
    the one readers show (RFC 2046 5.1.4)."""
    inner = b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>shown</p>\r\n"
    for d in range(depth):
        b = b"B%d" % d
        parts = b"".join(b"--" + b + b"\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>hidden</p>\r\n"
                         for _ in range(per))
        inner = (b'Content-Type: multipart/alternative; boundary="' + b + b'"\r\n\r\n' + parts
                 + b"--" + b + b"\r\n" + inner + b"--" + b + b"--\r\n")
    return HEAD + inner


def test_nested_alternatives_share_one_budget_of_banners() -> None:
    """review45 #2: the cap was each alternative's, and one nested as another's last branch kept its own: 18 levels of
    8 alternatives took 145 banners (9 KB relayed as 403 KB, 74-100 ms on the event loop). Past MAX_BANNERS in the
    whole message: the first MAX_ALTERNATIVE_BANNERS and the parts readers show (the innermost last one, and the last
    text of each level), as many as the nesting is deep."""
    from gateway.act.banner import MAX_ALTERNATIVE_BANNERS, MAX_BANNERS

    raw = _nested(18)
    out = insert_banner(raw, BANNER)
    # the first level's 8; below it, of each level the first and the last of its own HTML parts
    assert out.count(b"WARNING") == MAX_ALTERNATIVE_BANNERS + 17 * 2
    assert b"WARNING</div>\r\n<p>shown</p>" in out  # what readers show has it
    assert insert_banner(out, BANNER) == out
    assert len(out) < len(raw) + 43 * len(INSERTED)
    few = _nested(2)  # 17 texts: under the budget, each of them, as before
    assert insert_banner(few, BANNER).count(b"WARNING") == 17 <= MAX_BANNERS


def _part(ctype: bytes, body: bytes) -> bytes:
    return b"Content-Type: " + ctype + b"; charset=utf-8\r\n\r\n" + body + b"\r\n"


def _alt(boundary: bytes, kids: list[bytes]) -> bytes:
    return (b'Content-Type: multipart/alternative; boundary="' + boundary + b'"\r\n\r\n'
            + b"".join(b"--" + boundary + b"\r\n" + k for k in kids) + b"--" + boundary + b"--\r\n")


@pytest.mark.parametrize("kids", [
    # mutt shows the last text/plain of an alternative (review46d #1: the budget had dropped it)
    [_part(b"text/html", b"<p>g%d</p>" % i) for i in range(8)] + [_part(b"text/plain", b"SHOWN"),
                                                                   _part(b"text/x-note", b"y")],
    # Roundcube the first HTML one that is not blank
    [_part(b"text/plain", b" ") for _ in range(8)] + [_part(b"text/html", b"<p>SHOWN</p>"),
                                                       _part(b"text/plain", b"SHOWN too")],
    # blank HTML first: the first non-blank HTML one, and a second pass adds nothing (review46d #2)
    [_part(b"text/html", b" ") for _ in range(8)] + [_part(b"text/plain", b"SHOWN"),
                                                      _part(b"text/html", b"<p>SHOWN</p>")],
])
def test_past_the_budget_each_alternative_keeps_what_its_readers_show(kids: list[bytes]) -> None:
    from gateway.act.banner import MAX_BANNERS, targets
    from gateway.mimewalk import walk

    raw = HEAD + _alt(b"O", [*kids, _nested(2)[len(HEAD):]])
    assert len(targets(walk(raw), raw)) > MAX_BANNERS  # 10 + 17 texts
    out = insert_banner(raw, BANNER)
    assert b"WARNING</div>\r\n<p>shown</p>" in out  # what the last branch shows, as before
    for piece in out.split(b"--O\r\n")[1:-1]:
        if b"SHOWN" in piece:
            assert b"WARNING" in piece, piece[:80]
    assert insert_banner(out, BANNER) == out
