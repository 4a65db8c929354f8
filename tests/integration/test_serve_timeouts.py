"""serve: the session timeouts, as Postfix has them.

`session_timeout` limits the client's SILENCE (any byte restarts it, also during DATA; time the
gateway spends on the upstream or the analysis does not count), `junk_command_limit` ends a
session that loops on commands moving no mail, and `session_lifetime` bounds a connection
however busy it is. Behaviour is asserted (reply codes, a closed connection, what was
delivered), never how long anything took.
"""

from __future__ import annotations

import time

import pytest

from gateway import replies
from tests.integration.conftest import SIMPLE, Harness, said
from tests.support.rawsmtp import Raw
from tests.support.sink import SinkBehaviour


def _limits(**kw: object) -> str:
    kw.setdefault("shutdown_grace", 2)
    return "limits: {" + ", ".join(f"{k}: {v}" for k, v in kw.items()) + "}"


def test_slow_but_steady_data_sender_is_not_cut_off(harness: Harness) -> None:
    """One line every 0.3 s for longer than two silence timeouts: an honest slow link."""
    harness.start(extra=_limits(session_timeout=1.5))
    r = Raw(harness.port)
    r.session()
    assert r.cmd(b"DATA").startswith(b"354")
    head, body = SIMPLE.split(b"\r\n\r\n", 1)
    for line in head.split(b"\r\n") + [b""] + [b"line %d of a slow message" % i for i in range(6)]:
        r.send(line + b"\r\n")
        time.sleep(0.3)
    assert r.cmd(b".").startswith(b"250")
    assert r.cmd(b"QUIT").startswith(b"221")
    r.close()
    assert harness.sink is not None and len(harness.sink.wait_for(1)) == 1


def test_slow_commands_are_not_cut_off(harness: Harness) -> None:
    harness.start(extra=_limits(session_timeout=1))
    r = Raw(harness.port)
    assert r.reply().startswith(b"220")
    for line in (b"EHLO client.test", b"MAIL FROM:<alice@ext.test>", b"RCPT TO:<bob@example.org>"):
        for byte in range(0, len(line), 4):  # a command trickling in, 4 bytes at a time
            r.send(line[byte:byte + 4])
            time.sleep(0.1)
        r.send(b"\r\n")
        assert r.reply().startswith(b"250")
    r.close()


def test_time_spent_on_the_upstream_is_not_client_silence(harness: Harness) -> None:
    harness.start(extra=_limits(session_timeout=1), behaviour=SinkBehaviour(data_delay=2.5))
    c = harness.client()
    c.mail("alice@ext.test")
    c.rcpt("bob@example.org")
    assert c.data(SIMPLE)[0] == 250  # the upstream took longer than the silence timeout
    c.quit()


def test_silence_gets_421_and_close(harness: Harness) -> None:
    harness.start(extra=_limits(session_timeout=0.5))
    r = Raw(harness.port)
    assert r.reply().startswith(b"220")
    assert r.rest() == said(replies.TIMEOUT)
    r.close()


def test_silence_inside_data_gets_421_and_nothing_delivered(harness: Harness) -> None:
    harness.start(extra=_limits(session_timeout=0.5))
    r = Raw(harness.port)
    r.session()
    assert r.cmd(b"DATA").startswith(b"354")
    r.send(SIMPLE)  # then nothing
    assert r.rest() == said(replies.TIMEOUT)
    r.close()
    time.sleep(0.2)
    assert harness.sink is not None and harness.sink.messages == []


@pytest.mark.parametrize("junk", [b"NOOP", b"RSET", b"VRFY bob", b"HELP", b"EHLO again.test", b"HELO again.test"])
def test_junk_looper_is_disconnected_with_421_after_the_limit(harness: Harness, junk: bytes) -> None:
    """A client sending NOOP more often than the silence timeout was never closed."""
    harness.start(extra=_limits(junk_command_limit=10))
    r = Raw(harness.port)
    assert r.reply().startswith(b"220")
    for _ in range(10):
        assert r.cmd(junk)[:1] in (b"2", b"5")  # answered as usual
    reply = r.cmd(junk)
    assert reply == said(replies.JUNK_LIMIT), reply
    assert r.rest() == b""
    r.close()


def test_noop_looper_with_pipelined_noops_is_cut_at_the_limit(harness: Harness) -> None:
    harness.start(extra=_limits(junk_command_limit=100))
    r = Raw(harness.port)
    assert r.reply().startswith(b"220")
    r.send(b"NOOP\r\n" * 1000)
    out = r.rest()
    assert out.count(b"250 ") == 100 and out.endswith(said(replies.JUNK_LIMIT))
    r.close()


def test_junk_count_restarts_after_a_delivered_message(harness: Harness) -> None:
    harness.start(extra=_limits(junk_command_limit=5))
    c = harness.client()  # EHLO is the first junk command
    for _ in range(4):
        assert c.noop()[0] == 250
    c.sendmail("alice@ext.test", ["bob@example.org"], SIMPLE)
    for _ in range(5):
        assert c.noop()[0] == 250
    assert c.noop()[0] == 421
    c.close()


def test_a_client_refused_error_limit_times_is_disconnected(harness: Harness) -> None:
    """Postfix's smtpd_hard_error_limit: attack20 had one connection pipeline 120,985 refused
    RCPTs (a 550 and a log line each, 31 MB of log in 7 s). The 20th refusal is followed by 421
    and the close; pipelined commands behind it are not answered."""
    harness.start(extra=_limits(error_limit=20))
    r = Raw(harness.port)
    assert r.reply().startswith(b"220")
    assert r.cmd(b"EHLO client.test").startswith(b"250")
    assert r.cmd(b"MAIL FROM:<alice@ext.test>").startswith(b"250")
    r.send(b"RCPT TO:<victim@foreign.test>\r\n" * 1000)
    out = r.rest()
    refusals = out.count(b"\r\n550 ") + out.startswith(b"550 ")
    assert refusals == 20 and out.endswith(said(replies.ERROR_LIMIT)), out[-300:]
    r.close()


def test_recipients_over_the_limit_are_not_errors_and_a_delivery_restarts_the_count(harness: Harness) -> None:
    """452 for recipients over max_recipients is not an error (RFC 5321 4.5.3.1.8: the client
    delivers to the accepted ones), as in Postfix; the count restarts after a delivered message."""
    harness.start(extra=_limits(error_limit=3, max_recipients=2))
    c = harness.client()
    c.mail("alice@ext.test")
    assert [c.rcpt(f"u{i}@example.org")[0] for i in range(6)] == [250, 250, 452, 452, 452, 452]
    assert c.data(SIMPLE)[0] == 250
    c.mail("alice@ext.test")
    assert [c.rcpt("x@foreign.test")[0] for _ in range(2)] == [550, 550]
    c.rset()
    c.mail("alice@ext.test")
    c.rcpt("bob@example.org")
    assert c.data(SIMPLE)[0] == 250  # delivered: the two refusals are forgotten
    c.mail("alice@ext.test")
    assert [c.rcpt("x@foreign.test")[0] for _ in range(3)] == [550, 550, 550]
    assert c.noop()[0] == 421  # sent after the third refusal, with the close
    c.close()


def test_session_lifetime_ends_even_a_busy_session(harness: Harness) -> None:
    harness.start(extra=_limits(session_timeout=1, session_lifetime=2))
    r = Raw(harness.port)
    r.session()
    assert r.cmd(b"DATA").startswith(b"354")
    r.sock.settimeout(10)
    out = b""
    for i in range(100):  # a line every 0.1 s: never silent, never ending the message
        try:
            r.send(b"trickle %d\r\n" % i)
        except OSError:
            break
        time.sleep(0.1)
        if i % 5 == 0:
            r.sock.setblocking(False)
            try:
                out += r.sock.recv(4096)
            except BlockingIOError:
                pass
            finally:
                r.sock.setblocking(True)
                r.sock.settimeout(10)
            if out:
                break
    out += r.rest()
    assert out == said(replies.LIFETIME_OVER), out
    r.close()
    assert harness.sink is not None and harness.sink.messages == []


def test_session_lifetime_never_cuts_off_a_reply_in_progress(harness: Harness) -> None:
    """The lifetime ends while the upstream is still taking the message: the client gets the
    upstream's 250 first, then 421."""
    harness.start(extra=_limits(session_lifetime=1), behaviour=SinkBehaviour(data_delay=2))
    r = Raw(harness.port)
    r.session()
    assert r.cmd(b"DATA").startswith(b"354")
    assert r.cmd(SIMPLE + b".").startswith(b"250")
    assert r.rest() == said(replies.LIFETIME_OVER)
    r.close()
    assert harness.sink is not None and len(harness.sink.wait_for(1)) == 1


def test_noop_loopers_from_five_addresses_no_longer_lock_everyone_out(harness: Harness) -> None:
    """The incident, scaled down: loopers from five addresses fill every slot and NOOP more
    often than the silence timeout; they used to keep the slots for ever, so everyone else got
    421. Now the junk-command limit ends each of them and an honest client gets in."""
    harness.start(extra=_limits(max_connections=10, max_connections_per_ip=2, junk_command_limit=20))
    loopers = [Raw(harness.port, source=f"127.0.0.{2 + i // 2}") for i in range(10)]
    for r in loopers:
        assert r.reply().startswith(b"220")
    shut_out = Raw(harness.port)
    assert shut_out.reply() == said(replies.CONNECTION_REFUSED, reason="too many connections")  # as in the incident
    shut_out.close()
    ends = []
    for r in loopers:
        for _ in range(30):
            reply = r.cmd(b"NOOP")
            if not reply.startswith(b"250"):
                break
        ends.append(reply[:3])
        r.close()
    assert ends == [b"421"] * 10
    assert harness.wait_sessions(0)  # every looper's slot is free again
    c = harness.client()
    c.sendmail("alice@ext.test", ["bob@example.org"], SIMPLE)
    c.quit()
    assert harness.sink is not None and len(harness.sink.wait_for(1)) == 1
