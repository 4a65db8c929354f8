"""Forged verdict and Authentication-Results fields, in every spelling, through a real Postfix
(both shipped deployment modes) and the gateway, delivered by Postfix's virtual(8) agent into a
Maildir; the delivered file is read by Dovecot Pigeonhole's sieve-test with the shipped script
and with a naive one, and by lenient header readers (tests/support/forged.py).

Needs root and the postfix and sieve-test binaries (skipped locally without them, required in
CI). All forged messages of a mode are sent first and collected once (Postfix delivers them in
parallel); each variant is then its own test.
"""

from __future__ import annotations

import dataclasses
import os
import smtplib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import HostPort
from gateway.smtp.service import ThreadedGateway
from tests.conftest import IN_CI, free_ports, make_config, need_binary
from tests.integration.postfix import MODES, PostfixInstance
from tests.support.forged import ALL_FORGED, AUTHSERV_ID, BODY_MARK, fields_named, forged_message
from tests.support.sieve import NAIVE, SHIPPED, deliver
from tests.support.sink import Sink

pytestmark = [pytest.mark.postfix, pytest.mark.timeout(300)]

CLIENT_IP = "127.0.0.2"


def _need_root() -> None:
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the Postfix integration tests must run as root in CI (see .ci/run)")
        pytest.skip("starting a private Postfix instance needs root")


def _send(pf: PostfixInstance, raw: bytes) -> None:
    with smtplib.SMTP(local_hostname="client.test", source_address=(CLIENT_IP, 0), timeout=30) as c:
        c.connect("127.0.0.1", pf.smtp_port)
        c.ehlo()
        c.sendmail("sender@remote.test", ["ok@example.org"], raw, mail_options=["BODY=8BITMIME"])


@pytest.fixture(scope="module", params=MODES)
def delivered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, bytes]]:
    """label -> the file Postfix delivered for that forged message, in one mode."""
    postfix = need_binary("postfix")
    need_binary("sieve-test")
    _need_root()
    mode = request.param
    tmp: Path = tmp_path_factory.mktemp(mode)
    (tmp / "policies").mkdir()
    (tmp / "policies" / "empty.yml").write_text("rules: []\n")  # every message is clean
    sink = Sink().start()
    smtp, filt, reinject = free_ports(3)  # all three distinct (free_port() twice may repeat one)
    pf = PostfixInstance(postfix, mode, smtp_port=smtp, filter_port=filt, reinject_port=reinject,
                         sink_port=sink.port, maildir=True)
    gateway = None
    try:
        pf.start()
        cfg = make_config(pf.reinject_port, tmp, extra="xforward_hosts: [127.0.0.0/8]",
                          policies=str(tmp / "policies"))
        gateway = ThreadedGateway(dataclasses.replace(cfg, listen=HostPort("127.0.0.1", pf.filter_port))).start()
        for label, line in ALL_FORGED:
            _send(pf, forged_message(line, "middle", token=f"{mode}-{label}"))
        found: dict[str, bytes] = {}
        deadline = time.monotonic() + 120
        while len(found) < len(ALL_FORGED) and time.monotonic() < deadline:
            for f in pf.delivered():
                data = f.read_bytes()
                for label, _ in ALL_FORGED:
                    if f"Subject: forged {mode}-{label}\n".encode() in data.replace(b"\r\n", b"\n"):
                        found[label] = data
            time.sleep(0.2)
        pf.wait_queue_empty()
        yield found
    finally:
        if gateway is not None:
            gateway.stop()
        pf.stop()
        sink.stop()


@pytest.mark.parametrize("label", [x[0] for x in ALL_FORGED])
def test_delivered_file_has_only_the_gateways_fields(delivered: dict[str, bytes], label: str) -> None:
    data = delivered.get(label)
    assert data is not None, f"{label} was not delivered (see the Postfix maillog)"
    verdicts = fields_named(data, "X-Approach-Verdict")
    assert [v.replace(b"\r\n", b"\n") for v in verdicts] == [b"X-Approach-Verdict: clean\n"], verdicts
    assert len(fields_named(data, "X-Approach-Score")) == 1
    ours = [f for f in fields_named(data, "Authentication-Results")
            if AUTHSERV_ID.encode() in f.split(b";", 1)[0].lower()]
    assert len(ours) <= 1 and not any(b"bank.test" in f for f in ours), ours
    assert BODY_MARK in data


@pytest.mark.parametrize("label", [x[0] for x in ALL_FORGED])
def test_sieve_files_the_delivered_clean_message_in_the_inbox(delivered: dict[str, bytes], label: str) -> None:
    data = delivered.get(label)
    assert data is not None, f"{label} was not delivered (see the Postfix maillog)"
    assert deliver(data, SHIPPED) == [("INBOX", "")]
    assert deliver(data, NAIVE) == [("INBOX", "")]
