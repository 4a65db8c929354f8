from __future__ import annotations

import asyncio

import pytest

from gateway.act.seal import ArcKey, arc_seal
from gateway.checks.auth.arc import verify_arc
from gateway.dns import Resolver
from tests.support.dkimkeys import message, rsa_key
from tests.support.dnsserver import TestDNSServer

pytest.importorskip("authres")  # dkimpy's ARC signer needs it


@pytest.fixture(scope="module")
def dns():
    with TestDNSServer() as server:
        server.add("arc._domainkey.gw.example.org", "TXT", rsa_key().txt)
        server.add("arc._domainkey.relay.example.net", "TXT", rsa_key().txt)
        server.fail("arc._domainkey.slow.example.net", "timeout")
        yield server


def verify(dns, raw):
    async def go():
        return await verify_arc(raw, Resolver(nameservers=(("127.0.0.1", dns.port),), timeout=0.4))
    return asyncio.run(go())


def key(domain: str) -> ArcKey:
    return ArcKey("arc", domain, rsa_key().private)


def test_unsealed_message_is_none(dns):
    assert verify(dns, message()).result == "none"


def test_sealed_message_verifies_and_chain_extends(dns):
    hop1 = arc_seal(message(), "relay.example.net; spf=pass smtp.mailfrom=example.com",
                    key("relay.example.net"), "relay.example.net")
    first = verify(dns, hop1)
    assert (first.result, first.instances, first.sealers) == ("pass", 1, ("relay.example.net",))
    assert first.oldest_pass == 0
    hop2 = arc_seal(hop1, "gw.example.org; arc=pass", key("gw.example.org"), "gw.example.org")
    second = verify(dns, hop2)
    assert (second.result, second.instances) == ("pass", 2)
    assert second.sealers == ("relay.example.net", "gw.example.org")


def test_body_changed_after_sealing_fails(dns):
    hop1 = arc_seal(message(), "relay.example.net; spf=pass", key("relay.example.net"), "relay.example.net")
    res = verify(dns, hop1.replace(b"Hello there.", b"Hello world."))
    assert res.result == "fail" and not res.temporary


def test_key_timeout_is_marked_temporary(dns):
    hop1 = arc_seal(message(), "slow.example.net; spf=pass", key("slow.example.net"), "slow.example.net")
    res = verify(dns, hop1)
    assert res.result == "fail" and res.temporary


def test_our_own_authentication_results_can_be_sealed(dns):
    from gateway.authres import build_authres, resinfo
    ours = build_authres("gw.example.org", [
        resinfo("spf", "fail", "DNS TIMEOUT for x", [("smtp.mailfrom", "a b@example.com")]),
        resinfo("dkim", "pass", "2048-bit key", [("header.d", "example.com"), ("header.i", "@example.com"),
                                                 ("header.s", "sel"), ("header.a", "rsa-sha256"),
                                                 ("header.b", "abc+/def=")]),
        resinfo("dmarc", "pass", "p=reject pct=100", [("header.from", "example.com"), ("policy.dmarc", "reject")]),
        "arc=none"])
    sealed = arc_seal(message(), ours, key("gw.example.org"), "gw.example.org")
    assert sealed.startswith(b"ARC-Seal: i=1; cv=none")
    assert b"dmarc=pass" in sealed.split(b"ARC-Authentication-Results:", 1)[1]
    assert verify(dns, sealed).result == "pass"


def test_a_sealed_record_holds_our_results_and_nothing_a_sender_wrote(dns):
    """review34 #2: dkimpy rewrites the results it seals through the `authres` package, which drops quotes: a
    quoted MAIL FROM `"; dmarc=pass header.from=paypal.com; x="@attacker.test` became a DMARC pass clause of its
    own in our ARC-Authentication-Results. An address that needs quoting is written by its domain, a HELO name or
    other value without its syntax not at all (review35 #7); any value that would not read back as ours (a quoted
    HELO, as our field had written it) leaves the message unsealed, as it came."""
    from gateway.authres import build_authres, parse_authres, resinfo
    hostile = '"; dmarc=pass header.from=paypal.com; x="@attacker.test'
    ours = build_authres("gw.example.org", [resinfo("spf", "fail", "", [("smtp.mailfrom", hostile)]),
                                            "dmarc=fail header.from=paypal.com"])
    sealed = arc_seal(message(), ours, key("gw.example.org"), "gw.example.org")
    aar = sealed.split(b"ARC-Authentication-Results:", 1)[1].split(b"\r\nAuthentication-Results", 1)[0]
    parsed = parse_authres(aar.decode().partition(";")[2])
    assert [(r.method, r.result) for r in parsed.results] == [("spf", "fail"), ("dmarc", "fail")]
    assert parsed.results[0].props == {"smtp.mailfrom": "attacker.test"}
    assert verify(dns, sealed).result == "pass"
    for name in ("x; dmarc=pass header.from=p", "x; dmarc=pass header.from=paypal.com", 'a"; dmarc=pass x="b'):
        for prop in ("smtp.helo", "smtp.mailfrom", "header.i", "header.s", "header.d"):  # no such value is written
            clause = resinfo("spf" if prop.startswith("smtp.") else "dkim", "fail", "", [(prop, name)])
            assert "dmarc" not in clause and "=" not in clause.partition("=")[2], clause
    unsealed = 0
    for name in ("x; dmarc=pass header.from=p", "x; dmarc=pass header.from=paypal.com", 'a"; dmarc=pass x="b'):
        quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'  # as `_val` had written it
        helo = build_authres("gw.example.org", [f"spf=fail smtp.helo={quoted}", "dmarc=fail header.from=paypal.com"])
        raw = b"Authentication-Results: " + helo.encode() + b"\r\n" + message()
        out = arc_seal(raw, helo, key("gw.example.org"), "gw.example.org")
        if out == raw:
            unsealed += 1
            continue
        aar = out.split(b"ARC-Authentication-Results:", 1)[1].split(b"\r\nAuthentication-Results", 1)[0]
        written = parse_authres(aar.decode().partition(";")[2])
        assert [(r.method, r.result, r.props) for r in written.results] == [
            (r.method, r.result, r.props) for r in parse_authres(helo).results]
    assert unsealed  # the rewrite does change some: those are relayed unsealed
