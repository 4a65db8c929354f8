"""serve: nothing of a mail transaction outlives its end (RFC 5321 4.1.4: RSET and a new
HELO/EHLO clear it; so does the end of DATA, delivered or refused). Over a real socket, against
the recording sink: the recipients (and their limit), the size of the message, SMTPUTF8, the
XFORWARD attributes and the queue id of one transaction never reach the next."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from gateway import replies
from tests.integration.conftest import HOST, SIMPLE, Harness, said
from tests.support.rawsmtp import Raw
from tests.support.sink import SinkBehaviour

LINE = b"y" * 68 + b"\r\n"
CONFIG = "xforward_hosts: [127.0.0.0/8]\nlimits: {max_recipients: 2, max_message_size: 2000, shutdown_grace: 2}"


def _rset(r: Raw) -> None:
    assert r.cmd(b"RSET") == said(replies.OK)


def _ehlo(r: Raw) -> None:
    assert r.cmd(b"EHLO client.test").startswith(b"250-" + HOST.encode())


def _helo(r: Raw) -> None:
    assert r.cmd(b"HELO client.test") == said(replies.HELO_OK)


def _delivered(r: Raw) -> None:
    assert r.cmd(b"DATA") == said(replies.START_DATA)
    assert r.cmd(SIMPLE + b".").startswith(b"250 ")


def _refused_as_too_large(r: Raw) -> None:
    assert r.cmd(b"DATA") == said(replies.START_DATA)
    assert r.cmd(SIMPLE + LINE * 30 + b".") == said(replies.TOO_MUCH_DATA)  # 2100 bytes and more


ENDS: dict[str, Callable[[Raw], None]] = {
    "rset": _rset, "ehlo": _ehlo, "helo": _helo, "data-delivered": _delivered, "data-refused": _refused_as_too_large,
}


@pytest.mark.parametrize("end", sorted(ENDS))
def test_nothing_of_a_transaction_survives_its_end(harness: Harness, end: str) -> None:
    harness.start(extra=CONFIG, behaviour=SinkBehaviour(xforward=True))
    sink = harness.sink
    assert sink is not None
    r = Raw(harness.port)
    try:
        assert r.reply().startswith(b"220")
        assert r.cmd(b"EHLO client.test").startswith(b"250")
        # the first transaction: another client (XFORWARD), SMTPUTF8, the recipient limit reached
        assert r.cmd(b"XFORWARD ADDR=192.0.2.1 HELO=first.example NAME=first.example") == said(replies.OK)
        assert r.cmd(b"MAIL FROM:<first@ext.test> SMTPUTF8").startswith(b"250")
        assert r.cmd(b"RCPT TO:<a@example.org>").startswith(b"250")
        assert r.cmd(b"RCPT TO:<b@example.org>").startswith(b"250")
        assert r.cmd(b"MAIL FROM:<nested@ext.test>").startswith(b"503")  # refused: resets nothing
        assert r.cmd(b"RCPT TO:<c@example.org>") == said(replies.TOO_MANY_RECIPIENTS)
        ENDS[end](r)
        # no sender, no recipients left
        assert r.cmd(b"RCPT TO:<c@example.org>").startswith(b"503")  # aiosmtpd: need MAIL
        assert r.cmd(b"DATA") == said(replies.NEED_RCPT)
        # the second transaction: a fresh recipient count, a fresh size count
        assert r.cmd(b"MAIL FROM:<second@ext.test>").startswith(b"250")
        assert r.cmd(b"RCPT TO:<c@example.org>").startswith(b"250")
        assert r.cmd(b"RCPT TO:<d@example.org>").startswith(b"250")
        assert r.cmd(b"DATA") == said(replies.START_DATA)
        assert r.cmd(SIMPLE + LINE * 15 + b".").startswith(b"250 ")  # 1050 bytes and more
        assert r.cmd(b"QUIT") == said(replies.BYE)
    finally:
        r.close()
    got = sink.wait_for(2 if end == "data-delivered" else 1)
    second = got[-1]
    assert second.mail_from == "second@ext.test"
    assert second.rcpt_tos == ["c@example.org", "d@example.org"]
    assert "SMTPUTF8" not in second.mail_options
    assert second.xforward.get("ADDR") == "127.0.0.1"  # the connected client: XFORWARD's is gone
    assert second.xforward.get("HELO") == "client.test"
    received = second.data.split(b"\r\n", 1)[0]
    assert received.startswith(b"Received: from client.test (") and b"192.0.2.1" not in received, received
    if end == "data-delivered":
        first = got[0]
        assert first.rcpt_tos == ["a@example.org", "b@example.org"] and first.xforward.get("ADDR") == "192.0.2.1"
        ids = [re.search(rb" id ([0-9A-F]+)", m.data) for m in got]
        assert ids[0] and ids[1] and ids[0][1] != ids[1][1]  # each transaction its own queue id
