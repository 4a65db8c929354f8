"""XFORWARD on a reused connection (what Postfix's cached `approach` transport does), against
the recording sink: each transaction's original client must reach the upstream."""

from __future__ import annotations

import smtplib
from pathlib import Path

from gateway.smtp.service import ThreadedGateway
from tests.conftest import make_config
from tests.support.sink import Sink, SinkBehaviour


def test_each_transaction_forwards_its_own_xforward(tmp_path: Path) -> None:
    sink = Sink(SinkBehaviour(xforward=True)).start()
    try:
        cfg = make_config(sink.port, tmp_path, extra="xforward_hosts: [127.0.0.0/8]")
        with ThreadedGateway(cfg) as gw, smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as c:
            c.ehlo("mta.example.org")
            assert c.has_extn("xforward")
            for ip, helo in (("192.0.2.1", "first.example"), ("198.51.100.2", "second.example")):
                assert c.docmd("XFORWARD", f"ADDR={ip} HELO={helo} NAME=[UNAVAILABLE] PROTO=ESMTP")[0] == 250
                c.sendmail("s@remote.test", ["ok@example.org"], f"Subject: from {helo}\r\n\r\nbody\r\n")
        got = sink.wait_for(2)
        assert [(m.xforward.get("ADDR"), m.xforward.get("HELO")) for m in got] == [
            ("192.0.2.1", "first.example"), ("198.51.100.2", "second.example")]
        assert sink.connections == 2  # the start-up probe, then one session for both messages
    finally:
        sink.stop()
