"""serve: STARTTLS, 8BITMIME/SMTPUTF8 pass-through, PROXY protocol, XFORWARD, SMTP smuggling."""

from __future__ import annotations

import smtplib
import ssl
import time

from gateway import replies
from tests.integration.conftest import SIMPLE, Harness, said
from tests.support.rawsmtp import Raw
from tests.support.sink import SinkBehaviour


def test_starttls_works_and_received_says_esmtps(harness: Harness, cert: tuple[str, str]) -> None:
    harness.start(extra=f"tls: {{cert: {cert[0]}, key: {cert[1]}}}")
    c = harness.client()
    assert c.has_extn("starttls")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c.starttls(context=ctx)
    c.ehlo("client.test")
    c.sendmail("alice@ext.test", ["bob@example.org"], SIMPLE)
    c.quit()
    assert b" with ESMTPS id " in harness.sink.wait_for(1)[0].data


def test_commands_pipelined_behind_starttls_are_discarded(harness: Harness, cert: tuple[str, str]) -> None:
    """Regression test for STARTTLS command injection (CVE-2011-0411 class)."""
    harness.start(extra=f"tls: {{cert: {cert[0]}, key: {cert[1]}}}")
    r = Raw(harness.port)
    r.reply()
    r.cmd(b"EHLO client.test")
    r.send(b"STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n")
    assert r.reply().startswith(b"220")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    tls = ctx.wrap_socket(r.sock, server_hostname="gw.example.org")
    r.sock, r.buf = tls, b""
    # had the injected MAIL been executed, its reply would come first; the EHLO reply must
    r.send(b"NOOP\r\n")
    assert r.reply().startswith(b"250 ")
    assert r.cmd(b"RCPT TO:<bob@example.org>").startswith(b"503")  # no MAIL transaction exists
    r.close()


def test_smtputf8_and_8bitmime_not_advertised_when_upstream_lacks_them(harness: Harness) -> None:
    harness.start(behaviour=SinkBehaviour(smtputf8=False, eightbitmime=False))
    c = harness.client()
    assert not c.has_extn("smtputf8") and not c.has_extn("8bitmime")
    assert c.docmd("MAIL FROM:<alice@ext.test> SMTPUTF8")[0] in (501, 555)
    assert c.docmd("MAIL FROM:<alice@ext.test> BODY=8BITMIME")[0] == 555
    assert c.docmd("MAIL FROM:<alice@ext.test> BODY=7BIT")[0] == 250
    c.quit()


def test_8bit_and_utf8_bytes_pass_unchanged(harness: Harness) -> None:
    harness.start()
    c = harness.client()
    assert c.has_extn("smtputf8") and c.has_extn("8bitmime")
    body = ("From: Zoë <zoë@ext.test>\r\nTo: bob@example.org\r\nSubject: café\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            "Grüße aus Köln — 東京\r\n").encode()
    c.sendmail("zoë@ext.test", ["bob@example.org"], body, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    c.quit()
    msg = harness.sink.wait_for(1)[0]
    assert msg.data.endswith(body)
    assert msg.mail_from == "zoë@ext.test"
    assert "SMTPUTF8" in msg.mail_options and "BODY=8BITMIME" in msg.mail_options


def _proxy_v1(src: str) -> bytes:
    return f"PROXY TCP4 {src} 127.0.0.1 40000 25\r\n".encode()


def test_proxy_protocol_from_trusted_balancer_sets_client(harness: Harness) -> None:
    harness.start(extra="proxy_protocol: {trusted_networks: [127.0.0.0/8], timeout: 3}")
    r = Raw(harness.port)
    r.send(_proxy_v1("203.0.113.9"))
    assert r.reply().startswith(b"220")
    r.cmd(b"EHLO far-away.test")
    r.cmd(b"MAIL FROM:<a@ext.test>")
    r.cmd(b"RCPT TO:<bob@example.org>")
    r.cmd(b"DATA")
    assert r.cmd(SIMPLE + b".").startswith(b"250")
    r.close()
    assert b"(unknown [203.0.113.9])" in harness.sink.wait_for(1)[0].data


def test_proxy_protocol_from_untrusted_peer_is_dropped(harness: Harness) -> None:
    harness.start(extra="proxy_protocol: {trusted_networks: [192.0.2.0/24], timeout: 3}")
    r = Raw(harness.port)
    r.send(_proxy_v1("203.0.113.9"))
    assert r.reply() == b""  # closed without a greeting
    r.close()


def test_xforward_from_authorized_host_is_used_and_passed_on(harness: Harness) -> None:
    harness.start(extra="xforward_hosts: [127.0.0.0/8]", behaviour=SinkBehaviour(xforward=True))
    c = smtplib.SMTP("127.0.0.1", harness.port, timeout=10)
    c.ehlo("postfix.example.org")
    assert c.has_extn("xforward")
    assert c.docmd("XFORWARD NAME=mail.sender.test ADDR=198.51.100.7 PROTO=ESMTP")[0] == 250
    assert c.docmd("XFORWARD HELO=mail.sender.test PORT=4711")[0] == 250
    c.sendmail("alice@ext.test", ["bob@example.org"], SIMPLE)
    c.quit()
    msg = harness.sink.wait_for(1)[0]
    assert b"Received: from mail.sender.test (mail.sender.test [198.51.100.7])" in msg.data
    assert msg.xforward.get("ADDR") == "198.51.100.7"
    assert msg.xforward.get("HELO") == "mail.sender.test"


def test_xforward_from_other_hosts_is_refused(harness: Harness) -> None:
    harness.start()
    c = harness.client()
    assert not c.has_extn("xforward")
    assert c.docmd("XFORWARD ADDR=198.51.100.7")[0] == 550
    c.sendmail("alice@ext.test", ["bob@example.org"], SIMPLE)
    c.quit()
    assert b"[127.0.0.1]" in harness.sink.wait_for(1)[0].data


SMUGGLE = (b"From: a@ext.test\r\nTo: bob@example.org\r\nSubject: one\r\n\r\nfirst body\n.\r\n"
           b"MAIL FROM:<ceo@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"
           b"From: ceo@example.org\r\nSubject: smuggled\r\n\r\nsmuggled\r\n")


def _send_raw_message(port: int, data: bytes) -> bytes:
    return _send_in_writes(port, [data + b".\r\n"])


def test_smtp_smuggling_bare_lf_dot_is_normalised_into_one_message(harness: Harness) -> None:
    """Regression test for SMTP smuggling (CVE-2023-51764 class): <LF>.<CR><LF> inside DATA."""
    harness.start()
    assert _send_raw_message(harness.port, SMUGGLE).startswith(b"250")
    time.sleep(0.3)
    [msg] = harness.sink.messages  # exactly one message reached the upstream
    assert b"\r\n..\r\nMAIL FROM:<ceo@example.org>" not in msg.data  # dot-unstuffed by the sink
    assert b"\r\n.\r\nMAIL FROM:<ceo@example.org>\r\n" in msg.data  # the text stayed inside
    assert b"\n" not in msg.data.replace(b"\r\n", b"")  # no bare LF left


def test_smtp_smuggling_bare_cr_dot_is_normalised(harness: Harness) -> None:
    harness.start()
    data = SMUGGLE.replace(b"first body\n.\r\n", b"first body\r.\r\n")
    assert _send_raw_message(harness.port, data).startswith(b"250")
    time.sleep(0.3)
    assert len(harness.sink.messages) == 1


def test_bare_newline_reject_mode(harness: Harness) -> None:
    harness.start(extra="bare_newline: reject")
    reply = _send_raw_message(harness.port, SMUGGLE)
    assert reply == said(replies.BARE_NEWLINE)
    time.sleep(0.2)
    assert harness.sink.messages == []


def test_dsn_parameters_pass_through_when_upstream_offers_dsn(harness: Harness) -> None:
    harness.start(behaviour=SinkBehaviour(dsn=True))
    c = harness.client()
    assert c.has_extn("dsn")
    assert c.docmd("MAIL FROM:<alice@ext.test> RET=HDRS ENVID=abc123")[0] == 250
    assert c.docmd("RCPT TO:<bob@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.org")[0] == 250
    assert c.data(SIMPLE)[0] == 250
    c.quit()
    msg = harness.sink.wait_for(1)[0]
    assert msg.dsn == ["RET=HDRS", "ENVID=abc123", "NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;bob@example.org"]


def test_dsn_parameters_refused_when_upstream_lacks_dsn(harness: Harness) -> None:
    harness.start()
    c = harness.client()
    assert not c.has_extn("dsn")
    assert c.docmd("MAIL FROM:<alice@ext.test> RET=HDRS")[0] == 555
    c.quit()


def test_per_client_limit_counts_the_real_client_behind_a_balancer(harness: Harness) -> None:
    """Behind a PROXY-protocol balancer the per-IP limit applies to the client the header names,
    not to the balancer (which is exempt)."""
    harness.start(extra="proxy_protocol: {trusted_networks: [127.0.0.0/8], timeout: 3}\n"
                        "limits: {max_connections_per_ip: 1, shutdown_grace: 2}")
    first = Raw(harness.port)
    first.send(_proxy_v1("203.0.113.9"))
    assert first.reply().startswith(b"220")
    other = Raw(harness.port)
    other.send(_proxy_v1("198.51.100.1"))
    assert other.reply().startswith(b"220")  # another client through the same balancer
    again = Raw(harness.port)
    again.send(_proxy_v1("203.0.113.9"))
    assert again.reply() == said(replies.CONNECTION_REFUSED, reason="too many connections from 203.0.113.9")
    for r in (first, other, again):
        r.close()


def test_client_key_groups_ipv6_by_64() -> None:
    from gateway.smtp.server import client_key

    assert client_key("2001:db8:1:2::5") == client_key("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1" and client_key("192.0.2.1") == "192.0.2.1"


def _send_in_writes(port: int, writes: list[bytes]) -> bytes:
    """DATA sent in separate TCP writes, each given time to be read on its own (the reader's
    chunks: gateway/smtp/data.py)."""
    r = Raw(port)
    r.reply()
    r.cmd(b"EHLO client.test")
    r.cmd(b"MAIL FROM:<a@ext.test>")
    r.cmd(b"RCPT TO:<bob@example.org>")
    r.cmd(b"DATA")
    for i, data in enumerate(writes):
        if i:
            time.sleep(0.05)
        r.send(data)
    reply = r.reply()
    r.cmd(b"QUIT")
    r.close()
    return reply


def test_bare_newline_check_across_separate_writes(harness: Harness) -> None:
    """A CRLF cut between two writes is no lone CR or LF; a lone LF in a later write still is."""
    harness.start(extra="bare_newline: reject")
    head = b"From: a@ext.test\r\nTo: bob@example.org\r\nSubject: split\r"
    assert _send_in_writes(harness.port, [head, b"\n\r\nbody\r", b"\n.\r\n"]).startswith(b"250")
    [msg] = harness.sink.wait_for(1)
    assert b"Subject: split\r\n\r\nbody\r\n" in msg.data
    reply = _send_in_writes(harness.port, [head, b"\n\r\nbody\r", b"\nlone\nLF\r\n.\r\n"])
    assert reply == said(replies.BARE_NEWLINE)
    time.sleep(0.2)
    assert len(harness.sink.messages) == 1
