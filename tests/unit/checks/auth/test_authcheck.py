from __future__ import annotations

import asyncio

import pytest

from gateway.authres import parse_authres, trusted_results
from gateway.checks import CheckContext, run_checks
from gateway.checks.auth import AuthCheck, AuthFacts
from gateway.dns import Resolver
from gateway.domains import Domains
from gateway.model import Client, Envelope
from gateway.parse import MessageView
from gateway.refdata import ReferenceData
from tests.conftest import make_config
from tests.support.dkimkeys import ed25519_key, message, rsa_key
from tests.support.dnsserver import TestDNSServer


@pytest.fixture(scope="module")
def dns():
    with TestDNSServer() as server:
        server.add("example.com", "TXT", "v=spf1 ip4:192.0.2.10 -all")
        server.add("sel._domainkey.example.com", "TXT", rsa_key().txt)
        server.add("ed._domainkey.example.com", "TXT", ed25519_key().txt)
        server.add("_dmarc.example.com", "TXT", "v=DMARC1; p=quarantine")
        server.add("mail.example.net", "A", "192.0.2.20")
        server.add("mail.example.net", "TXT", "v=spf1 a -all")
        yield server


def run(dns, raw, *, mail_from="alice@example.com", ip="192.0.2.10", helo="mail.example.net",
        tmp_path=None, extra="", offline=False, resolver=True):
    config = make_config(1, tmp_path, extra)

    async def go():
        r = Resolver(nameservers=(("127.0.0.1", dns.port),), timeout=0.5) if resolver else None
        ctx = CheckContext(view=MessageView.parse(raw), config=config, data=ReferenceData(),
                           domains=Domains(config.local_domains), offline=offline, resolver=r,
                           envelope=Envelope(mail_from, ("bob@example.org",), Client(ip=ip, helo=helo)))
        run = await run_checks([AuthCheck()], ctx)
        return run.signals, ctx.get(AuthFacts)
    return asyncio.run(go())


def names(signals):
    return sorted(s.name for s in signals)


def test_authentic_message(dns, tmp_path):
    raw = ed25519_key().sign(rsa_key().sign(message(), "example.com"), "example.com", selector="ed")
    signals, facts = run(dns, raw, tmp_path=tmp_path)
    assert names(signals) == ["arc.none", "dkim.aligned", "dkim.pass", "dkim.pass", "dmarc.pass", "spf.pass"]
    dkim_ev = [dict(s.evidence) for s in signals if s.name == "dkim.pass"]
    assert {(e["a"], e["bits"]) for e in dkim_ev} == {("rsa-sha256", 2048), ("ed25519-sha256", 256)}
    assert facts.dmarc_result == "pass" and facts.aligned_domain == "example.com"
    ar = facts.header_value
    assert ar.startswith("gw.example.org; spf=pass")
    parsed = parse_authres(ar)
    assert [(r.method, r.result) for r in parsed.results] == [
        ("spf", "pass"), ("dkim", "pass"), ("dkim", "pass"), ("dmarc", "pass"), ("arc", "none")]
    assert parsed.results[3].props == {"header.from": "example.com", "policy.dmarc": "quarantine"}


def test_spoof_of_quarantine_domain(dns, tmp_path):
    signals, facts = run(dns, message(), ip="203.0.113.9", tmp_path=tmp_path)
    assert {"spf.fail", "dkim.none", "dmarc.fail", "dmarc.fail_quarantine_policy"} <= set(names(signals))
    fail = next(s for s in signals if s.name == "dmarc.fail")
    assert fail.evidence["policy"] == "quarantine" and fail.evidence["aligned_spf"] is False


def test_null_sender_uses_helo_identity(dns, tmp_path):
    signals, _ = run(dns, message(), mail_from="", ip="192.0.2.20", tmp_path=tmp_path)
    spf = next(s for s in signals if s.name.startswith("spf."))
    assert spf.name == "spf.pass" and spf.evidence["identity"] == "helo"
    assert spf.evidence["domain"] == "mail.example.net"


@pytest.mark.parametrize("offline,resolver", [(True, True), (False, False)])
def test_skipped_without_network(dns, tmp_path, offline, resolver):
    signals, facts = run(dns, message(), tmp_path=tmp_path, offline=offline, resolver=resolver)
    assert names(signals) == ["auth.skipped"] and facts is None


def test_trusted_border_results_are_believed_offline(dns, tmp_path):
    """Reading a trusted header needs no network: scan --offline believes it too."""
    raw = BORDER_AR + message()
    signals, facts = run(dns, raw, tmp_path=tmp_path, offline=True, resolver=False,
                         extra="trusted_authserv_ids: [mx.border.example]")
    assert "dmarc.pass" in names(signals) and facts.trusted_from == "mx.border.example"


BORDER_AR = (b"Authentication-Results: mx.border.example; spf=pass smtp.mailfrom=alice@example.com;\r\n"
             b" dkim=pass header.d=example.com header.s=sel; dmarc=pass header.from=example.com\r\n")


def test_trusted_border_results_are_believed(dns, tmp_path):
    raw = BORDER_AR + message()  # unsigned, from an IP SPF would fail: we must not re-check
    signals, facts = run(dns, raw, ip="203.0.113.9", tmp_path=tmp_path,
                         extra="trusted_authserv_ids: [mx.border.example]")
    assert names(signals) == ["auth.trusted_results", "dkim.aligned", "dkim.pass", "dmarc.pass", "spf.pass"]
    assert facts.trusted_from == "mx.border.example"


def test_untrusted_or_buried_results_are_ignored(dns, tmp_path):
    fake = b"Authentication-Results: mx.border.example; spf=pass smtp.mailfrom=alice@example.com\r\n"
    stranger = b"Authentication-Results: evil.example; spf=pass\r\n"
    for raw in (fake + message(), stranger + fake + message()):
        extra = "trusted_authserv_ids: [gw.example.org]" if raw.startswith(fake) else \
            "trusted_authserv_ids: [mx.border.example]"
        signals, _ = run(dns, raw, ip="203.0.113.9", tmp_path=tmp_path, extra=extra)
        assert "auth.trusted_results" not in names(signals) and "spf.fail" in names(signals)


def test_our_own_authserv_id_is_never_trusted():
    fields = [("Authentication-Results", "gw.example.org; spf=pass")]
    assert trusted_results(fields, ["gw.example.org"], "gw.example.org") == []


def test_trusted_results_without_dmarc_get_dmarc_computed(dns, tmp_path):
    raw = (b"Authentication-Results: mx.border.example; spf=fail smtp.mailfrom=alice@example.com\r\n"
           + message())
    signals, _ = run(dns, raw, tmp_path=tmp_path, extra="trusted_authserv_ids: [mx.border.example]")
    assert {"auth.trusted_results", "spf.fail", "dmarc.fail", "dmarc.fail_quarantine_policy"} <= set(names(signals))


def test_parse_authres_comments_quotes_and_versions():
    h = parse_authres('mx.example (comment; with semicolon) 1; dkim=pass (good (nested)) '
                      'header.d=a.example header.b="x;y"; spf = fail smtp.mailfrom=b@b.example; none')
    assert h.authserv_id == "mx.example"
    assert [(r.method, r.result) for r in h.results] == [("dkim", "pass"), ("spf", "fail")]
    assert h.results[0].props == {"header.d": "a.example", "header.b": "x;y"}
    assert parse_authres("   ") is None


@pytest.mark.parametrize("trusted", ["", "trusted_authserv_ids: [other.example.org]\n"])  # read, none trusted
def test_the_header_block_is_read_once_for_dkim_and_arc(dns, tmp_path, monkeypatch, trusted):
    """The auth check splits the header section into fields as dkimpy reads them once and hands the fields to DKIM
    and ARC; each verifier, called alone, reads them itself: same signals and header."""
    from gateway.checks import auth
    from gateway.checks.auth import arc, dkim, engine

    raw = rsa_key().sign(message(), "example.com")
    raw = b"Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=example.com\r\n" + raw
    read: list[bytes] = []

    def counted(data: bytes) -> list[list[bytes]]:
        read.append(data)
        return engine.signed_fields(data)
    for module in (auth, arc, dkim):
        monkeypatch.setattr(module, "signed_fields", counted)
    signals, facts = run(dns, raw, tmp_path=tmp_path, extra=trusted)
    assert len(read) == 1
    assert "dkim.pass" in names(signals)

    async def alone():
        r = Resolver(nameservers=(("127.0.0.1", dns.port),), timeout=0.5)
        return await dkim.verify_dkim(raw, r), await arc.verify_arc(raw, r)
    read.clear()
    assert asyncio.run(alone())[0][0].result == "pass"
    assert len(read) == 2  # without `head`, each reads the block itself
