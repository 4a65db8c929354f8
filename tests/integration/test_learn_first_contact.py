"""`learn` from sent mail, then first contact through a running gateway; outbound mail teaches too."""

from __future__ import annotations

import mailbox
import smtplib
from email.message import EmailMessage

from gateway.cli import main
from gateway.config import load_config
from gateway.smtp.service import ThreadedGateway
from tests.conftest import ROOT, loopback_dns

POLICY = """rules:
  - id: first-contact
    when: {signal: sender.first_contact}
    score: 1
    reason: the sender has never written to this recipient
  - id: first-contact-org
    when: {signal: sender.first_contact_org}
    score: 1
    reason: nobody in the organisation has corresponded with the sender
"""


def _send(port: int, frm: str, to: str) -> None:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = frm, to, "hello"
    m.set_content("Hello, a short note.")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.send_message(m)


def _reasons(data: bytes) -> str:
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    return " ".join(line for line in head.replace("\r\n ", " ").split("\r\n") if line.startswith("X-Approach-Reasons"))


def test_learn_then_first_contact_through_serve(tmp_path, sink):
    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "10-first-contact.yml").write_text(POLICY)
    (pol / "00-core.yml").write_text((ROOT / "policies" / "00-core.yml").read_text())
    cfg_file = tmp_path / "gateway.yml"
    cfg_file.write_text(f"""
listen: 127.0.0.1:0
upstream: {{host: 127.0.0.1, port: {sink.port}, connect_timeout: 2, command_timeout: 5, data_timeout: 5}}
hostname: gw.example.org
local_domains: [example.org, example.ac.uk]
trusted_networks: [127.0.0.0/8]
policies: [policies]
store: {{path: store.sqlite3}}
limits: {{shutdown_grace: 2}}
dns: {{nameservers: ["127.0.0.1:{loopback_dns().port}"], timeout: 1}}
""")
    sent = mailbox.mbox(str(tmp_path / "Sent"))
    m = EmailMessage()
    m["From"], m["To"], m["Date"] = "d.prof@example.ac.uk", "known@partner.test", "Mon, 05 Oct 2026 10:00:00 +0000"
    m.set_content("x")
    sent.add(m)
    sent.close()
    assert main(["learn", "--config", str(cfg_file), str(tmp_path / "Sent")]) == 0

    config = load_config(cfg_file)
    assert config.store.path == str(tmp_path / "store.sqlite3")  # relative to the config file
    with ThreadedGateway(config) as gw:
        _send(gw.port, "known@partner.test", "d.prof@example.ac.uk")
        _send(gw.port, "stranger@elsewhere.test", "d.prof@example.ac.uk")
        _send(gw.port, "d.prof@example.ac.uk", "new.contact@third.test")  # outbound, relayed
        _send(gw.port, "new.contact@third.test", "d.prof@example.ac.uk")  # their reply
        _send(gw.port, "stranger@elsewhere.test", "d.prof@example.ac.uk")  # second time: no longer first
    known, stranger, _, reply, again = (_reasons(r.data) for r in sink.messages)
    assert "first-contact" not in known
    assert "first-contact (1)" in stranger and "first-contact-org (1)" in stranger
    assert "first-contact" not in reply
    assert "first-contact" not in again
