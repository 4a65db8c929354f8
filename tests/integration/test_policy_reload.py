"""Policy reload on file change through a running gateway: a new rule applies to the next
message; a broken edit is logged and the running policies keep working."""

from __future__ import annotations

import logging
import smtplib
import time
from pathlib import Path

import pytest

from gateway.parse import MessageView
from gateway.runtime import Runtime
from gateway.smtp.service import ThreadedGateway
from tests.conftest import make_config
from tests.support.sink import Sink

MESSAGE = (b"From: Bob <bob@gmail.com>\r\nTo: alice@example.org\r\nSubject: job offer\r\n"
           b"Message-ID: <1@test>\r\n\r\nPlease add me on WhatsApp.\r\n")

V1 = """
thresholds: {caution: 1, suspicious: 5, high: 9}
phrases:
  apps: [whatsapp]
rules:
  - {id: job-subject, when: {subject: {contains: job}}, score: 1, reason: job in subject}
"""
V2 = V1 + """
  - id: offchannel
    when: {text: {phrases: apps}}
    score: 5
    reason: "moves to {matched}"
"""
BROKEN = V2 + "  - {id: bad, when: {subject: {regex: '(a)\\1'}}, score: 1}\n"


def send(port: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.sendmail("bob@gmail.com", ["alice@example.org"], MESSAGE)


def header(data: bytes, name: str) -> str:
    return MessageView.parse(data).header(name) or ""


def wait_until(predicate: object, timeout: float = 15.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_an_edit_saved_while_the_gateway_starts_is_applied(tmp_path: Path, sink: Sink) -> None:
    """The watcher's first look was its baseline, taken once serving: after the policies were read,
    the reference data loaded and the warm-up run (seconds). An edit saved in between was part of
    that baseline, so the gateway ran the old policies until the next edit."""
    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "10-test.yml").write_text(V1)
    config = make_config(sink.port, tmp_path, policies=str(pol))
    runtime = Runtime(config)  # the start reads V1 ...
    (pol / "10-test.yml").write_text(V2)  # ... and the admin saves V2 before the gateway serves
    with ThreadedGateway(config, runtime=runtime, watch_interval=0.1) as gw:
        assert gw.gateway is not None
        assert wait_until(lambda: gw.gateway.runtime is not runtime)  # type: ignore[union-attr]
        send(gw.port)
        assert header(sink.wait_for(1)[-1].data, "X-Approach-Verdict") == "suspicious"


def test_edit_applies_and_broken_edit_keeps_running_policies(
        tmp_path: Path, sink: Sink, caplog: pytest.LogCaptureFixture) -> None:
    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "10-test.yml").write_text(V1)
    config = make_config(sink.port, tmp_path, policies=str(pol))
    caplog.set_level(logging.INFO, logger="gateway")
    with ThreadedGateway(config, watch_interval=0.1) as gw:
        assert gw.gateway is not None
        send(gw.port)
        first = sink.wait_for(1)[-1].data
        assert header(first, "X-Approach-Verdict") == "caution"
        old = gw.gateway.runtime.policies

        (pol / "10-test.yml").write_text(V2)
        assert wait_until(lambda: gw.gateway.runtime.policies is not old)  # type: ignore[union-attr]
        send(gw.port)
        second = sink.wait_for(2)[-1].data
        assert header(second, "X-Approach-Verdict") == "suspicious"
        assert "offchannel (5): moves to whatsapp" in header(second, "X-Approach-Reasons")

        running = gw.gateway.runtime.policies
        (pol / "10-test.yml").write_text(BROKEN)
        assert wait_until(lambda: "reload failed, keeping the running policies and data" in caplog.text)
        assert gw.gateway.runtime.policies is running
        assert "10-test.yml:12: RE2 cannot compile" in caplog.text
        send(gw.port)
        third = sink.wait_for(3)[-1].data
        assert header(third, "X-Approach-Verdict") == "suspicious"
