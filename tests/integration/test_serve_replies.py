"""serve: replies to hostile bytes (8-bit and control characters in commands), TLS twice, and
8-bit addresses without SMTPUTF8. Each test is a regression test for a defect found in review."""

from __future__ import annotations

import logging
import re

import pytest

from gateway import replies
from tests.integration.conftest import SIMPLE, Harness, client_tls, said
from tests.support.rawsmtp import Raw

REPLY_LINE = re.compile(rb"\A[2-5][0-9][0-9][ -][\x20-\x7e]*\Z")


def _clean(reply: bytes) -> bool:
    """Every line of the reply is a code and printable ASCII: nothing of the client's raw bytes."""
    lines = reply.split(b"\r\n")
    return lines[-1] == b"" and all(REPLY_LINE.match(line) for line in lines[:-1])


@pytest.mark.parametrize("smtputf8", [False, True])
def test_non_utf8_byte_in_remote_rcpt_domain_is_550_not_451(harness: Harness, smtputf8: bool,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """The relay refusal echoed the address and the reply could not be encoded: 451 and a traceback."""
    harness.start()
    r = Raw(harness.port)
    assert r.reply().startswith(b"220")
    r.cmd(b"EHLO client.test")
    assert r.cmd(b"MAIL FROM:<alice@ext.test>" + (b" SMTPUTF8" if smtputf8 else b"")).startswith(b"250")
    with caplog.at_level(logging.ERROR, logger="gateway"):
        reply = r.cmd(b"RCPT TO:<bob@ex\xffample.test>")
    assert reply == said(replies.RELAY_DENIED, address="bob@ex?ample.test"), reply
    assert _clean(reply), reply
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    # and the session goes on
    assert r.cmd(b"RCPT TO:<bob@example.org>").startswith(b"250")
    r.close()


@pytest.mark.parametrize("line", [
    b"RCPT TO:<b\x00ob@evil.test>",
    b"RCPT TO:<b\rob@evil.test>",
    b"RCPT TO:<b\x1b[2Job@evil.test>",
    b"RCPT TO:<bob%evil.test\r@example.org>",
    b"VRFY a\rb",
    b"VRFY <a\x00b@example.org>",
    b"FO\x00O bar",
    b"FOO\rBAR",
    b"HELP \x00",
    b"MAIL FROM:<a\x7f@ext.test>",
    b"RCPT TO:<\xc3\xa9\r@evil.test>",
])
def test_replies_never_echo_the_clients_control_bytes(harness: Harness, line: bytes) -> None:
    harness.start()
    r = Raw(harness.port)
    assert r.reply().startswith(b"220")
    r.cmd(b"EHLO client.test")
    if line.startswith(b"RCPT"):
        assert r.cmd(b"MAIL FROM:<alice@ext.test> SMTPUTF8").startswith(b"250")
    reply = r.cmd(line)
    assert _clean(reply), reply
    assert r.cmd(b"NOOP").startswith(b"250")  # one reply per command: nothing was split
    r.close()


def test_second_starttls_inside_tls_is_refused(harness: Harness, cert: tuple[str, str]) -> None:
    harness.start(extra=f"tls: {{cert: {cert[0]}, key: {cert[1]}}}")
    r = Raw(harness.port)
    assert r.reply().startswith(b"220")
    r.cmd(b"EHLO client.test")
    assert r.cmd(b"STARTTLS").startswith(b"220")
    r.starttls(client_tls())
    assert b"STARTTLS" not in r.cmd(b"EHLO client.test")
    reply = r.cmd(b"STARTTLS")
    assert reply == said(replies.TLS_ACTIVE), reply  # as Postfix
    # the TLS session is still usable
    r.cmd(b"MAIL FROM:<alice@ext.test>")
    r.cmd(b"RCPT TO:<bob@example.org>")
    r.cmd(b"DATA")
    assert r.cmd(SIMPLE + b".").startswith(b"250")
    r.close()
    assert harness.sink is not None and len(harness.sink.wait_for(1)) == 1


@pytest.mark.parametrize("mail, rcpt", [
    ("zoë@ext.test", "bob@example.org"),
    ("alice@ext.test", "zoë@example.org"),
])
def test_8bit_address_without_smtputf8_is_553(harness: Harness, mail: str, rcpt: str) -> None:
    """8-bit local parts were relayed without SMTPUTF8 (Postfix: smtputf8_enable refuses them)."""
    harness.start()
    r = Raw(harness.port)
    assert r.reply().startswith(b"220")
    r.cmd(b"EHLO client.test")
    reply = r.cmd(b"MAIL FROM:<" + mail.encode() + b">")
    if not mail.isascii():
        assert reply == said(replies.SMTPUTF8_REQUIRED), reply
        r.close()
        return
    assert reply.startswith(b"250")
    reply = r.cmd(b"RCPT TO:<" + rcpt.encode() + b">")
    assert reply == said(replies.SMTPUTF8_REQUIRED), reply
    assert r.cmd(b"DATA").startswith(b"503")
    r.close()
    assert harness.sink is not None and harness.sink.messages == []


def test_8bit_address_with_smtputf8_is_relayed_with_smtputf8(harness: Harness) -> None:
    harness.start()
    r = Raw(harness.port)
    assert r.reply().startswith(b"220")
    r.cmd(b"EHLO client.test")
    assert r.cmd("MAIL FROM:<zoë@ext.test> SMTPUTF8".encode()).startswith(b"250")
    assert r.cmd("RCPT TO:<zoë@example.org>".encode()).startswith(b"250")
    r.cmd(b"DATA")
    assert r.cmd(SIMPLE + b".").startswith(b"250")
    r.close()
    assert harness.sink is not None
    [msg] = harness.sink.wait_for(1)
    assert msg.rcpt_tos == ["zoë@example.org"] and "SMTPUTF8" in msg.mail_options


def test_invalid_utf8_in_a_local_address_is_553(harness: Harness) -> None:
    harness.start()
    r = Raw(harness.port)
    assert r.reply().startswith(b"220")
    r.cmd(b"EHLO client.test")
    assert r.cmd(b"MAIL FROM:<a\xff@ext.test> SMTPUTF8").startswith(b"553")
    assert r.cmd(b"MAIL FROM:<alice@ext.test> SMTPUTF8").startswith(b"250")
    reply = r.cmd(b"RCPT TO:<b\xffob@example.org>")
    assert reply.startswith(b"553") and _clean(reply), reply
    r.close()


@pytest.mark.parametrize("line", [b"MAIL FROM:a@", b"MAIL FROM:\x15\xed@", b"RCPT TO:bob@", b"VRFY x@"])
def test_address_the_parser_chokes_on_is_553_not_451(harness: Harness, line: bytes,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """The stdlib parser raised IndexError on a trailing @: 451 and a traceback (found by the
    attack bench's fuzzer)."""
    harness.start()
    r = Raw(harness.port)
    assert r.reply().startswith(b"220")
    r.cmd(b"EHLO client.test")
    if line.startswith(b"RCPT"):
        assert r.cmd(b"MAIL FROM:<alice@ext.test>").startswith(b"250")
    with caplog.at_level(logging.ERROR, logger="gateway"):
        reply = r.cmd(line)
    assert reply[:1] == b"5" and _clean(reply), reply
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    r.close()
