"""The per-message log line: typed JSON fields operators can query; the text format unchanged."""

from __future__ import annotations

import json
import logging
import re
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gateway.log import JsonFormatter, MessageLine, message_line
from gateway.model import Client, Envelope
from gateway.store import StoreUnavailable
from gateway.store.memory import MemoryStore
from tests.conftest import need_binary
from tests.integration.conftest import SIMPLE, Harness

APPROACH = (b"From: \"Jane Roe\" <jane.roe.recruits@gmail.com>\r\nTo: bob@example.org\r\n"
            b"Subject: opportunity\r\nMessage-ID: <j1@gmail.com>\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\n\r\n"
            b"I am a headhunter. We pay per report for your insights. Let's continue on WhatsApp +44 7700 900123.\r\n")


def test_text_line_is_as_it_always_was() -> None:
    env = Envelope(mail_from="a@ext.test", rcpt_tos=("b@example.org", "c@example.org"),
                   client=Client(ip="192.0.2.1", helo="x.test"), queue_id="Q1")
    line = message_line(env, 0.12345, size=10, verdict="clean", score=0.0, reasons=("r-a", "r-b"),
                        reply="250 2.0.0 Ok")
    assert str(line) == ('queue_id=Q1 client=192.0.2.1 helo=x.test from=<a@ext.test> '
                         'to=<b@example.org>,<c@example.org> size=10 verdict=clean score=0.0 reasons=r-a,r-b '
                         'reply="250 2.0.0 Ok" time=0.123')
    empty = message_line(env, 1.0, verdict="clean", reasons=())
    assert ' reasons="" time=1.000' in str(empty)


def _message_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if isinstance(r.msg, MessageLine)]


def _received_id(data: bytes) -> str:
    m = re.search(rb"^Received: from .*? id ([0-9A-F]+)", data, re.M | re.S)
    assert m, data[:400]
    return m.group(1).decode()


def test_json_line_has_typed_fields_and_the_received_queue_id(harness: Harness,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    harness.start("log: {format: json}")
    caplog.set_level(logging.INFO, logger="gateway.smtp")
    c = harness.client()
    c.sendmail("jane.roe.recruits@gmail.com", ["bob@example.org", "carol@example.org"], APPROACH)
    c.quit()
    assert harness.sink is not None
    delivered = harness.sink.wait_for(1)[0]
    records = _message_lines(caplog)
    assert len(records) == 1
    obj = json.loads(JsonFormatter().format(records[0]))
    assert obj["queue_id"] == _received_id(delivered.data)
    assert obj["to"] == ["<bob@example.org>", "<carol@example.org>"]
    assert isinstance(obj["size"], int) and obj["size"] == len(APPROACH)
    assert isinstance(obj["score"], (int, float)) and obj["score"] > 0
    assert isinstance(obj["time"], (int, float)) and obj["time"] >= 0
    assert isinstance(obj["reasons"], list) and "freemail-sender" in obj["reasons"]
    assert all(isinstance(r, str) and "," not in r for r in obj["reasons"])
    assert obj["reply"].startswith("250 ") and obj["verdict"] in ("caution", "suspicious", "high")
    assert "tls" not in obj and "cipher" not in obj  # no TLS on this session
    # the same record as text: the familiar key=value line
    text = str(records[0].msg)
    assert f"queue_id={obj['queue_id']} " in text and "to=<bob@example.org>,<carol@example.org> " in text
    assert "reasons=" + ",".join(obj["reasons"]) + " " in text
    assert re.search(r" time=\d+\.\d{3}$", text)


class HistoryDownStore(MemoryStore):
    """Opens (the purge at start), then refuses every history read, as a stopped Redis does."""

    async def sender_history(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("redis store redis://127.0.0.1:1/0: sender_history: connection refused")

    async def campaign_reach_many(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("redis store redis://127.0.0.1:1/0: campaign_reach_many: connection refused")


def test_line_says_when_the_store_could_not_be_asked(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """admin21 00:37: with the store down the line said `reasons=""` and nothing else: an admin could
    not tell "nothing suspicious" from "history not consulted"."""
    store = HistoryDownStore(30)
    harness.start(runtime_kwargs={"store": store})
    caplog.set_level(logging.INFO, logger="gateway.smtp")
    c = harness.client()
    c.sendmail("alice@ext.test", ["bob@example.org"], SIMPLE)
    c.quit()
    assert harness.sink is not None
    harness.sink.wait_for(1)
    text = str(_message_lines(caplog)[0].msg)
    assert re.search(r' reasons=\S* store=unavailable ', text), text
    # with the store back, the field is gone (it names an outage, not a default)
    store.sender_history = MemoryStore.sender_history.__get__(store)  # type: ignore[method-assign]
    store.campaign_reach_many = MemoryStore.campaign_reach_many.__get__(store)  # type: ignore[method-assign]
    c = harness.client()
    c.sendmail("alice@ext.test", ["bob@example.org"], SIMPLE.replace(b"<1@ext.test>", b"<2@ext.test>"))
    c.quit()
    harness.sink.wait_for(2)
    assert "store=" not in str(_message_lines(caplog)[1].msg)


@pytest.fixture
def cert(tmp_path: Path) -> tuple[str, str]:
    need_binary("openssl")
    key, crt = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(crt), "-days", "2", "-subj", "/CN=gw.example.org"],
                   check=True, capture_output=True)
    return str(crt), str(key)


def test_json_line_names_tls_version_and_cipher(harness: Harness, cert: tuple[str, str],
                                                caplog: pytest.LogCaptureFixture) -> None:
    harness.start(f"log: {{format: json}}\ntls: {{cert: {cert[0]}, key: {cert[1]}}}")
    caplog.set_level(logging.INFO, logger="gateway.smtp")
    c = harness.client()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c.starttls(context=ctx)
    c.ehlo("client.test")
    c.sendmail("alice@ext.test", ["bob@example.org"], SIMPLE)
    version, cipher = c.sock.version(), c.sock.cipher()[0]  # type: ignore[union-attr]
    c.quit()
    assert harness.sink is not None
    delivered = harness.sink.wait_for(1)[0]
    obj = json.loads(JsonFormatter().format(_message_lines(caplog)[0]))
    assert obj["tls"] == version and obj["cipher"] == cipher
    assert obj["queue_id"] == _received_id(delivered.data)
    assert b" with ESMTPS id " + obj["queue_id"].encode() in delivered.data
