"""serve: every limit an outsider can push against, and what the client sees."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

import pytest

from gateway import replies
from gateway.checks import Check, CheckContext, signal
from gateway.checks.origin import OriginCheck
from gateway.checks.sender import SenderCheck
from gateway.model import Signal
from tests.integration.conftest import SIMPLE, Harness, said
from tests.support.rawsmtp import Raw
from tests.support.sink import SinkBehaviour


def test_size_advertised_is_no_larger_than_upstreams(harness: Harness) -> None:
    harness.start(extra="limits: {max_message_size: 50000000, shutdown_grace: 2}",
                  behaviour=SinkBehaviour(size=20000))
    c = harness.client()
    assert c.esmtp_features["size"] == "20000"
    c.quit()


def test_size_from_config_when_smaller(harness: Harness) -> None:
    harness.start(extra="limits: {max_message_size: 5000, shutdown_grace: 2}")
    c = harness.client()
    assert c.esmtp_features["size"] == "5000"
    assert c.docmd("MAIL FROM:<a@ext.test> SIZE=6000")[0] == 552
    c.quit()


def test_oversized_message_is_refused_while_streaming_and_not_delivered(harness: Harness) -> None:
    harness.start(extra="limits: {max_message_size: 5000, shutdown_grace: 2}")
    c = harness.client()
    c.mail("alice@ext.test")  # no SIZE declared: the limit is enforced on the stream
    c.rcpt("bob@example.org")
    code, _ = c.data(SIMPLE + (b"x" * 70 + b"\r\n") * 200)
    assert code == 552
    c.quit()
    time.sleep(0.2)
    assert harness.sink.messages == []


def test_too_many_recipients_is_452(harness: Harness) -> None:
    harness.start(extra="limits: {max_recipients: 2, shutdown_grace: 2}")
    c = harness.client()
    c.mail("alice@ext.test")
    assert c.rcpt("a@example.org")[0] == 250
    assert c.rcpt("b@example.org")[0] == 250
    assert c.rcpt("c@example.org")[0] == 452
    assert c.data(SIMPLE)[0] == 250
    c.quit()
    assert harness.sink.wait_for(1)[0].rcpt_tos == ["a@example.org", "b@example.org"]


def test_header_count_limit_is_552_and_nothing_delivered(harness: Harness) -> None:
    harness.start(extra="limits: {max_header_count: 50, shutdown_grace: 2}")
    many = b"".join(b"X-Filler-%d: x\r\n" % i for i in range(60)) + SIMPLE
    c = harness.client()
    c.mail("alice@ext.test")
    c.rcpt("bob@example.org")
    code, text = c.data(many)
    assert code == 552 and b"header" in text
    # the session stays usable and the next message goes through
    c.sendmail("alice@ext.test", ["bob@example.org"], SIMPLE)
    c.quit()
    assert len(harness.sink.wait_for(1)) == 1


def test_header_bytes_limit_is_552(harness: Harness) -> None:
    harness.start(extra="limits: {max_header_bytes: 2000, shutdown_grace: 2}")
    big = b"X-Big: " + b"y" * 900 + b"\r\n" + b"X-Big2: " + b"z" * 900 + b"\r\n" + b"X-Big3: a\r\n" * 30 + SIMPLE
    c = harness.client()
    c.mail("alice@ext.test")
    c.rcpt("bob@example.org")
    assert c.data(big)[0] == 552
    c.quit()


def test_line_length_limit_is_500(harness: Harness) -> None:
    harness.start(extra="limits: {max_line_length: 1000, shutdown_grace: 2}")
    c = harness.client()
    c.mail("alice@ext.test")
    c.rcpt("bob@example.org")
    code, _ = c.data(SIMPLE + b"w" * 3000 + b"\r\n")
    assert code == 500
    c.quit()
    assert harness.sink.messages == []


def test_deep_mime_is_delivered_with_a_signal(harness: Harness) -> None:
    harness.start(extra="limits: {max_mime_depth: 3, shutdown_grace: 2}")
    body = b"hello\r\n"
    for i in range(6):
        b = b"b%d" % i
        body = (b"Content-Type: multipart/mixed; boundary=" + b + b"\r\n\r\n--" + b + b"\r\n" + body
                + b"\r\n--" + b + b"--\r\n")
    msg = b"From: a@ext.test\r\nTo: bob@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\n" + body
    c = harness.client()
    c.sendmail("a@ext.test", ["bob@example.org"], msg)
    c.quit()
    data = harness.sink.wait_for(1)[0].data
    assert b"mime-too-deep (2)" in data


def test_per_ip_connection_limit_is_421(harness: Harness) -> None:
    harness.start(extra="limits: {max_connections_per_ip: 2, shutdown_grace: 2}")
    held = [Raw(harness.port) for _ in range(2)]
    for r in held:
        assert r.reply().startswith(b"220")
    refused = Raw(harness.port)
    assert refused.reply() == said(replies.CONNECTION_REFUSED, reason="too many connections from 127.0.0.1")
    refused.close()
    held[0].close()
    assert harness.wait_sessions(1)  # the gateway saw the close (it counted it until then)
    again = Raw(harness.port)  # a slot is free again
    assert again.reply().startswith(b"220")
    for r in (again, held[1]):
        r.close()


def test_global_connection_limit_is_421(harness: Harness) -> None:
    harness.start(extra="limits: {max_connections: 1, shutdown_grace: 2}")
    first, second = Raw(harness.port), Raw(harness.port)
    assert first.reply().startswith(b"220")
    assert second.reply() == said(replies.CONNECTION_REFUSED, reason="too many connections")
    first.close()
    second.close()


class SlowCheck(Check):
    """Sleeps past its own share of the analysis time."""

    name = "slow"
    signals = (signal("slow.done", "never emitted in time"),)

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        await asyncio.sleep(5)
        return [Signal("slow.done")]


class StuckCheck(SlowCheck):
    """Allowed the whole analysis time, so only the overall checks deadline stops it."""

    name = "stuck"
    signals = (signal("stuck.done", "never emitted in time"),)
    timeout_share = 1.0


class BrokenCheck(Check):
    name = "broken"
    signals = (signal("broken.never", "never emitted"),)

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        raise RuntimeError("boom")


@pytest.mark.parametrize("slow", [SlowCheck, StuckCheck])
def test_a_slow_check_is_cut_off_and_the_others_still_decide(harness: Harness, slow: type[Check]) -> None:
    """Partial results are kept: the free-mail signal still scores, and the header says which
    check did not finish (its own share, or the overall deadline)."""
    harness.start(extra="limits: {analysis_timeout: 0.4, shutdown_grace: 2}\non_error: accept",
                  runtime_kwargs={"checks": [slow(), SenderCheck(), OriginCheck()]})  # the sender check needs origin
    c = harness.client()
    c.sendmail("someone@gmail.com", ["bob@example.org"], b"From: Someone <someone@gmail.com>\r\n" + SIMPLE)
    c.quit()
    data = harness.sink.wait_for(1)[0].data
    assert f"X-Approach-Checked: partial; did not finish: {slow.name}".encode() in data
    assert b"freemail-sender" in data


def test_a_timeout_outside_the_checks_delivers_marked_unchecked(harness: Harness, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Parsing or policy past the whole deadline: the message is delivered, marked unchecked."""
    import gateway.runtime

    real = gateway.runtime.MessageView.parse

    def slow_parse(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.5)
        return real(*args, **kwargs)
    monkeypatch.setattr(gateway.runtime, "INLINE_BYTES", 0)  # parse in the worker thread
    monkeypatch.setattr(gateway.runtime.MessageView, "parse", staticmethod(slow_parse))
    harness.start(extra="limits: {analysis_timeout: 0.2, shutdown_grace: 2}\non_error: accept")
    c = harness.client()
    c.sendmail("alice@ext.test", ["bob@example.org"], SIMPLE)
    c.quit()
    data = harness.sink.wait_for(1)[0].data
    assert b"X-Approach-Checked: no; analysis timed out" in data
    assert b"X-Approach-Verdict: caution" in data


def test_analysis_timeout_with_on_error_tempfail_is_451(harness: Harness) -> None:
    harness.start(extra="limits: {analysis_timeout: 0.3, shutdown_grace: 2}\non_error: tempfail",
                  runtime_kwargs={"checks": [SlowCheck()]})
    c = harness.client()
    c.mail("alice@ext.test")
    c.rcpt("bob@example.org")
    assert c.data(SIMPLE)[0] == 451
    c.quit()
    time.sleep(0.2)
    assert harness.sink.messages == []


def test_a_failing_check_does_not_lose_the_message_and_is_logged(harness: Harness, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.ERROR, logger="gateway.checks")
    harness.start(runtime_kwargs={"checks": [BrokenCheck()]})
    c = harness.client()
    c.sendmail("alice@ext.test", ["bob@example.org"], SIMPLE)
    c.quit()
    assert b"X-Approach-Verdict:" in harness.sink.wait_for(1)[0].data
    assert "check broken failed" in caplog.text and "RuntimeError: boom" in caplog.text  # with the traceback
    assert harness.gw is not None and harness.gw.gateway is not None
    assert harness.gw.gateway.runtime.stats.errors == {"broken": 1}


@pytest.mark.parametrize("payload", [
    b"Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain; charset=nonsense-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n",  # no closing boundary
    b"Subject: =?utf-8?B?broken?=\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\xff\xfe<body><p>\xc3(</p>",
    b"\r\n\r\n\r\n",
    b"From: \x00\x01weird\r\n\r\nbody",
])
def test_malformed_input_is_delivered_not_crashed(harness: Harness, payload: bytes) -> None:
    harness.start()
    c = harness.client()
    c.mail("alice@ext.test")
    c.rcpt("bob@example.org")
    code, _ = c.data(payload)
    assert code == 250
    c.quit()
    assert len(harness.sink.wait_for(1)) == 1


def test_session_idle_timeout_closes(harness: Harness) -> None:
    harness.start(extra="limits: {session_timeout: 0.5, shutdown_grace: 2}")
    r = Raw(harness.port)
    assert r.reply().startswith(b"220")
    time.sleep(1.2)
    assert r.reply() == said(replies.TIMEOUT)  # told why (as Postfix), then closed
    assert r.reply() == b""
    r.close()
