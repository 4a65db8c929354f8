"""serve: the mirrored session, relay rules, and the never-250-before-upstream rule, over sockets."""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import closed_port
from tests.integration.conftest import SIMPLE, Harness
from tests.support.rawsmtp import Raw
from tests.support.sink import SinkBehaviour


def test_message_is_relayed_with_contract_headers_and_received(harness: Harness) -> None:
    harness.start()
    c = harness.client()
    c.sendmail("alice@ext.test", ["bob@example.org"], SIMPLE)
    c.quit()
    [msg] = harness.sink.wait_for(1)
    assert msg.mail_from == "alice@ext.test" and msg.rcpt_tos == ["bob@example.org"]
    head = msg.data.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("Received: from client.test (unknown [127.0.0.1]) by gw.example.org")
    # the contract fields, in order, right after our Received (values depend on the shipped policies)
    assert re.search(r"\r\nX-Approach-Verdict: (clean|caution|suspicious|high)\r\n"
                     r"X-Approach-Score: -?\d+(\.\d+)?\r\nX-Approach-Reasons: ", head), head
    # the original message follows the prepended fields byte for byte
    assert msg.data.endswith(SIMPLE)


def test_each_recipient_gets_the_upstreams_own_answer(harness: Harness) -> None:
    harness.start(behaviour=SinkBehaviour(refuse_rcpt={"nobody@example.org"}))
    c = harness.client()
    assert c.mail("alice@ext.test")[0] == 250
    code, text = c.rcpt("nobody@example.org")
    assert code == 550 and b"User unknown" in text
    assert c.rcpt("bob@example.org")[0] == 250
    assert c.data(SIMPLE)[0] == 250
    c.quit()
    [msg] = harness.sink.wait_for(1)
    assert msg.rcpt_tos == ["bob@example.org"]


@pytest.mark.parametrize("rcpt", [
    "<bob@elsewhere.test>",
    "<@relay.test:bob@example.org>",        # source route
    "<bob%elsewhere.test@example.org>",     # percent hack
    "<elsewhere.test!bob@example.org>",     # bang path
    "<bob@elsewhere.test@example.org>",     # a@b@c
    '<"bob@elsewhere.test"@example.org>',   # quoted @ in the local part
])
def test_no_open_relay(harness: Harness, rcpt: str) -> None:
    harness.start()
    c = harness.client()
    assert c.mail("alice@ext.test")[0] == 250
    code, _ = c.docmd("RCPT TO:" + rcpt)
    assert code in (550, 553), rcpt
    code, _ = c.docmd("DATA")
    assert code == 503  # no valid recipient: nothing can be sent
    c.close()
    assert harness.sink.messages == []


def test_trusted_network_may_relay(harness: Harness) -> None:
    harness.start(extra="trusted_networks: [127.0.0.0/8]")
    c = harness.client()
    c.sendmail("bob@example.org", ["friend@elsewhere.test"], SIMPLE)
    c.quit()
    assert harness.sink.wait_for(1)[0].rcpt_tos == ["friend@elsewhere.test"]


def test_postmaster_without_domain_is_accepted(harness: Harness) -> None:
    harness.start()
    c = harness.client()
    c.mail("alice@ext.test")
    assert c.docmd("RCPT TO:<postmaster>")[0] == 250
    c.quit()


@pytest.mark.parametrize("reply", ["554 5.7.1 Rejected by policy", "452 4.3.1 Insufficient storage"])
def test_upstream_data_refusal_is_passed_through_never_250(harness: Harness, reply: str) -> None:
    harness.start(behaviour=SinkBehaviour(data_reply=reply))
    c = harness.client()
    c.mail("alice@ext.test")
    c.rcpt("bob@example.org")
    code, text = c.data(SIMPLE)
    assert code == int(reply[:3]) and text.decode() == reply[4:]
    c.quit()


def test_upstream_down_gives_4xx_never_5xx(harness: Harness) -> None:
    with closed_port() as dead:  # nothing listens there
        harness.start(upstream_port=dead)
        c = harness.client()
        code, _ = c.mail("alice@ext.test")
        assert 400 <= code < 500
        c.quit()


def test_upstream_slow_past_deadline_gives_451(harness: Harness) -> None:
    harness.start(extra="", behaviour=SinkBehaviour(data_delay=8))  # data_timeout is 5 s
    c = harness.client()
    c.mail("alice@ext.test")
    c.rcpt("bob@example.org")
    t0 = time.monotonic()
    code, _ = c.data(SIMPLE)
    assert code == 451
    assert time.monotonic() - t0 < 8
    c.close()


def test_client_disconnect_mid_data_delivers_nothing(harness: Harness) -> None:
    harness.start()
    r = Raw(harness.port)
    r.reply()
    assert r.cmd(b"EHLO client.test").startswith(b"250")
    assert r.cmd(b"MAIL FROM:<alice@ext.test>").startswith(b"250")
    assert r.cmd(b"RCPT TO:<bob@example.org>").startswith(b"250")
    assert r.cmd(b"DATA").startswith(b"354")
    r.send(SIMPLE + b"more text but never the final dot\r\n")
    time.sleep(0.2)
    r.close()
    time.sleep(0.5)
    assert harness.sink.messages == []
    # the upstream session was dropped too, and the gateway still serves
    c = harness.client()
    c.sendmail("alice@ext.test", ["bob@example.org"], SIMPLE)
    c.quit()
    assert len(harness.sink.wait_for(1)) == 1


def test_several_transactions_on_one_connection(harness: Harness) -> None:
    harness.start()
    c = harness.client()
    for i in range(3):
        c.sendmail("alice@ext.test", [f"user{i}@example.org"], SIMPLE)
    c.quit()
    msgs = harness.sink.wait_for(3)
    assert [m.rcpt_tos for m in msgs] == [["user0@example.org"], ["user1@example.org"], ["user2@example.org"]]
    assert harness.sink.connections == 2  # one capability probe at start + one mirrored session


def test_rset_resets_upstream_transaction(harness: Harness) -> None:
    harness.start()
    c = harness.client()
    c.mail("first@ext.test")
    c.rcpt("bob@example.org")
    c.rset()
    c.sendmail("second@ext.test", ["carol@example.org"], SIMPLE)
    c.quit()
    [msg] = harness.sink.wait_for(1)
    assert msg.mail_from == "second@ext.test" and msg.rcpt_tos == ["carol@example.org"]


def test_null_sender_bounces_are_relayed(harness: Harness) -> None:
    harness.start()
    c = harness.client()
    c.sendmail("", ["bob@example.org"], SIMPLE)
    c.quit()
    assert harness.sink.wait_for(1)[0].mail_from == ""


def test_auth_is_neither_advertised_nor_accepted(harness: Harness) -> None:
    harness.start()
    c = harness.client()
    assert not c.has_extn("auth")
    assert c.docmd("AUTH PLAIN AGJvYgBzZWNyZXQ=")[0] == 502
    c.quit()


def test_spoofed_verdict_headers_and_our_auth_results_are_stripped(harness: Harness) -> None:
    harness.start()
    spoofed = (b"X-Approach-Verdict: clean\r\nX-Approach-Score: -100\r\n"
               b"X-Approach-Reasons: trust me;\r\n  really\r\n"
               b"Authentication-Results: gw.example.org; dkim=pass header.d=bank.test\r\n"
               b"Authentication-Results: other.example; spf=pass\r\n" + SIMPLE)
    c = harness.client()
    c.sendmail("alice@ext.test", ["bob@example.org"], spoofed)
    c.quit()
    data = harness.sink.wait_for(1)[0].data
    assert data.count(b"X-Approach-Verdict:") == 1
    assert b"-100" not in data and b"trust me" not in data and b"really" not in data
    assert b"gw.example.org; dkim=pass header.d=bank.test" not in data
    assert b"Authentication-Results: other.example; spf=pass" in data


def test_upstream_closing_an_idle_connection_is_survived(harness: Harness) -> None:
    harness.start()
    c = harness.client()
    c.sendmail("alice@ext.test", ["bob@example.org"], SIMPLE)
    # the upstream drops every connection (as Postfix does after smtpd_timeout)
    sink = harness.sink

    async def drop_all() -> None:
        for proto in list(sink.protocols):
            if proto.transport is not None:
                proto.transport.close()
    import asyncio
    asyncio.run_coroutine_threadsafe(drop_all(), sink.loop).result(5)
    time.sleep(0.2)
    c.sendmail("alice@ext.test", ["carol@example.org"], SIMPLE)
    c.quit()
    assert [m.rcpt_tos for m in sink.wait_for(2)] == [["bob@example.org"], ["carol@example.org"]]


@pytest.mark.parametrize("dots", [False, True])
def test_a_large_message_arrives_byte_for_byte_with_and_without_dot_lines(harness: Harness, dots: bool) -> None:
    """Larger than one upstream slice (256 KiB): with no line starting with a dot the body is
    sent as the reader kept it (`Outgoing.plain`), with some it is stuffed again."""
    harness.start()
    line = b"abcdefghij" * 7 + b"\r\n"
    body = line * 5000 + (b".a dot line\r\n..two dots\r\n.\r\n" if dots else b"") + line * 100
    message = SIMPLE.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" + body
    c = harness.client()
    c.sendmail("alice@ext.test", ["bob@example.org"], message)
    c.quit()
    [msg] = harness.sink.wait_for(1)
    assert msg.data.endswith(b"\r\n\r\n" + body)
