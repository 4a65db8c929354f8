"""serve: every path that resets the client's SMTP state resets or closes the upstream side.

The gateway mirrors each client session to the upstream. Whatever ends or resets the client's
transaction (STARTTLS, EHLO/HELO, RSET, QUIT, the silence timeout, a disconnect, an internal
error, aiosmtpd's own 5xx at DATA, an upstream error) must end the mirrored transaction too, and
a client session that is gone must leave no upstream connection behind. Each case below drives
one path over real sockets and then reads the upstream's own view (the sink): connections open,
transactions open, transactions aborted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from gateway import replies
from gateway.config import Config
from gateway.model import Envelope
from gateway.runtime import Result, Runtime
from tests.integration.conftest import SIMPLE, Harness, client_tls, said
from tests.support.rawsmtp import Raw
from tests.support.sink import SinkBehaviour


class FailingRuntime(Runtime):
    """An analysis that raises something unexpected: the gateway's internal-error path."""

    async def analyse(self, raw: bytes, envelope: Envelope, **kwargs: Any) -> Result:
        raise RuntimeError("injected internal error")


@dataclass
class ResetPath:
    """One way a client session resets or ends, and the upstream state it must leave."""

    drive: Callable[[Raw], None]
    connections: int  # upstream connections still open afterwards
    aborted: int  # upstream transactions ended without a final dot


def _starttls_between_transactions(r: Raw) -> None:
    r.session()
    assert r.cmd(b"DATA").startswith(b"354")
    assert r.cmd(SIMPLE + b".").startswith(b"250")  # the upstream connection now idles
    assert r.cmd(b"STARTTLS").startswith(b"220")
    r.starttls(client_tls())
    assert r.cmd(b"EHLO client.test").startswith(b"250")


def _starttls_in_transaction(r: Raw) -> None:
    r.session()
    reply = r.cmd(b"STARTTLS")
    assert reply == said(replies.TRANSACTION_IN_PROGRESS), reply  # as Postfix
    assert r.cmd(b"RSET").startswith(b"250")


def _rset(r: Raw) -> None:
    r.session()
    assert r.cmd(b"RSET").startswith(b"250")


def _ehlo(r: Raw) -> None:
    r.session()
    assert r.cmd(b"EHLO again.test").startswith(b"250")


def _helo(r: Raw) -> None:
    r.session()
    assert r.cmd(b"HELO again.test").startswith(b"250")


def _quit(r: Raw) -> None:
    r.session()
    assert r.cmd(b"QUIT").startswith(b"221")
    assert r.rest() == b""


def _disconnect_after_rcpt(r: Raw) -> None:
    r.session()
    r.close()


def _disconnect_in_data(r: Raw) -> None:
    r.session()
    assert r.cmd(b"DATA").startswith(b"354")
    r.send(SIMPLE)  # and never the final dot
    r.close()


def _silence_timeout(r: Raw) -> None:
    r.session()
    assert r.rest() == said(replies.TIMEOUT)  # closed by the gateway after the silence


def _junk_limit(r: Raw) -> None:
    r.session()
    r.send(b"NOOP\r\n" * 30)
    assert r.rest().endswith(said(replies.JUNK_LIMIT))


def _lifetime(r: Raw) -> None:
    r.session()
    assert r.cmd(b"DATA").startswith(b"354")
    for _ in range(40):  # never silent, never finishing
        try:
            r.send(b"x\r\n")
        except OSError:
            break
        time.sleep(0.1)
    assert r.rest().endswith(said(replies.LIFETIME_OVER))


def _too_much_data(r: Raw) -> None:
    r.session()
    assert r.cmd(b"DATA").startswith(b"354")
    reply = r.cmd(SIMPLE + b"x" * 900 + b"\r\n" + b".")  # above max_message_size (aiosmtpd's 552)
    assert reply.startswith(b"552"), reply


def _line_too_long(r: Raw) -> None:
    r.session()
    assert r.cmd(b"DATA").startswith(b"354")
    reply = r.cmd(SIMPLE + b"y" * 1100 + b"\r\n" + b".")  # longer than max_line_length (aiosmtpd's 500)
    assert reply.startswith(b"500"), reply


PATHS: dict[str, ResetPath] = {
    "starttls-between-transactions": ResetPath(_starttls_between_transactions, 0, 0),
    "starttls-in-transaction-then-rset": ResetPath(_starttls_in_transaction, 1, 1),
    "rset": ResetPath(_rset, 1, 1),
    "ehlo": ResetPath(_ehlo, 1, 1),
    "helo": ResetPath(_helo, 1, 1),
    "quit": ResetPath(_quit, 0, 1),
    "disconnect-after-rcpt": ResetPath(_disconnect_after_rcpt, 0, 1),
    "disconnect-in-data": ResetPath(_disconnect_in_data, 0, 1),
    "silence-timeout": ResetPath(_silence_timeout, 0, 1),
    "junk-command-limit": ResetPath(_junk_limit, 0, 1),
    "session-lifetime": ResetPath(_lifetime, 0, 1),
    "aiosmtpd-552-at-data": ResetPath(_too_much_data, 1, 1),
    "aiosmtpd-500-at-data": ResetPath(_line_too_long, 1, 1),
}

LIMITS = ("limits: {session_timeout: %s, session_lifetime: %s, junk_command_limit: 20, max_message_size: 1000, "
          "max_line_length: 1000, shutdown_grace: 2}")


@pytest.mark.parametrize("name", sorted(PATHS))
def test_every_reset_path_resets_the_upstream(harness: Harness, cert: tuple[str, str], name: str) -> None:
    path = PATHS[name]
    silence = 1 if name == "silence-timeout" else 60
    lifetime = 1.5 if name == "session-lifetime" else 3600
    harness.start(extra=f"tls: {{cert: {cert[0]}, key: {cert[1]}}}\n" + LIMITS % (silence, lifetime))
    sink = harness.sink
    assert sink is not None
    assert sink.settle(0)  # the capability probe at start has gone
    r = Raw(harness.port)
    try:
        path.drive(r)
        assert sink.settle(path.connections, 0), \
            f"{name}: upstream still has {sink.open_connections()} connections, " \
            f"{sink.open_transactions()} transactions open"
        assert sink.aborted == path.aborted, name
        assert sink.messages == [] or name == "starttls-between-transactions"
    finally:
        r.close()
    # whatever the path, once the client is gone nothing is left upstream
    assert sink.settle(0, 0), f"{name}: {sink.open_connections()} upstream connections left behind"


def test_internal_error_resets_the_upstream(harness: Harness) -> None:
    def failing(config: Config) -> Runtime:
        return FailingRuntime(config)
    harness.start(runtime=failing)
    sink = harness.sink
    assert sink is not None
    r = Raw(harness.port)
    r.session()
    assert r.cmd(b"DATA").startswith(b"354")
    assert r.cmd(SIMPLE + b".") == said(replies.INTERNAL_ERROR)
    assert sink.settle(1, 0) and sink.aborted == 1
    # the session is clean: the next transaction starts with MAIL, not "503 nested MAIL"
    assert r.cmd(b"MAIL FROM:<alice@ext.test>").startswith(b"250")
    r.close()
    assert sink.settle(0, 0)


def test_upstream_421_at_rcpt_closes_both_sides(harness: Harness) -> None:
    harness.start(behaviour=SinkBehaviour(rcpt_reply="421 4.3.2 sink.test Service shutting down"))
    sink = harness.sink
    assert sink is not None
    r = Raw(harness.port)
    assert r.reply().startswith(b"220")
    r.cmd(b"EHLO client.test")
    assert r.cmd(b"MAIL FROM:<alice@ext.test>").startswith(b"250")
    assert r.cmd(b"RCPT TO:<bob@example.org>").startswith(b"421")
    assert r.rest() == b""  # RFC 5321 3.8: after a 421 the session is over
    r.close()
    assert sink.settle(0, 0)


def test_upstream_dropped_mid_transaction_leaves_nothing_open(harness: Harness) -> None:
    harness.start()
    sink = harness.sink
    assert sink is not None
    r = Raw(harness.port)
    r.session()
    sink.drop_all()
    assert r.cmd(b"RCPT TO:<carol@example.org>").startswith(b"451")
    assert r.cmd(b"QUIT").startswith(b"221")
    r.close()
    assert sink.settle(0, 0)


@pytest.mark.parametrize("tls_first", [False, True])
def test_starttls_sessions_cannot_exhaust_the_upstream(harness: Harness, cert: tuple[str, str],
                                                       tls_first: bool) -> None:
    """The incident: EHLO, MAIL, STARTTLS, handshake, QUIT, 25 times, against an upstream that
    takes 20 connections; normal mail then got 451 because every session leaked its upstream
    connection (the STARTTLS handshake replaced the session that held it)."""
    harness.start(extra=f"tls: {{cert: {cert[0]}, key: {cert[1]}}}",
                  behaviour=SinkBehaviour(max_connections=20))
    sink = harness.sink
    assert sink is not None
    for _ in range(25):
        r = Raw(harness.port)
        assert r.reply().startswith(b"220")
        r.cmd(b"EHLO client.test")
        if tls_first:  # the honest order, then a transaction abandoned by QUIT
            assert r.cmd(b"STARTTLS").startswith(b"220")
            r.starttls(client_tls())
            r.cmd(b"EHLO client.test")
            assert r.cmd(b"MAIL FROM:<a@ext.test>").startswith(b"250")
        else:
            assert r.cmd(b"MAIL FROM:<a@ext.test>").startswith(b"250")
            if r.cmd(b"STARTTLS").startswith(b"220"):
                r.starttls(client_tls())
        r.cmd(b"QUIT")
        r.close()
    assert sink.settle(0, 0), f"{sink.open_connections()} upstream connections leaked"
    c = harness.client()
    c.sendmail("alice@ext.test", ["bob@example.org"], SIMPLE)
    c.quit()
    assert len(sink.wait_for(1)) == 1


@pytest.mark.parametrize("refusal, client_sees", [
    ("451 4.3.0 Error: queue file write error", b"451 4.3.0"),
    ("554 5.5.1 Error: no valid recipients", b"554 5.5.1"),
    ("250 2.0.0 Ok", said(replies.UPSTREAM_CLOSED)),  # a broken answer to DATA: never a 250 to the client
])
def test_upstream_refusing_the_data_command_resets_its_transaction(harness: Harness, refusal: str,
                                                                   client_sees: bytes) -> None:
    """The upstream's transaction was taken for ended when it refused the DATA command itself,
    so it stayed open and the client's next MAIL met the upstream's "503 nested MAIL"."""
    harness.start(behaviour=SinkBehaviour(data_command_reply=refusal))
    sink = harness.sink
    assert sink is not None
    r = Raw(harness.port)
    r.session()
    assert r.cmd(b"DATA").startswith(b"354")  # the gateway reads the message first
    assert r.cmd(SIMPLE + b".").startswith(client_sees)
    assert sink.settle(0 if client_sees == said(replies.UPSTREAM_CLOSED) else 1, 0)
    sink.behaviour.data_command_reply = None
    assert r.cmd(b"MAIL FROM:<again@ext.test>").startswith(b"250")
    assert r.cmd(b"RCPT TO:<bob@example.org>").startswith(b"250")
    assert r.cmd(b"DATA").startswith(b"354")
    assert r.cmd(SIMPLE + b".").startswith(b"250")
    r.close()
    assert [m.mail_from for m in sink.wait_for(1)] == ["again@ext.test"]
