"""Authentication through the real gateway: SMTP in, DNS from a real server, SMTP out to a sink."""

from __future__ import annotations

import smtplib

import pytest

from gateway.smtp.service import ThreadedGateway
from tests.conftest import make_config
from tests.support.dkimkeys import message, rsa_key
from tests.support.dnsserver import TestDNSServer


@pytest.fixture
def dns():
    with TestDNSServer() as server:
        server.add("example.com", "TXT", "v=spf1 ip4:127.0.0.1 -all")
        server.add("sel._domainkey.example.com", "TXT", rsa_key().txt)
        server.add("_dmarc.example.com", "TXT", "v=DMARC1; p=reject")
        server.add("_dmarc.bank.example", "TXT", "v=DMARC1; p=reject")
        server.add("bank.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
        server.fail("slow.example", "timeout")
        server.fail("_dmarc.slow.example", "timeout")
        server.fail("broken._domainkey.example.com", "servfail")
        yield server


def send(port: int, mail_from: str, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        client.ehlo("client.example.com")
        client.sendmail(mail_from, ["bob@example.org"], raw)


def delivered_header(received, name: bytes) -> bytes:
    head = received.data.split(b"\r\n\r\n", 1)[0]
    lines = head.replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ").split(b"\r\n")
    return b"\n".join(line for line in lines if line.lower().startswith(name.lower() + b":"))


def gateway_for(sink, tmp_path, dns):
    extra = f'dns: {{nameservers: ["127.0.0.1:{dns.port}"], timeout: 0.5}}'
    return ThreadedGateway(make_config(sink.port, tmp_path, extra))


def test_dns_faults_give_temperror_and_mail_is_still_delivered(sink, tmp_path, dns):
    raw = rsa_key().sign(message("Alice <alice@slow.example>"), "example.com", selector="broken")
    with gateway_for(sink, tmp_path, dns) as gw:
        send(gw.port, "alice@slow.example", raw)
        (got,) = sink.wait_for(1)
    ar = delivered_header(got, b"Authentication-Results")
    assert ar.startswith(b"Authentication-Results: gw.example.org;")
    assert b"spf=temperror" in ar and b"smtp.mailfrom=alice@slow.example" in ar
    assert b"dkim=temperror" in ar and b"header.s=broken" in ar
    assert b"dmarc=temperror" in ar


def test_authenticated_mail_passes_and_signature_survives_the_gateway(sink, tmp_path, dns):
    raw = rsa_key().sign(message(), "example.com")
    with gateway_for(sink, tmp_path, dns) as gw:
        send(gw.port, "alice@example.com", raw)
        (got,) = sink.wait_for(1)
    ar = delivered_header(got, b"Authentication-Results")
    assert b"spf=pass" in ar and b"dkim=pass" in ar and b"header.d=example.com" in ar
    assert b"dmarc=pass" in ar and b"policy.dmarc=reject" in ar
    import dkim
    assert dkim.verify(got.data, dnsfunc=lambda name, timeout=5: rsa_key().txt.encode())


def test_spoofed_reject_domain_scores(sink, tmp_path, dns):
    raw = message("Bank <security@bank.example>")
    with gateway_for(sink, tmp_path, dns) as gw:
        send(gw.port, "security@bank.example", raw)
        (got,) = sink.wait_for(1)
    ar = delivered_header(got, b"Authentication-Results")
    assert b"spf=fail" in ar and b"dmarc=fail" in ar and b"policy.dmarc=reject" in ar
    reasons = delivered_header(got, b"X-Approach-Reasons")
    assert b"dmarc-fail-reject" in reasons


def test_modified_message_is_arc_sealed_and_the_seal_verifies(sink, tmp_path, dns):
    """A bannered (modified) message gets an ARC set over the final bytes (RFC 8617), and
    dkimpy's ARC verifier accepts it with our key from DNS."""
    import dkim

    seal_key = rsa_key()
    dns.add("arc._domainkey.gw.example.org", "TXT", seal_key.txt)
    (tmp_path / "arc.pem").write_bytes(seal_key.private)
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "10.yml").write_text(
        "thresholds: {caution: 1, suspicious: 2, high: 50}\n"
        "rules:\n  - {id: always, when: {signal_prefix: spf.}, score: 3, reason: test}\n"
        "actions:\n  suspicious: {banner: true}\n")
    extra = (f'dns: {{nameservers: ["127.0.0.1:{dns.port}"], timeout: 0.5}}\n'
             f"arc: {{selector: arc, domain: gw.example.org, key_file: {tmp_path / 'arc.pem'}}}")
    raw = rsa_key().sign(message(), "example.com")
    with ThreadedGateway(make_config(sink.port, tmp_path, extra, policies=str(policies))) as gw:
        send(gw.port, "alice@example.com", raw)
        (got,) = sink.wait_for(1)
    assert got.data.startswith(b"ARC-Seal: i=1; cv=none; a=rsa-sha256; d=gw.example.org; s=arc;")
    assert b"ARC-Authentication-Results: i=1; gw.example.org;" in got.data
    assert b"X-Approach-Verdict: suspicious" in got.data

    def dnsfunc(name, timeout=5):
        return seal_key.txt.encode() if name.startswith(b"arc._domainkey.gw.example.org") else None

    cv, _results, reason = dkim.arc_verify(got.data, dnsfunc=dnsfunc)
    assert cv == b"pass", reason
