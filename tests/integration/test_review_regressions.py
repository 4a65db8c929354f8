"""Regression tests for the defects an internal review found (each named after its bug)."""

from __future__ import annotations

import asyncio
import smtplib
import time
from pathlib import Path

import pytest

from gateway.config import parse_config
from gateway.model import Envelope
from gateway.runtime import Runtime
from tests.conftest import ROOT
from tests.integration.conftest import SIMPLE, Harness
from tests.support.rawsmtp import Raw


def _pipeline(tmp_path: Path) -> Runtime:
    cfg = parse_config(f"listen: 127.0.0.1:0\nupstream: {{port: 1}}\nhostname: gw.example.org\n"
                       f"local_domains: [example.org]\nstore: {{backend: memory}}\n"
                       f"policies: [{ROOT / 'policies'}]\n", str(tmp_path / "gw.yml"))
    return Runtime(cfg, offline=True)


def test_recursion_bomb_in_from_header_does_not_make_analysis_fail(tmp_path: Path) -> None:
    """Nested comments made email.utils recurse past the limit: analysis 'failed' and
    on_error: accept delivered the message unchecked, skipping any reject policy."""
    raw = (b"From: spy@gmail.com " + b"(" * 3000 + b")" * 3000 + b"\r\nTo: bob@example.org\r\n"
           b"Subject: hi\r\n\r\nAdd me on WeChat ID: zhang_wei88\r\n")
    result = asyncio.run(_pipeline(tmp_path).analyse(raw, Envelope("spy@gmail.com", ("bob@example.org",))))
    assert result.decision.checked
    assert {s.name for s in result.signals} >= {"sender.freemail", "content.offchannel_wechat"}


def test_mime_nesting_bomb_is_flagged_not_clean(tmp_path: Path) -> None:
    """2000 nested multiparts made the stdlib parser raise RecursionError; the view then held an
    empty message and the verdict was clean with no reasons."""
    body = b"leaf\r\n"
    for i in range(2000):
        b = b"b%d" % i
        body = (b"Content-Type: multipart/mixed; boundary=" + b + b"\r\n\r\n--" + b + b"\r\n" + body
                + b"\r\n--" + b + b"--\r\n")
    raw = b"From: spy@gmail.com\r\nTo: bob@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\n" + body
    result = asyncio.run(_pipeline(tmp_path).analyse(raw, Envelope("spy@gmail.com", ("bob@example.org",))))
    names = {s.name for s in result.signals}
    assert "mime.depth_exceeded" in names and "sender.freemail" in names
    assert "mime-too-deep" in {h.rule_id for h in result.decision.hits}


@pytest.mark.timeout(20)
def test_content_regexes_are_linear_on_whitespace_runs(tmp_path: Path) -> None:
    """'wechat' + 30 KB of spaces took seconds in the WeChat/Line ID patterns (adjacent \\s*),
    freezing every session; the analysis deadline then delivered the message unchecked."""
    raw = (b"From: spy@gmail.com\r\nTo: bob@example.org\r\nSubject: x\r\n\r\n"
           + (b"wechat" + b" " * 30000 + b"\r\n") * 2 + (b"Line" + b" " * 30000 + b"ID\r\n"))
    result = asyncio.run(_pipeline(tmp_path).analyse(raw, Envelope("spy@gmail.com", ("bob@example.org",))))
    assert result.decision.checked


def test_upstream_drop_mid_transaction_gives_4xx_not_503(harness: Harness) -> None:
    """After the upstream dropped, RCPT silently opened a new connection without MAIL and the
    client got 503 (a permanent failure) for its recipients."""
    harness.start()
    c = harness.client()
    c.mail("alice@ext.test")
    assert c.rcpt("bob@example.org")[0] == 250

    async def drop_all() -> None:
        for proto in list(harness.sink.protocols):
            if proto.transport is not None:
                proto.transport.close()
    asyncio.run_coroutine_threadsafe(drop_all(), harness.sink.loop).result(5)
    time.sleep(0.2)
    code, _ = c.rcpt("carol@example.org")
    assert 400 <= code < 500
    code, _ = c.data(SIMPLE)
    assert 400 <= code < 500
    c.quit()
    assert harness.sink.messages == []


def test_next_transaction_works_after_an_oversized_message(harness: Harness) -> None:
    """aiosmtpd answered 552 itself and the upstream transaction stayed open: the client's next
    MAIL met '503 nested MAIL' from the upstream."""
    harness.start(extra="limits: {max_message_size: 5000, shutdown_grace: 2}")
    c = harness.client()
    c.mail("alice@ext.test")
    c.rcpt("bob@example.org")
    assert c.data(SIMPLE + (b"x" * 70 + b"\r\n") * 200)[0] == 552
    c.sendmail("alice@ext.test", ["bob@example.org"], SIMPLE)
    c.quit()
    assert len(harness.sink.wait_for(1)) == 1


def test_eight_bit_helo_is_delivered_with_an_ascii_received(harness: Harness) -> None:
    """A non-UTF-8 byte in EHLO made building the Received field raise: 451 forever."""
    harness.start()
    r = Raw(harness.port)
    r.reply()
    r.cmd(b"EHLO mail.b\xe4ckerei.example")
    r.cmd(b"MAIL FROM:<a@ext.test>")
    r.cmd(b"RCPT TO:<bob@example.org>")
    r.cmd(b"DATA")
    assert r.cmd(SIMPLE + b".").startswith(b"250")
    r.close()
    data = harness.sink.wait_for(1)[0].data
    head = data.split(b"\r\n\r\n")[0]
    assert head.startswith(b"Received: from mail.b\\udce4ckerei.example") and head.isascii()


def test_percent_hack_hidden_behind_a_quoted_angle_bracket_is_refused(harness: Harness) -> None:
    harness.start()
    c = harness.client()
    c.mail("alice@ext.test")
    assert c.docmd('RCPT TO:<"x>y%evil.test"@example.org>')[0] == 550
    c.quit()


def test_xforward_values_cannot_inject_header_lines(harness: Harness) -> None:
    harness.start(extra="xforward_hosts: [127.0.0.0/8]")
    c = smtplib.SMTP("127.0.0.1", harness.port, timeout=10)
    c.ehlo("postfix.example.org")
    assert c.docmd("XFORWARD PROTO=ESMTP+0D+0AX-Approach-Verdict:+20clean")[0] == 501
    assert c.docmd("XFORWARD ADDR=not-an-address")[0] == 501
    assert c.docmd("XFORWARD ADDR=198.51.100.7 HELO=mail.sender.test")[0] == 250
    c.sendmail("alice@ext.test", ["bob@example.org"], SIMPLE)
    c.quit()
    data = harness.sink.wait_for(1)[0].data
    assert data.count(b"X-Approach-Verdict:") == 1
    assert b"[198.51.100.7]" in data
