"""serve: operators can see what was refused -- one log line per refused recipient and per
session-level refusal, with client IP, HELO, sender, reason and reply, in text and JSON."""

from __future__ import annotations

import json
import logging

import pytest

from gateway import replies
from gateway.log import JsonFormatter, MessageLine
from tests.integration.conftest import SIMPLE, Harness, client_tls, said
from tests.support.rawsmtp import Raw
from tests.support.sink import SinkBehaviour


@pytest.fixture
def capture(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway")


def _collect(caplog: pytest.LogCaptureFixture) -> list[dict[str, str]]:
    """The refusal lines logged, each as the JSON formatter emits it; the text formatter's
    key=value line is checked to carry the same fields on one line."""
    fmt = JsonFormatter()
    found = []
    for rec in caplog.records:
        if isinstance(rec.msg, MessageLine) and rec.msg.fields.get("event") == "refused":
            obj = json.loads(fmt.format(rec))
            text = str(rec.msg)
            for key in ("event", "stage", "client", "helo", "from", "reason", "reply"):
                assert key in obj, (key, obj)
                assert f"{key}=" in text, (key, text)
            assert "\n" not in text and "\r" not in text
            found.append(obj)
    return found


def _one(lines: list[dict[str, str]], **match: str) -> dict[str, str]:
    hits = [x for x in lines if all(x.get(k) == v for k, v in match.items())]
    assert len(hits) == 1, (match, lines)
    return hits[0]


def test_each_refused_recipient_is_one_line(harness: Harness, capture: None,
                                          caplog: pytest.LogCaptureFixture) -> None:
    harness.start(extra="limits: {max_recipients: 2, shutdown_grace: 2}",
                  behaviour=SinkBehaviour(refuse_rcpt={"nobody@example.org"}))
    r = Raw(harness.port)
    assert r.reply().startswith(b"220")
    r.cmd(b"EHLO mx.sender.test")
    r.cmd(b"MAIL FROM:<alice@ext.test>")
    assert r.cmd(b"RCPT TO:<friend@elsewhere.test>").startswith(b"550")
    assert r.cmd(b"RCPT TO:<bob%elsewhere.test@example.org>").startswith(b"550")
    assert r.cmd(b"RCPT TO:<nobody@example.org>").startswith(b"550")
    assert r.cmd(b"RCPT TO:<e\x00vil@example.org>")[:1] == b"5"
    assert r.cmd(b"RCPT TO:<bob@example.org>").startswith(b"250")
    assert r.cmd(b"RCPT TO:<carol@example.org>").startswith(b"250")
    assert r.cmd(b"RCPT TO:<dave@example.org>").startswith(b"452")
    r.cmd(b"QUIT")
    r.close()
    lines = [x for x in _collect(caplog) if x["stage"] == "RCPT"]
    assert len(lines) == 5, lines  # one per refused recipient, none for the accepted ones
    common = {"client": "127.0.0.1", "helo": "mx.sender.test", "from": "<alice@ext.test>"}
    relay = _one(lines, to="<friend@elsewhere.test>")
    assert relay["reason"] == "relay denied: domain not in local_domains"
    assert relay["reply"] == str(replies.RELAY_DENIED.format(address="friend@elsewhere.test"))
    assert common.items() <= relay.items()
    assert _one(lines, to="<bob%elsewhere.test@example.org>")["reason"].startswith("relay denied: percent")
    unknown = _one(lines, to="<nobody@example.org>")
    assert unknown["reason"] == "upstream refused" and "User unknown" in unknown["reply"]
    assert _one(lines, to="<dave@example.org>")["reason"] == "recipient limit (2)"
    evil = _one(lines, to="<e\\x00vil@example.org>")  # escaped, never a raw NUL in the log
    assert common.items() <= evil.items()


def test_session_level_refusals_are_logged(harness: Harness, cert: tuple[str, str],
                                           capture: None,
                                           caplog: pytest.LogCaptureFixture) -> None:
    harness.start(extra=f"tls: {{cert: {cert[0]}, key: {cert[1]}}}\n"
                        "limits: {max_connections_per_ip: 2, junk_command_limit: 3, session_timeout: 1, "
                        "shutdown_grace: 2}")
    # junk-command limit
    junk = Raw(harness.port)
    assert junk.reply().startswith(b"220")
    junk.cmd(b"EHLO looper.test")
    junk.send(b"NOOP\r\n" * 5)
    assert junk.rest().endswith(said(replies.JUNK_LIMIT))
    junk.close()
    # too many connections from one address (two held, the third refused)
    held = [Raw(harness.port) for _ in range(2)]
    for h in held:
        assert h.reply().startswith(b"220")
    extra = Raw(harness.port)
    assert extra.reply() == said(replies.CONNECTION_REFUSED, reason="too many connections from 127.0.0.1")
    extra.close()
    # silence timeout (one of the held sessions, after a MAIL; read below)
    held[0].cmd(b"EHLO sleepy.test")
    held[0].cmd(b"MAIL FROM:<sleepy@ext.test>")
    # TLS error: garbage instead of a handshake
    held[1].cmd(b"EHLO broken-tls.test")
    assert held[1].cmd(b"STARTTLS").startswith(b"220")
    held[1].send(b"this is not a TLS ClientHello\r\n" * 4)
    try:
        held[1].rest()
    except OSError:
        pass
    assert held[0].rest().startswith(said(replies.TIMEOUT))
    for h in held:
        h.close()
    # STARTTLS twice, AUTH
    r = Raw(harness.port)
    assert r.reply().startswith(b"220")
    r.cmd(b"EHLO client.test")
    assert r.cmd(b"STARTTLS").startswith(b"220")
    r.starttls(client_tls())
    r.cmd(b"EHLO client.test")
    assert r.cmd(b"STARTTLS") == said(replies.TLS_ACTIVE)
    assert r.cmd(b"AUTH PLAIN AGJvYgBzZWNyZXQ=") == said(replies.AUTH_NOT_ENABLED)
    r.cmd(b"QUIT")
    r.close()
    lines = _collect(caplog)
    j = _one(lines, stage="NOOP")
    assert j["reason"] == "junk command limit (3)" and j["helo"] == "looper.test" and j["client"] == "127.0.0.1"
    conn = _one(lines, stage="CONNECT")
    assert conn["reason"] == "too many connections from 127.0.0.1"
    assert conn["reply"] == str(replies.CONNECTION_REFUSED.format(host="gw.example.org", reason=conn["reason"]))
    t = _one(lines, stage="SESSION")
    assert t["reason"].startswith("timeout") and t["helo"] == "sleepy.test" and t["from"] == "<sleepy@ext.test>"
    tls = [x for x in lines if x["stage"] == "STARTTLS"]
    assert any(x["reason"].startswith("TLS handshake failed") and x["helo"] == "broken-tls.test" for x in tls), tls
    assert any(x["reason"] == "STARTTLS inside TLS" for x in tls), tls
    assert _one(lines, stage="AUTH")["reply"] == str(replies.AUTH_NOT_ENABLED)
    # a failed handshake is the client's trouble: no "internal error" traceback
    assert not [rec for rec in caplog.records if "internal error" in rec.getMessage()]


def test_delivered_message_is_not_a_refusal(harness: Harness, capture: None,
                                            caplog: pytest.LogCaptureFixture) -> None:
    harness.start()
    c = harness.client()
    c.sendmail("alice@ext.test", ["bob@example.org"], SIMPLE)
    c.quit()
    assert _collect(caplog) == []


def test_unknown_commands_are_not_logged_as_the_previous_command(harness: Harness, capture: None,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """aiosmtpd answers unknown commands without the gateway: their 500 was logged as a refusal
    of whatever command came before (here RCPT); now only the 502 that ends the session is."""
    harness.start()
    r = Raw(harness.port)
    r.session()
    for _ in range(4):
        assert r.cmd(b"BOGUS").startswith(b"500")
    assert r.cmd(b"BOGUS").startswith(b"502 5.5.1 Too many unrecognized commands")
    assert r.rest() == b""
    r.close()
    lines = _collect(caplog)
    assert [x["stage"] for x in lines] == ["SESSION"], lines
    assert lines[0]["reason"] == "too many unrecognized commands" and lines[0]["from"] == "<alice@ext.test>"


def test_refused_messages_are_refusals_too(harness: Harness, capture: None, caplog: pytest.LogCaptureFixture) -> None:
    """A message refused at the final dot (a limit, the upstream) has its message line and a
    refusal line saying why."""
    harness.start(extra="limits: {max_header_count: 5, shutdown_grace: 2}",
                  behaviour=SinkBehaviour(data_reply="554 5.7.1 Rejected by the upstream"))
    c = harness.client()
    c.mail("alice@ext.test")
    c.rcpt("bob@example.org")
    assert c.data(b"".join(b"X-H%d: v\r\n" % i for i in range(10)) + SIMPLE)[0] == 552
    c.mail("alice@ext.test")
    c.rcpt("bob@example.org")
    assert c.data(SIMPLE)[0] == 554
    c.quit()
    lines = [x for x in _collect(caplog) if x["stage"] == "DATA"]
    assert [x["reply"][:3] for x in lines] == ["552", "554"], lines
    assert lines[0]["reason"].startswith("rejected: ") and lines[1]["reason"] == "upstream refused"
    assert all(x["from"] == "<alice@ext.test>" and x["helo"] == "client.test" for x in lines)
