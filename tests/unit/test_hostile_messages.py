"""Hostile whole messages through MessageView, the header strip and the real pipeline: HTML and
MIME pathologies (deep nesting, 10k parts, broken boundaries, lying charsets, broken base64/QP,
huge single lines, encoded-word floods, invalid header lines). Every one must be analysed to a
decision within the analysis limits (`checked`, no `check.error`), with no exception escaping,
and the relayed bytes must keep the body. Bounded for CI: fixed cases plus a hypothesis fuzz
with a fixed example budget; the timeout marks are guards, never measurements."""

from __future__ import annotations

import asyncio
import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.act.headers import apply_edits, removal_edits, verdict_edits
from gateway.model import Client, Decision, Envelope, Verdict
from gateway.parse import MessageView, ViewLimits
from gateway.runtime import Runtime
from tests.conftest import ROOT
from tests.support.forged import fields_named
from tests.support.messages import config

HEAD = (b"From: Stranger <s@gmail.com>\r\nTo: bob@example.org\r\nSubject: hostile\r\n"
        b"Message-ID: <h@x.test>\r\nMIME-Version: 1.0\r\n")
MARK = b"MARKER-TEXT-7731"


def part(ctype: bytes, body: bytes, extra: bytes = b"") -> bytes:
    return b"Content-Type: " + ctype + b"\r\n" + extra + b"\r\n" + body


def multipart(boundary: bytes, parts: list[bytes], close: bool = True) -> bytes:
    out = b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in parts)
    return out + (b"--" + boundary + b"--\r\n" if close else b"")


def with_head(ctype_line: bytes, body: bytes, head: bytes = HEAD) -> bytes:
    return head + ctype_line + b"\r\n\r\n" + body


def _nested(depth: int) -> bytes:
    body = part(b"text/plain", MARK)
    for i in range(depth):
        b = b"n%d" % i
        body = (b"Content-Type: multipart/mixed; boundary=" + b + b"\r\n\r\n--" + b + b"\r\n" + body
                + b"\r\n--" + b + b"--\r\n")
    return HEAD + body


def _html(markup: str) -> bytes:
    return with_head(b"Content-Type: text/html; charset=utf-8", markup.encode() + MARK)


CASES: dict[str, bytes] = {
    "mime-nesting-5000": _nested(5000),
    "mime-nesting-200": _nested(200),
    "parts-10000": with_head(b"Content-Type: multipart/mixed; boundary=p",
                             multipart(b"p", [part(b"text/plain", b"x%d" % i) for i in range(10_000)])
                             + MARK),
    "boundary-never-used": with_head(b"Content-Type: multipart/mixed; boundary=zz", MARK + b"\r\n" * 1000),
    "boundary-unterminated": with_head(b"Content-Type: multipart/alternative; boundary=u",
                                       multipart(b"u", [part(b"text/plain", MARK)], close=False)),
    "boundary-empty": with_head(b'Content-Type: multipart/mixed; boundary=""', b"--\r\n" + MARK),
    "boundary-shared-nested": with_head(
        b"Content-Type: multipart/mixed; boundary=s",
        multipart(b"s", [part(b"multipart/mixed; boundary=s", multipart(b"s", [part(b"text/plain", MARK)]))] * 50)),
    "boundary-prefix-of-another": with_head(
        b"Content-Type: multipart/mixed; boundary=a",
        multipart(b"a", [part(b"multipart/mixed; boundary=ab", multipart(b"ab", [part(b"text/plain", MARK)]))])),
    "charset-utf16-lie": with_head(b"Content-Type: text/plain; charset=utf-16", b"plain ascii \xff\xfe" + MARK),
    "charset-iso2022-garbage": with_head(b"Content-Type: text/plain; charset=iso-2022-jp",
                                         bytes(range(256)) * 200 + MARK),
    "charset-unknown": with_head(b"Content-Type: text/html; charset=x-no-such", b"<p>" + MARK),
    "charset-non-text-codec": with_head(b"Content-Type: text/plain; charset=zlib", MARK),
    "charset-utf7-garbage": with_head(b"Content-Type: text/plain; charset=utf-7", b"+" * 50_000 + MARK),
    "base64-broken": with_head(b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64",
                               b"!!!not base64===\r\n" * 5000 + base64.b64encode(MARK) + b"=\r\n"),
    "base64-huge-line": with_head(b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64",
                                  base64.b64encode(b"y" * 2_000_000 + MARK)),
    "qp-broken": with_head(b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable",
                           b"=ZZ=\r\n=4" * 20_000 + MARK),
    "huge-single-line": with_head(b"Content-Type: text/plain", b"a" * 3_000_000 + MARK),
    "huge-header-line": HEAD.replace(b"Subject: hostile", b"Subject: " + b"w " * 45_000) + b"\r\n" + MARK,
    "encoded-word-flood": HEAD.replace(b"Subject: hostile", b"Subject: " + b" ".join([b"=?utf-8?q?ab?="] * 6000))
                          + b"\r\n" + MARK,
    "encoded-word-from-flood": HEAD.replace(
        b"From: Stranger <s@gmail.com>", b"From: " + b" ".join([b"=?utf-8?b?PHhAeT4=?="] * 6000) + b" <s@gmail.com>")
                               + b"\r\n" + MARK,
    "comment-nesting-from": HEAD.replace(b"From: Stranger <s@gmail.com>",
                                         b"From: " + b"(" * 40_000 + b" <s@gmail.com>") + b"\r\n" + MARK,
    "invalid-header-lines": (b"Subject: x\r\nX-Approach-Verdict\x00: high\r\n" + HEAD + b"\r\n" + MARK),
    "html-a-x-eq": _html("<a x=" * 200_000),
    "html-comment-open": _html("<!--" + "a -- b " * 100_000),
    "html-nested": _html("<div><span>" * 100_000),
    "html-charref-flood": _html("&#" * 300_000 + "&#" + "9" * 100_000),
    "html-in-deep-mime": _nested(15).replace(b"text/plain", b"text/html"),
    "binary-garbage": bytes(range(256)) * 50,
    "part-param-semicolons": with_head(b"Content-Type: multipart/mixed; boundary=p", multipart(b"p", [
        part(b"text/plain; charset=utf-8" + b";\r\n " * 200_000, MARK,
             b"Content-Disposition: inline" + b";" * 500_000 + b"\r\n")])),
    "multipart-param-semicolons": with_head(b"Content-Type: multipart/mixed" + b";" * 150_000 + b"; boundary=p",
                                            multipart(b"p", [part(b"text/plain", MARK)])),
    "part-param-quotes": with_head(b"Content-Type: multipart/mixed; boundary=p", multipart(b"p", [
        part(b'text/plain; name="' + b'a;"b;' * 100_000, MARK)])),
    "no-empty-line": HEAD + b"body line one\r\n" + MARK + b": more text\r\n",
}


def _touch(view: MessageView) -> None:
    """Every lazily computed part of the view the checks read."""
    for name in ("From", "To", "Subject", "Reply-To", "Sender", "X-Approach-Verdict"):
        view.headers(name)
        view.raw_headers(name)
    view.from_identity  # forces the lazy property
    view.reply_to
    view.mailboxes("To", "Cc")
    assert len(view.leaf_parts) <= view.limits.max_mime_parts
    assert sum(len(p.shown if p.content_type == "text/html" else p.text) for p in view.text_parts) \
        <= view.limits.max_text_bytes
    view.body_text
    view.html_text
    view.html_links
    view.content_type


def _strip_keeps_body(raw: bytes) -> None:
    out = apply_edits(raw, removal_edits("gw.example.org") + verdict_edits(Decision(Verdict.CLEAN, 0)))
    assert len(fields_named(out, "X-Approach-Verdict")) == 1
    if MARK in raw:
        assert MARK in out


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(CASES))
def test_view_and_strip_finish_without_exceptions(name: str) -> None:
    raw = CASES[name]
    view = MessageView.parse(raw, ViewLimits(max_header_bytes=200_000))
    _touch(view)
    _strip_keeps_body(raw)


@pytest.fixture(scope="module")
def pipeline() -> Runtime:
    cfg = config(f"policies: [{ROOT / 'policies'}]\nstore: {{backend: memory}}\n"
                 "limits: {max_header_bytes: 200000}\n")
    return Runtime(cfg, offline=True)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(CASES))
def test_pipeline_decides_within_the_limits(pipeline: Runtime, name: str) -> None:
    raw = CASES[name]
    env = Envelope("s@gmail.com", ("bob@example.org",), Client(ip="192.0.2.1", helo="x.test"), queue_id="Q")
    result = asyncio.run(pipeline.analyse(raw, env))
    assert result.decision.checked, result.decision.note  # not an analysis failure or timeout
    assert not [s for s in result.signals if s.name == "check.error"], result.signals
    out = result.apply(raw)
    if MARK in raw:
        assert MARK in out


# ---- fuzz: random assemblies of the building blocks -------------------------------------------

_CTYPES = [b"text/plain", b"text/html", b"text/plain; charset=utf-16", b"text/html; charset=x-bogus",
           b"text/plain; charset=iso-2022-jp", b"application/octet-stream", b"message/rfc822",
           b"multipart/mixed; boundary=b", b"multipart/alternative", b'multipart/mixed; boundary="b b"']
_CTE = [b"", b"Content-Transfer-Encoding: base64\r\n", b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Content-Transfer-Encoding: x-uuencode\r\n", b"Content-Transfer-Encoding: 8bit\r\n"]
_BODIES = [b"<a x=" * 50, b"<!--", b"<![CDATA[x", b"&#" * 50, b"=?utf-8?b?PHhAeT4=?= " * 20, b"--b\r\n",
           b"--b--\r\n", b"=ZZ=\r\n", b"!!!=", b"\xff\xfe\x00", MARK, b"<script>x", b"(" * 50, b"\r\n\r\n"]
_HEADERS = [b"From: =?utf-8?B?Ym9zc0BleGFtcGxlLm9yZw==?= <s@gmail.com>", b"From: a@x.test, b@example.org",
            b"X-Approach-Verdict\x00: high", b"X-Approach-Verdict : high", b"Subject: =?x?q?=FF?=",
            b"Authentication-Results: (c) gw.example.org; dkim=pass", b"Reply-To: " + b"(" * 100,
            b"To: Group: a@x.test, (c) <b@y.test>;", b"X-8bit-\xe4: v", b"junk line without colon"]


@st.composite
def entities(draw: st.DrawFn, depth: int = 0) -> bytes:
    ctype = draw(st.sampled_from(_CTYPES))
    head = b"Content-Type: " + ctype + b"\r\n" + draw(st.sampled_from(_CTE))
    if ctype.startswith(b"multipart") and depth < 4:
        kids = draw(st.lists(entities(depth + 1), max_size=4))
        close = draw(st.booleans())
        return head + b"\r\n" + multipart(b"b", kids, close)
    return head + b"\r\n" + b"".join(draw(st.lists(st.sampled_from(_BODIES), max_size=6)))


@pytest.mark.timeout(300)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.sampled_from(_HEADERS), max_size=5), entities())
def test_fuzz_assembled_messages(headers: list[bytes], entity: bytes) -> None:
    raw = b"\r\n".join(headers) + (b"\r\n" if headers else b"") + entity
    view = MessageView.parse(raw)
    _touch(view)
    _strip_keeps_body(raw)
